"""POST /messages, GET /messages, GET /messages/{id} and /content (issue 4 item 7): one message
through the outbox, kept with its reason when it may not go (R-20), its timeline, its text only as
an audited read (R-65), idempotency, scopes, isolation (R-63)."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.contacts import services as contacts
from relance.messaging.models import Message
from relance.messaging.tests.campaign_helpers import informed_contact, make_message, make_purpose, make_template
from relance.messaging.tests.helpers import TUESDAY_MORNING
from relance.messaging.worker import Worker
from relance.testing import SYSTEM, make_api_key, make_contact

from .conftest import assert_error

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def setup(world):
    purpose = make_purpose(world.a)
    return purpose, make_template(purpose), informed_contact(world.a, purpose)


def test_it_sends_one_message_and_answers_its_status_and_timeline_without_its_text(world, api, setup):
    """Issue 4 item 7: 201 with status, reason, rule and timeline; no body, no number, no name."""
    purpose, template, contact = setup
    response = api(world.key_a).post("/messages", {"contact_id": str(contact.pk), "template_id": template.pk,
                                                   "params": {"place": "Médiathèque Nord", "count": 2}})
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["reason"], body["channel"], body["source"]) == ("scheduled", "", "sms", "api")
    assert [line["kind"] for line in body["timeline"]] == ["scheduled"]
    assert "body" not in body and "params" not in body and "+336" not in response.content.decode()
    message = Message.objects.for_org(world.a).get(pk=body["id"])
    assert (message.contact_id, message.purpose_id, message.template_id) == (contact.pk, purpose.pk, template.pk)
    assert AuditEvent.objects.filter(organisation=world.a, action="message.created", target_id=body["id"]).exists()


def test_it_finds_the_contact_by_external_ref_and_the_template_by_code_in_their_language(world, api, setup):
    """Issue 4 item 7: contact by the integrator's id, template by code and channel."""
    purpose, _template, _contact = setup
    english = make_template(purpose, language="en", body="Hello {first_name}, the library is closed on Monday.")
    contact = informed_contact(world.a, purpose, external_ref="PAT-0042", language="en")
    response = api(world.key_a).post("/messages", {"external_ref": "PAT-0042", "template_code": "annonce",
                                                   "channel": "sms"})
    assert response.status_code == 201, response.content
    assert (response.json()["contact_id"], response.json()["template_id"]) == (str(contact.pk), english.pk)


def test_it_keeps_a_message_that_may_not_go_with_its_reason(world, api, setup):
    """R-20: a deceased contact's message is created suppressed with its reason and rule; one whose
    reason may still change (not informed) stays scheduled with the reason on its timeline (R-21)."""
    purpose, template, contact = setup
    contacts.mark_deceased(contact, actor=SYSTEM)
    body = api(world.key_a).post("/messages", {"contact_id": str(contact.pk), "template_id": template.pk}).json()
    assert (body["status"], body["reason"], body["rule"]) == ("suppressed", "deceased", "R-45")
    uninformed = make_contact(world.a)
    body = api(world.key_a).post("/messages", {"contact_id": str(uninformed.pk), "template_id": template.pk}).json()
    assert body["status"] == "scheduled"
    assert [(t["kind"], t["reason"], t["rule"]) for t in body["timeline"]] == [("scheduled", "not_informed", "R-04")]


def test_it_reports_every_bad_field_at_once(world, api, setup):
    """422 with `fields`: the contact and template named twice or not at all, unknown ids, another
    organisation's contact, an unknown placeholder, a template of another channel."""
    purpose, template, contact = setup
    client = api(world.key_a)
    body = assert_error(client.post("/messages", {}), 422, "validation_error")
    assert set(body["fields"]) == {"contact_id", "template_id"}
    body = assert_error(client.post("/messages", {"contact_id": str(contact.pk), "external_ref": "x",
                                                  "template_code": "annonce"}), 422, "validation_error")
    assert set(body["fields"]) == {"contact_id", "channel"}
    foreign = make_contact(world.b)
    body = assert_error(client.post("/messages", {"contact_id": str(foreign.pk), "template_id": template.pk}),
                        422, "validation_error")
    assert set(body["fields"]) == {"contact_id"}
    body = assert_error(client.post("/messages", {"contact_id": str(contact.pk), "template_id": template.pk,
                                                  "params": {"diagnosis": "x"}}), 422, "validation_error")
    assert set(body["fields"]) == {"params.diagnosis"}
    body = assert_error(client.post("/messages", {"contact_id": str(contact.pk), "template_code": "annonce",
                                                  "channel": "email"}), 422, "validation_error")
    assert set(body["fields"]) == {"template_code"}
    no_phone = informed_contact(world.a, purpose, phone=None)
    body = assert_error(client.post("/messages", {"contact_id": str(no_phone.pk), "template_id": template.pk}),
                        422, "validation_error")
    assert set(body["fields"]) == {"contact_id"}
    assert not Message.objects.for_org(world.a).exists()


