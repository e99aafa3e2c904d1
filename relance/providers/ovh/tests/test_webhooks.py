"""OVHcloud SMS webhooks end to end, through Django's test client: `/hooks/ovh/<token>/receipts|inbound`.

The callback URL registered at OVHcloud carries the account's `callback_secret` as `secret` (R-66);
delivery reports arrive as a GET query string, replies as a form (see relance/providers/ovh/receipts.py).
"""

from __future__ import annotations

from urllib.parse import urlencode

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
SHORT_NUMBER = "36111"
CREDENTIALS = {"application_key": "7kbG7Bk7S9Nt7ZSV", "application_secret": "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
               "consumer_key": "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "service_name": "sms-xx11111-1",
               "callback_secret": "s3cr3t-callback-value"}


class Stage:
    """A library with an OVHcloud account and one SMS OVHcloud accepted as id 26929925."""

    def __init__(self):
        self.org = make_org(name="Médiathèques du Val")
        self.purpose = service_purpose(self.org)
        self.person = informed_contact(self.org, self.purpose, phone=NUMBER)
        self.account = create_account(self.org, name="OVHcloud", kind="ovh", credentials=CREDENTIALS,
                                      actor=Actor.system("test"))
        settings_for(self.org)
        SendingSettings.objects.for_org(self.org).update(sms_sender=SHORT_NUMBER)
        with transaction.atomic():
            message = outbox.enqueue(self.person, self.purpose, "sms", due_at=timezone.now(), source="api")
        Message.objects.for_org(self.org).filter(pk=message.pk).update(
            status=Message.Status.SENT, provider=self.account.label, provider_ref="26929925", sender=SHORT_NUMBER,
            sent_at=timezone.now())
        self.message = message

    def hook(self, which: str, **query) -> str:
        return f"/hooks/ovh/{self.account.webhook_token}/{which}?{urlencode(query)}"

    def status(self) -> str:
        return Message.unscoped.get(pk=self.message.pk).status


@pytest.fixture
def stage(db_both, settings):
    settings.RELANCE_PUBLIC_URL = "https://relance.example"
    return Stage()


# The query string of "Everything you need to know about SMS users", step 5 (id, ptt, date,
# description, descriptionDlr), for the id of the PHP guide's job answer.
# https://help.ovhcloud.com/csm/en-ie-sms-users?id=kb_article_view&sysparm_article=KB0051414
def report(description: str, ptt: str, sms_id: str = "26929925") -> dict:
    return {"id": sms_id, "ptt": ptt, "date": "2020-06-25 10:12:31", "description": description,
            "descriptionDlr": ""}


def test_it_marks_the_message_delivered_on_a_valid_report(client, stage):
    answer = client.get(stage.hook("receipts", secret=CREDENTIALS["callback_secret"], **report("1", "4")))
    assert answer.status_code == 200
    assert stage.status() == Message.Status.DELIVERED


def test_it_fails_the_message_on_a_hard_failure_and_counts_it(client, stage):
    """R-29: ptt 23 (invalid or barred number) is a permanent failure on the message's timeline."""
    answer = client.get(stage.hook("receipts", secret=CREDENTIALS["callback_secret"], **report("2", "23")))
    assert answer.status_code == 200
    after = Message.unscoped.get(pk=stage.message.pk)
    assert (after.status, after.reason) == (Message.Status.FAILED, "ovh_ptt_23")
    event = MessageEvent.objects.for_org(stage.org).get(message=stage.message, kind="failed")
    assert event.rule == "R-29"


def test_it_refuses_a_wrong_or_missing_secret_and_changes_nothing(client, stage):
    """R-66: 403, the message stays sent."""
    assert client.get(stage.hook("receipts", secret="guessed", **report("1", "4"))).status_code == 403
    assert client.get(stage.hook("receipts", **report("1", "4"))).status_code == 403
    assert stage.status() == Message.Status.SENT


def test_it_answers_2xx_for_an_unknown_sms_and_changes_nothing(client, stage):
    answer = client.get(stage.hook("receipts", secret=CREDENTIALS["callback_secret"], **report("1", "4", "99999")))
    assert answer.status_code == 200
    assert stage.status() == Message.Status.SENT


def test_it_answers_400_for_a_malformed_report(client, stage):
    answer = client.get(stage.hook("receipts", secret=CREDENTIALS["callback_secret"], id="26929925"))
    assert answer.status_code == 400
    assert stage.status() == Message.Status.SENT


def test_it_suppresses_the_number_on_a_stop_reply(client, stage):
    """R-33: a STOP to the short number, with the right secret, is in effect when OVHcloud gets its 200."""
    form = {"shortcode": SHORT_NUMBER, "senderid": "0033612345678", "message": "STOP", "id": "3204", "tag": ""}
    answer = client.post(stage.hook("inbound", secret=CREDENTIALS["callback_secret"]), data=urlencode(form),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert contacts.is_suppressed(stage.org, NUMBER)


def test_it_ignores_a_stop_reply_with_a_bad_secret(client, stage):
    form = {"shortcode": SHORT_NUMBER, "senderid": "0033612345678", "message": "STOP", "id": "3204"}
    answer = client.post(stage.hook("inbound", secret="nope"), data=urlencode(form),
                         content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 403
    assert not contacts.is_suppressed(stage.org, NUMBER)
