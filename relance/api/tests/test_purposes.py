"""Purposes and notices through the API (R-01..R-03, R-11, R-63, R-65, R-72)."""

import hashlib

import pytest

from relance.audit.models import AuditEvent
from relance.consent.models import Notice, Purpose
from relance.consent.tests.helpers import make_purpose, purpose_values
from relance.testing import make_api_key

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _complete(org) -> dict:
    values = purpose_values(org)
    return {**values, "code": "overdue"}


def test_it_creates_a_draft_purpose_that_says_what_activation_still_needs(world, api):
    """R-01: a new purpose is a draft; `missing` names every field activation needs."""
    client = api(world.key_b)
    response = client.post("/purposes", {"code": "appointments", "label_fr": "Rendez-vous"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["label_fr"] == "Rendez-vous"
    assert set(body["missing"]) == {"label_en", "message_class", "legal_basis", "art9_condition", "data_categories",
                                    "recipients", "retention", "retention_days", "channels", "notices"}
    event = AuditEvent.objects.get(organisation=world.b, action="purpose.created")
    assert event.actor_kind == "api_key"


def test_it_refuses_activation_with_a_422_naming_every_missing_field(world, api):
    """R-01, SPEC §4: activation refused → 422 whose `fields` names every missing field."""
    client = api(world.key_b)
    purpose = client.post("/purposes", {"code": "appointments"}).json()
    body = assert_error(client.post(f"/purposes/{purpose['id']}/activate"), 422, "validation_error")
    assert set(body["fields"]) == set(purpose["missing"]) | {"label_fr"}


def test_it_publishes_notices_and_activates(world, api):
    """R-11, R-01: publish fr and en notices (hash of the exact text), then activate."""
    client = api(world.key_a)
    purpose = client.post("/purposes", _complete(world.a)).json()
    assert set(purpose["missing"]) == {"notices"}
    text = "Médiathèques : rappels de retard.\n"
    notice = client.post(f"/purposes/{purpose['id']}/notices", {"language": "fr", "text": text})
    assert notice.status_code == 201
    notice = notice.json()
    assert notice["sha256"] == hashlib.sha256(text.encode()).hexdigest() and notice["version"] == 1
    assert notice["text"] == text
    client.post(f"/purposes/{purpose['id']}/notices", {"language": "en", "text": "Overdue reminders."})
    listed = client.get(f"/purposes/{purpose['id']}/notices").json()["items"]
    assert [(n["language"], n["version"]) for n in listed] == [("en", 1), ("fr", 1)] and "text" not in listed[0]
    assert client.get(f"/notices/{notice['id']}").json()["text"] == text
    active = client.post(f"/purposes/{purpose['id']}/activate")
    assert active.status_code == 200 and active.json()["status"] == "active" and active.json()["missing"] == {}


def test_it_lists_reads_and_patches_purposes(world, api):
    """R-01: an active purpose can be edited, but not into an incomplete one."""
    purpose = make_purpose(world.a, code="overdue")
    make_purpose(world.a, code="about")
    client = api(world.key_a)
    listing = client.get("/purposes").json()
    assert [p["code"] for p in listing["items"]] == ["about", "overdue"] and listing["count"] == 2
    patched = client.patch(f"/purposes/{purpose.pk}", {"retention_days": 90})
    assert patched.status_code == 200 and patched.json()["retention_days"] == 90
    body = assert_error(client.patch(f"/purposes/{purpose.pk}", {"channels": [], "recipients": []}), 422,
                        "validation_error")
    assert set(body["fields"]) == {"channels", "recipients"}


def test_it_validates_the_body_and_lists_every_invalid_field(world, api):
    """SPEC §4: unknown choices and fields in one 422."""
    body = assert_error(api(world.key_a).post("/purposes", {"code": "a b", "legal_basis": "whim", "colour": "red",
                                                            "channels": ["fax"]}), 422, "validation_error")
    assert {"code", "legal_basis", "colour", "channels.0"} <= set(body["fields"])


def test_it_retires_a_purpose(world, api):
    """R-01: retiring through the API; decide() then suppresses the purpose's messages."""
    purpose = make_purpose(world.a)
    response = api(world.key_a).post(f"/purposes/{purpose.pk}/retire")
    assert response.json()["status"] == "retired"
    purpose.refresh_from_db()
    assert purpose.status == Purpose.Status.RETIRED


def test_it_needs_the_write_scope_to_configure_purposes(world, api):
    """SPEC §4, R-63: reading needs organisation:read; writing needs purposes:write (consent:write is not enough)."""
    _key, secret = make_api_key(world.a, scopes=["organisation:read", "consent:write"])
    client = api(secret)
    assert client.get("/purposes").status_code == 200
    assert_error(client.post("/purposes", {"code": "x"}), 403, "insufficient_scope")
    purpose = make_purpose(world.a)
    assert_error(client.post(f"/purposes/{purpose.pk}/notices", {"language": "fr", "text": "x"}), 403,
                 "insufficient_scope")


def test_it_answers_404_not_422_for_another_organisations_purpose(world, api):
    """R-63: a foreign purpose is 404 even with an invalid body."""
    foreign = make_purpose(world.b)
    client = api(world.key_a)
    assert_error(client.post(f"/purposes/{foreign.pk}/notices", {}), 404, "not_found")
    assert_error(client.post(f"/purposes/{foreign.pk}/activate"), 404, "not_found")
    assert_error(client.get(f"/purposes/{foreign.pk}"), 404, "not_found")
    notice = Notice.objects.for_org(world.b).filter(purpose=foreign).first()
    assert_error(client.get(f"/notices/{notice.pk}"), 404, "not_found")


def test_it_answers_in_french(world, api):
    """R-01, SPEC §4: the activation errors follow Accept-Language (French here)."""
    client = api(world.key_b, **{"Accept-Language": "fr"})
    purpose = client.post("/purposes", {"code": "rdv"}).json()
    body = assert_error(client.post(f"/purposes/{purpose['id']}/activate"), 422, "validation_error")
    assert "obligatoire" in body["fields"]["retention"][0]
    assert "Publiez" in body["fields"]["notices"][0]
