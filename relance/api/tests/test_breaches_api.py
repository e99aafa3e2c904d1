"""The breach register through the API (R-71): the whole cycle, scopes, and 404 across organisations."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from relance.messaging.tests.helpers import TUESDAY_MORNING
from relance.messaging.worker import Worker
from relance.privacy.tests.breach_helpers import breach_purpose, make_breach
from relance.providers.locmem import LocmemProvider
from relance.testing import make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def new(api, key, **overrides):
    body = {"title": "Stolen laptop", "nature": "An export of contacts was on a stolen laptop.",
            "kinds": ["confidentiality"], "aware_at": (timezone.now() - timedelta(hours=2)).isoformat(),
            "data_categories": ["identity", "contact"]}
    body.update(overrides)
    return api(key).post("/breaches", body)


def test_a_dpo_runs_the_whole_cycle_through_the_api_R71(world, api):
    with time_machine.travel(TUESDAY_MORNING, tick=True):
        purpose, template = breach_purpose(world.a)
        person = make_contact(world.a)
        created = new(api, world.key_a, occurred_to=timezone.now().isoformat(), aware_at=timezone.now().isoformat())
        assert created.status_code == 201, created.content
        breach = created.json()
        assert breach["reference"].startswith("INC-") and breach["clock"]["needs_notification"] is True
        assert 71 < breach["clock"]["hours_left"] <= 72 and "approx_records" in breach["missing"]
        url = f"/breaches/{breach['id']}"
        patched = api(world.key_a).patch(url, {"approx_records": 2, "consequences": "Phishing.",
                                               "measures_taken": "Accounts locked."}).json()
        assert patched["missing"] == ["approx_subjects"]
        assert api(world.key_a).post(f"{url}/subjects").json() == {"count": 1}
        assert api(world.key_a).get(url).json()["missing"] == []
        assessed = api(world.key_a).post(f"{url}/assess", {"risk": "high", "reason": "Names and numbers."})
        assert assessed.json()["risk"] == "high"
        draft = api(world.key_a).get(f"{url}/draft", format="json", language="en").json()
        assert draft["a_nature"]["approx_subjects"] == 1 and draft["b_dpo"]["name"] == world.a.dpo_name
        assert api(world.key_a).get(f"{url}/draft", format="pdf").content.startswith(b"%PDF")
        assert "text/html" in api(world.key_a).get(f"{url}/draft", format="html")["Content-Type"]
        notified = api(world.key_a).post(f"{url}/notify-authority", {
            "notified_at": timezone.now().isoformat(), "authority_reference": "CNIL-2026-77"})
        assert notified.json()["status"] == "notified"
        told = api(world.key_a).post(f"{url}/notify-subjects", {"purpose_id": purpose.pk,
                                                                 "template_id": template.pk}).json()
        assert told == {"enqueued": 1, "already": 0, "none": []}
        Worker().run_once()
        assert len(LocmemProvider.sent_to(person.phone)) == 1
        subjects = api(world.key_a).get(f"{url}/subjects").json()
        assert subjects["items"][0]["message_status"] == "sent"
        closed = api(world.key_a).post(f"{url}/close", {})
        assert closed.json()["status"] == "closed"
        listed = api(world.key_a).get("/breaches").json()
        assert [b["reference"] for b in listed["items"]] == [breach["reference"]]


def test_a_late_notification_without_reasons_is_a_422_naming_the_field_R71(world, api):
    breach = new(api, world.key_a, aware_at=(timezone.now() - timedelta(hours=90)).isoformat()).json()
    assert breach["clock"]["overdue"] is True
    response = api(world.key_a).post(f"/breaches/{breach['id']}/notify-authority", {
        "notified_at": timezone.now().isoformat(), "authority_reference": "CNIL-1"})
    body = assert_error(response, 422, "validation_error")
    assert "delay_reason" in body["fields"]


def test_an_awareness_in_the_future_is_a_422_R71(world, api):
    response = new(api, world.key_a, aware_at=(timezone.now() + timedelta(days=1)).isoformat())
    body = assert_error(response, 422, "validation_error")
    assert "aware_at" in body["fields"]


def test_it_needs_the_breach_scopes(world, api):
    _key, reader = make_api_key(world.a, scopes=["breaches:read"])
    assert api(reader).get("/breaches").status_code == 200
    assert_error(new(api, reader), 403, "insufficient_scope")


def test_another_organisations_incident_is_a_404_and_never_listed_R63(world, api):
    breach = make_breach(world.a)
    for path in ("", "/draft", "/subjects"):
        assert_error(api(world.key_b).get(f"/breaches/{breach.pk}{path}"), 404, "not_found")
    assert_error(api(world.key_b).post(f"/breaches/{breach.pk}/close", {}), 404, "not_found")
    assert api(world.key_b).get("/breaches").json()["count"] == 0


def test_notify_subjects_names_unknown_purpose_and_template_fields(world, api):
    breach = make_breach(world.a)
    _purpose, template_b = breach_purpose(world.b)
    response = api(world.key_a).post(f"/breaches/{breach.pk}/notify-subjects",
                                     {"purpose_id": 999999, "template_id": template_b.pk})
    body = assert_error(response, 422, "validation_error")
    assert set(body["fields"]) == {"purpose_id", "template_id"}
