"""The consent ledger through the API (R-10..R-16, R-63, R-65)."""

import pytest

from relance.audit.models import AuditEvent
from relance.consent.models import ConsentEvent
from relance.consent.tests.helpers import give, make_consent_purpose, make_purpose, notice_of
from relance.testing import SYSTEM, make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _body(contact, purpose, **overrides) -> dict:
    body = {"contact_id": str(contact.pk), "purpose_id": purpose.pk, "channel": "sms", "action": "given",
            "expressed_by": "subject", "method": "web_form", "notice_id": notice_of(purpose).pk,
            "evidence": {"ip": "203.0.113.77", "user_agent": "Mozilla/5.0", "form_url": "https://example.org/form"}}
    body.update(overrides)
    return body


def test_it_records_a_consent_and_shows_the_state_and_history(world, api):
    """R-10: POST an event; the contact's state and history follow; the answer holds no evidence."""
    purpose, contact = make_consent_purpose(world.a, code="news"), make_contact(world.a)
    make_purpose(world.a, code="overdue")
    client = api(world.key_a)
    response = client.post("/consent/events", _body(contact, purpose))
    assert response.status_code == 201, response.content
    event = response.json()
    assert event["action"] == "given" and event["seq"] == 1 and event["notice_version"] == 1
    assert "evidence" not in event and "203.0.113" not in response.content.decode()
    states = client.get(f"/contacts/{contact.pk}/consent").json()["items"]
    news = [s for s in states if s["purpose_code"] == "news"]
    assert [(s["channel"], s["status"]) for s in news] == [("sms", "given"), ("email", "none")]
    assert news[0]["last_event_id"] == event["id"] and news[0]["valid_until"]
    assert {(s["purpose_code"], s["status"]) for s in states if s["purpose_code"] == "overdue"} == {("overdue", "none")}
    history = client.get(f"/contacts/{contact.pk}/consent/events").json()
    assert history["count"] == 1 and history["items"][0]["hash"] == event["hash"]
    stored = ConsentEvent.objects.for_org(world.a).get()
    assert (stored.actor_kind, stored.method) == ("api_key", "web_form")


def test_it_needs_an_explicit_action_never_a_default(world, api):
    """R-10: there is no default action: a body without one is refused (nothing pre-ticked)."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    body = _body(contact, purpose)
    del body["action"]
    response = assert_error(api(world.key_a).post("/consent/events", body), 422, "validation_error")
    assert "action" in response["fields"]
    assert not ConsentEvent.objects.for_org(world.a).exists()


def test_it_rejects_given_without_a_notice(world, api):
    """R-11: `given` without its notice → 422 on notice_id; nothing is written."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    body = assert_error(api(world.key_a).post("/consent/events", _body(contact, purpose, notice_id=None)), 422,
                        "validation_error")
    assert set(body["fields"]) == {"notice_id"}
    assert not ConsentEvent.objects.for_org(world.a).exists()


def test_it_reports_ids_of_another_organisation_as_unknown(world, api):
    """R-63: ids in the body are looked up in the key's organisation only."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    foreign_contact, foreign_purpose = make_contact(world.b), make_consent_purpose(world.b)
    body = _body(foreign_contact, foreign_purpose, notice_id=notice_of(foreign_purpose).pk,
                 guardian_id=str(make_contact(world.b).pk), staff_user_id=str(world.users_b["operator"].pk))
    response = assert_error(api(world.key_a).post("/consent/events", body), 422, "validation_error")
    assert set(response["fields"]) == {"contact_id", "purpose_id", "notice_id", "guardian_id", "staff_user_id"}
    assert _body(contact, purpose)  # A's own ids are fine (see the other tests)


def test_it_records_a_withdrawal_as_easily_as_a_consent(world, api):
    """R-12: a withdrawal needs the contact, purpose, channel and how; no notice."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    give(contact, purpose)
    body = {"contact_id": str(contact.pk), "purpose_id": purpose.pk, "channel": "sms", "action": "withdrawn",
            "expressed_by": "subject", "method": "api"}
    assert api(world.key_a).post("/consent/events", body).status_code == 201
    state = api(world.key_a).get(f"/contacts/{contact.pk}/consent").json()["items"][0]
    assert state["status"] == "withdrawn"


def test_it_stops_everything_on_a_channel(world, api):
    """R-12, R-31: POST .../consent/stop withdraws or objects on every purpose using the channel."""
    news, overdue = make_consent_purpose(world.a, code="news"), make_purpose(world.a, code="overdue")
    contact = make_contact(world.a)
    give(contact, news)
    response = api(world.key_a).post(f"/contacts/{contact.pk}/consent/stop", {"channel": "sms"})
    assert response.status_code == 200, response.content
    assert {(e["purpose_id"], e["action"]) for e in response.json()["items"]} == {(news.pk, "withdrawn"),
                                                                                  (overdue.pk, "objected")}
    again = api(world.key_a).post(f"/contacts/{contact.pk}/consent/stop", {"channel": "sms"})
    assert again.json()["items"] == []