def test_it_sends_once_for_a_retried_request(world, api, setup):
    """SPEC §4: the same Idempotency-Key replays the first answer; one message only."""
    _purpose, template, contact = setup
    client, payload = api(world.key_a), {"contact_id": str(contact.pk), "template_id": template.pk}
    first = client.post("/messages", payload, headers={"Idempotency-Key": "send-42"})
    again = client.post("/messages", payload, headers={"Idempotency-Key": "send-42"})
    assert again["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert Message.objects.for_org(world.a).count() == 1


def test_it_lists_messages_with_filters_and_pages(world, api, setup):
    """GET /messages: status, contact, purpose, source, creation date; newest first; only the caller's."""
    purpose, template, contact = setup
    other = informed_contact(world.a, purpose)
    kept = [make_message(world.a, purpose=purpose, template=template, contact=c) for c in (contact, contact, other)]
    contacts.mark_deceased(other, actor=SYSTEM)
    suppressed = make_message(world.a, purpose=purpose, template=template, contact=other)
    make_message(world.b)
    client = api(world.key_a)
    listed = client.get("/messages").json()
    assert listed["count"] == 4 and listed["items"][0]["id"] == str(suppressed.pk)
    assert client.get("/messages", contact_id=str(contact.pk)).json()["count"] == 2
    assert [m["id"] for m in client.get("/messages", status="suppressed").json()["items"]] == [str(suppressed.pk)]
    assert client.get("/messages", purpose_id=purpose.pk, source="staff").json()["count"] == 4
    assert client.get("/messages", source="api").json()["count"] == 0
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get("/messages", created_after=later).json()["count"] == 0
    assert client.get("/messages", limit=2, offset=2).json()["items"][1]["id"] == str(kept[0].pk)
    assert_error(client.get("/messages", status="lost"), 422, "validation_error")
    assert api(world.key_b).get("/messages").json()["count"] == 1


def test_it_reads_one_message_and_its_content_as_an_audited_read(world, api):
    """R-65: GET /messages/{id} has no text; /content (contacts:read) returns it and is audited."""
    with time_machine.travel(TUESDAY_MORNING, tick=True):  # inside every sending window
        purpose = make_purpose(world.a)
        contact = informed_contact(world.a, purpose)
        message = make_message(world.a, purpose=purpose, contact=contact, params={"place": "Nord"})
        client = api(world.key_a)
        content = client.get(f"/messages/{message.pk}/content").json()
        assert content == {"id": str(message.pk), "body": None, "params": {"place": "Nord"}}
        assert Worker("api-test").run_once() == 1
        detail = client.get(f"/messages/{message.pk}").json()
    assert (detail["status"], detail["segments"], detail["encoding"]) == ("sent", 1, "GSM-7")
    kinds = [line["kind"] for line in detail["timeline"]]
    assert kinds[0] == "scheduled" and "sent" in kinds
    assert "body" not in detail
    text = client.get(f"/messages/{message.pk}/content").json()["body"]
    assert text.startswith(f"Bonjour {contact.first_name}, la médiathèque sera fermée lundi.")
    reads = AuditEvent.objects.filter(organisation=world.a, action="message.content_read", target_id=str(message.pk))
    assert reads.count() == 2


def test_it_needs_the_right_scope_for_each_operation(world, api, setup):
    """messages:write to send, messages:read to read, contacts:read for the text."""
    _purpose, template, contact = setup
    message = make_message(world.a)
    reader = api(make_api_key(world.a, scopes=["messages:read"])[1])
    assert_error(reader.post("/messages", {"contact_id": str(contact.pk), "template_id": template.pk}), 403,
                 "insufficient_scope")
    assert reader.get(f"/messages/{message.pk}").status_code == 200
    assert_error(reader.get(f"/messages/{message.pk}/content"), 403, "insufficient_scope")
    writer = api(make_api_key(world.a, scopes=["messages:write"])[1])
    assert_error(writer.get("/messages"), 403, "insufficient_scope")


def test_it_answers_404_for_another_organisations_message(world, api):
    """R-63: B's message is not found through A's key, and its content is not read."""
    message = make_message(world.b)
    assert_error(api(world.key_a).get(f"/messages/{message.pk}"), 404, "not_found")
    assert_error(api(world.key_a).get(f"/messages/{message.pk}/content"), 404, "not_found")
    assert not AuditEvent.objects.filter(action="message.content_read").exists()


def test_it_explains_errors_in_french(world, api, setup):
    """Errors say what is wrong and what to do, in the request's language."""
    _purpose, template, _contact = setup
    body = assert_error(api(world.key_a, **{"Accept-Language": "fr"}).post("/messages", {"template_id": template.pk}),
                        422, "validation_error")
    assert body["fields"]["contact_id"] == ["Donnez contact_id ou external_ref (l'un des deux)."]
