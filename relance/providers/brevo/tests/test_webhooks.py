"""Brevo webhooks end to end, through Django's test client: `/hooks/brevo/<token>/receipts|inbound`.

The Brevo webhook carries a bearer token (R-66); SMS events and replies are JSON (see
relance/providers/brevo/receipts.py for the documented payloads).
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.utils import timezone

from relance.audit.services import Actor
from relance.contacts import services as contacts
from relance.messaging import outbox
from relance.messaging.models import Message, MessageEvent, SendingSettings
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import informed_contact, service_purpose
from relance.providers.services import create_account
from relance.testing import make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

NUMBER = "+33612345678"
SENDER = "MEDIATHEQUE"
TOKEN = "3c90c3cc0d444b508888"
AUTH = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
# The "Delivered" SMS event of "Transactional webhooks" (https://developers.brevo.com/docs/transactional-webhooks),
# for the messageId of the send answer (1511882900176220) and our contact's number.
DELIVERED = {"id": 26527, "status": "OK", "msg_status": "delivered", "description": "delivered", "to": "33612345678",
             "ts_event": 1728459617, "date": "2024-10-09 13:10:17", "messageId": 1511882900176220,
             "reference": {"1": "1hi8srff049z0qzvgt3f"}, "tag": ["tag1name"], "type": "transactional"}


class Stage:
    """A library with a Brevo account and one SMS Brevo accepted as messageId 1511882900176220."""

    def __init__(self):
        self.org = make_org(name="Médiathèques du Val")
        self.purpose = service_purpose(self.org)
        self.person = informed_contact(self.org, self.purpose, phone=NUMBER)
        self.account = create_account(self.org, name="Brevo", kind="brevo", actor=Actor.system("test"),
                                      credentials={"api_key": "xkeysib-0123456789abcdef", "webhook_token": TOKEN})
        settings_for(self.org)
        SendingSettings.objects.for_org(self.org).update(sms_sender=SENDER)
        with transaction.atomic():
            message = outbox.enqueue(self.person, self.purpose, "sms", due_at=timezone.now(), source="api")
        Message.objects.for_org(self.org).filter(pk=message.pk).update(
            status=Message.Status.SENT, provider=self.account.label, provider_ref="1511882900176220", sender=SENDER,
            sent_at=timezone.now())
        self.message = message

    def post(self, client, which: str, body, *, query: str = "", **headers):
        return client.post(f"/hooks/brevo/{self.account.webhook_token}/{which}{query}", data=json.dumps(body),
                           content_type="application/json", **headers)

    def status(self) -> str:
        return Message.unscoped.get(pk=self.message.pk).status


@pytest.fixture
def stage(db_both, settings):
    settings.RELANCE_PUBLIC_URL = "https://relance.example"
    return Stage()


def test_it_marks_the_message_delivered_on_an_authenticated_event(client, stage):
    assert stage.post(client, "receipts", DELIVERED, **AUTH).status_code == 200
    assert stage.status() == Message.Status.DELIVERED


def test_it_fails_the_message_on_a_hard_bounce_and_counts_it(client, stage):
    """R-29: a hard bounce is a permanent failure on the message's timeline."""
    answer = stage.post(client, "receipts", {**DELIVERED, "msg_status": "hard_bounce", "description": "hard_bounce"},
                        **AUTH)
    assert answer.status_code == 200
    after = Message.unscoped.get(pk=stage.message.pk)
    assert (after.status, after.reason) == (Message.Status.FAILED, "brevo_hard_bounce")
    assert MessageEvent.objects.for_org(stage.org).get(message=stage.message, kind="failed").rule == "R-29"


def test_it_refuses_a_wrong_or_missing_token_and_changes_nothing(client, stage):
    """R-66: 403, the message stays sent."""
    assert stage.post(client, "receipts", DELIVERED, HTTP_AUTHORIZATION="Bearer guessed").status_code == 403
    assert stage.post(client, "receipts", DELIVERED).status_code == 403
    assert stage.status() == Message.Status.SENT


def test_it_answers_2xx_for_an_unknown_message_and_changes_nothing(client, stage):
    answer = stage.post(client, "receipts", {**DELIVERED, "messageId": 1511882900176221}, **AUTH)
    assert answer.status_code == 200
    assert stage.status() == Message.Status.SENT


def test_it_suppresses_the_number_on_a_stop_reply(client, stage):
    """R-33: a STOP reply, authenticated, is in effect when Brevo gets its 2xx."""
    reply = {**DELIVERED, "msg_status": "reply", "description": "reply", "reply": "STOP"}
    answer = stage.post(client, "inbound", reply, query=f"?sender={SENDER}", **AUTH)
    assert answer.status_code == 200
    assert contacts.is_suppressed(stage.org, NUMBER)


def test_it_never_acknowledges_a_stop_it_cannot_apply(client, stage):
    """R-33: a reply on the receipts hook, or without the sender in the URL, is answered 400, not 2xx."""
    reply = {**DELIVERED, "msg_status": "reply", "description": "reply", "reply": "STOP"}
    assert stage.post(client, "receipts", reply, **AUTH).status_code == 400
    assert stage.post(client, "inbound", reply, **AUTH).status_code == 400
    assert stage.post(client, "inbound", reply, query=f"?sender={SENDER}",
                      HTTP_AUTHORIZATION="Bearer guessed").status_code == 403
    assert not contacts.is_suppressed(stage.org, NUMBER)