def test_it_shows_an_events_evidence_as_an_audited_read(world, api):
    """R-10, R-65: the evidence (IP truncated) is read one event at a time, and each read is audited."""
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    body = api(world.key_a).get(f"/consent/events/{event.pk}").json()
    assert body["evidence"] == {"ip": "203.0.113.0", "user_agent": "Mozilla/5.0", "form_url": "https://example.org/f"}
    audit = AuditEvent.objects.get(organisation=world.a, action="consent.evidence_read")
    assert audit.target_id == str(event.pk) and audit.actor_kind == "api_key"


def test_it_exports_receipts_in_both_formats(world, api):
    """R-16: ?format=kantara (default) and ?format=iso27560; each export audited."""
    from relance.accounts import services as accounts

    accounts.update_organisation(world.a, actor=SYSTEM, dpo_phone="+33123456789")
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    client = api(world.key_a)
    kantara = client.get(f"/consent/events/{event.pk}/receipt").json()
    assert kantara["version"] == "KI-CR-v1.1.0" and kantara["consentReceiptID"] == str(event.pk)
    assert kantara["policyUrl"].startswith("http://testserver/p/notices/")
    iso = client.get(f"/consent/events/{event.pk}/receipt", format="iso27560").json()
    assert iso["@type"] == "dpv:ConsentRecord" and iso["dct:identifier"] == str(event.pk)
    assert AuditEvent.objects.filter(organisation=world.a, action="consent.receipt_exported").count() == 2
    assert_error(client.get(f"/consent/events/{event.pk}/receipt", format="pdf"), 422, "validation_error")


def test_it_explains_why_a_receipt_cannot_be_issued(world, api):
    """R-16: missing controller contact details → 409 naming them; an objection → 409 not_a_consent."""
    event = give(make_contact(world.a), make_consent_purpose(world.a))
    body = assert_error(api(world.key_a).get(f"/consent/events/{event.pk}/receipt"), 409, "organisation_incomplete")
    assert set(body["fields"]) == {"dpo_phone"}
    contact = make_contact(world.a)
    objection = api(world.key_a).post("/consent/events", {
        "contact_id": str(contact.pk), "purpose_id": make_purpose(world.a).pk, "channel": "sms",
        "action": "objected", "expressed_by": "subject", "method": "api"}).json()
    assert_error(api(world.key_a).get(f"/consent/events/{objection['id']}/receipt", format="iso27560"), 409,
                 "not_a_consent")


def test_it_needs_the_right_scopes(world, api):
    """SPEC §4, R-65: recording needs consent:write; reading a contact's consent needs contacts:read."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    _key, reader = make_api_key(world.a, scopes=["contacts:read"])
    assert_error(api(reader).post("/consent/events", _body(contact, purpose)), 403, "insufficient_scope")
    assert api(reader).get(f"/contacts/{contact.pk}/consent").status_code == 200
    _key, writer = make_api_key(world.a, scopes=["consent:write"])
    assert api(writer).post("/consent/events", _body(contact, purpose)).status_code == 201
    assert_error(api(writer).get(f"/contacts/{contact.pk}/consent/events"), 403, "insufficient_scope")


def test_it_answers_404_for_another_organisations_contact_or_event(world, api):
    """R-63: B's contact and events are 404 for A's key, including a STOP with an invalid body."""
    event = give(make_contact(world.b), make_consent_purpose(world.b))
    client = api(world.key_a)
    for path in (f"/contacts/{event.contact_id}/consent", f"/contacts/{event.contact_id}/consent/events",
                 f"/consent/events/{event.pk}", f"/consent/events/{event.pk}/receipt"):
        assert_error(client.get(path), 404, "not_found")
    assert_error(client.post(f"/contacts/{event.contact_id}/consent/stop", {}), 404, "not_found")


def test_it_replays_an_idempotent_consent_post_without_recording_twice(world, api):
    """SPEC §4: a retried POST with the same Idempotency-Key records one event."""
    purpose, contact = make_consent_purpose(world.a), make_contact(world.a)
    client = api(world.key_a)
    first = client.post("/consent/events", _body(contact, purpose), headers={"Idempotency-Key": "k-1"})
    second = client.post("/consent/events", _body(contact, purpose), headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true" and first.json() == second.json()
    assert ConsentEvent.objects.for_org(world.a).count() == 1
