"""The events API (R-23, R-27, R-28): upsert one or many, read, cancel, complete, rules, consent requests."""

from datetime import timedelta

import pytest
from django.utils import timezone

from relance.messaging.models import Message
from relance.reminders.models import Event
from relance.reminders.tests.helpers import ESCALATION, reminder_setup
from relance.testing import make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def clinic(world):
    purpose, rule, contact = reminder_setup(world.a)
    return purpose, rule, contact


def body(contact, purpose, **overrides):
    values = {"external_id": "RDV-42", "kind": "appointment", "contact_id": str(contact.pk), "purpose_id": purpose.pk,
              "starts_at": (timezone.now() + timedelta(days=3)).isoformat()}
    values.update(overrides)
    return values


def test_it_creates_then_updates_an_event_by_external_id_R27(world, api, clinic):
    purpose, rule, contact = clinic
    created = api(world.key_a).post("/events", body(contact, purpose))
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["external_id"] == "RDV-42" and data["scheduled_steps"] == 3 and data["rule_id"] == rule.pk
    later = (timezone.now() + timedelta(days=4)).isoformat()
    moved = api(world.key_a).post("/events", body(contact, purpose, starts_at=later))
    assert moved.status_code == 200 and moved.json()["id"] == data["id"] and moved.json()["version"] == 2
    detail = api(world.key_a).get(f"/events/{data['id']}").json()
    statuses = sorted((m["step"], m["status"]) for m in detail["messages"])
    assert statuses == [(0, "cancelled"), (0, "scheduled"), (1, "cancelled"), (1, "scheduled"), (2, "cancelled"),
                        (2, "scheduled")]
    assert {m["reason"] for m in detail["messages"] if m["status"] == "cancelled"} == {"event_cancelled"}


def test_it_finds_the_contact_by_external_ref_and_the_purpose_by_code(world, api, clinic):
    purpose, rule, _contact = clinic
    person = make_contact(world.a, external_ref="PAT-0007")
    response = api(world.key_a).post("/events", {**body(person, purpose, purpose_id=None, purpose_code=purpose.code),
                                                 "contact_id": None, "contact_external_ref": "PAT-0007"})
    assert response.status_code == 201, response.content
    assert response.json()["contact_id"] == str(person.pk)


def test_it_reports_every_invalid_field(world, api, clinic):
    purpose, rule, contact = clinic
    response = api(world.key_a).post("/events", body(contact, purpose, kind="reserved_item", params={"diagnosis": "x"},
                                                     contact_id=str(make_contact(world.b).pk)))
    fields = assert_error(response, 422, "validation_error")["fields"]
    assert set(fields) == {"ends_at", "params.diagnosis", "contact_id"}


def test_cancel_and_complete_change_pending_steps_at_once_R27(world, api, clinic):
    purpose, rule, contact = clinic
    first = api(world.key_a).post("/events", body(contact, purpose)).json()
    cancelled = api(world.key_a).post(f"/events/{first['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert {m.status for m in Message.objects.for_org(world.a).filter(source_id=first["id"])} == {"cancelled"}
    assert_error(api(world.key_a).post(f"/events/{first['id']}/complete"), 422, "validation_error")
    second = api(world.key_a).post("/events", body(contact, purpose, external_id="RDV-43")).json()
    done = api(world.key_a).post(f"/events/{second['id']}/complete").json()
    assert done["status"] == "completed"


def test_it_upserts_in_bulk_and_lists_bad_items_by_index(world, api, clinic):
    purpose, rule, contact = clinic
    items = [body(contact, purpose, external_id=f"B-{n}") for n in range(5)]
    items[3]["starts_at"] = "demain"
    response = api(world.key_a).post("/events/bulk", {"items": items})
    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["received"], data["created"], data["rejected"], data["steps"]) == (5, 4, 1, 12)
    assert data["errors"] == [{"index": 3, "fields": {"starts_at": data["errors"][0]["fields"]["starts_at"]}}]
    assert [row["index"] for row in data["events"]] == [0, 1, 2, 4]
    too_many = api(world.key_a).post("/events/bulk", {"items": [{}] * 10_001})
    assert "items" in assert_error(too_many, 422, "validation_error")["fields"]


def test_rules_are_created_listed_and_changed(world, api, clinic):
    purpose, rule, contact = clinic
    listed = api(world.key_a).get("/reminder-rules").json()
    assert [r["id"] for r in listed["items"]] == [rule.pk]
    bad = api(world.key_a).post("/reminder-rules", {"purpose_id": purpose.pk, "event_kind": "convocation",
                                                    "name": "x", "steps": [{"offset_minutes": 30, "channel": "sms",
                                                                            "template": "nope"}]})
    assert set(assert_error(bad, 422, "validation_error")["fields"]) == {"steps.0.offset_minutes", "steps.0.template"}
    created = api(world.key_a).post("/reminder-rules", {"purpose_id": purpose.pk, "event_kind": "convocation",
                                                        "name": "Convocations", "steps": ESCALATION})
    assert created.status_code == 201, created.content
    patched = api(world.key_a).patch(f"/reminder-rules/{created.json()['id']}", {"active": False})
    assert patched.status_code == 200 and patched.json()["active"] is False


def test_reading_needs_events_read_and_writing_events_write(world, api, clinic):
    purpose, rule, contact = clinic
    reader = make_api_key(world.a, scopes=["events:read"])[1]
    assert_error(api(reader).post("/events", body(contact, purpose)), 403, "insufficient_scope")
    assert api(reader).get("/reminder-rules").status_code == 200


def test_another_organisations_event_is_not_found_R63(world, api, clinic):
    purpose, rule, contact = clinic
    event_id = api(world.key_a).post("/events", body(contact, purpose)).json()["id"]
    for method, path in (("get", f"/events/{event_id}"), ("post", f"/events/{event_id}/cancel")):
        assert_error(api(world.key_b).call(method, path), 404, "not_found")
    assert Event.objects.for_org(world.a).get(pk=event_id).status == "scheduled"


def test_it_queues_a_consent_request_by_sms_R28(world, api):
    from relance.consent.tests.helpers import make_consent_purpose, notice_of
    from relance.messaging.tests.helpers import make_template

    purpose = make_consent_purpose(world.a, channels=["sms"])
    make_template(purpose, code="consent-request", body="{org} : répondez {keyword}. {notice_link} {stop}")
    contact = make_contact(world.a)
    response = api(world.key_a).post(f"/contacts/{contact.pk}/consent-requests", {"purpose_id": purpose.pk})
    assert response.status_code == 201, response.content
    data = response.json()
    notice = notice_of(purpose, "fr")
    assert data["notice_id"] == notice.pk and data["notice_link"].endswith(f"/p/notices/{notice.uid}/")
    missing = api(world.key_a).post(f"/contacts/{contact.pk}/consent-requests", {"purpose_id": 999999})
    assert "purpose_id" in assert_error(missing, 422, "validation_error")["fields"]
