"""Vonage webhooks end to end, through Django's test client: /hooks/vonage/<token>/receipts|inbound.

Signed as Vonage signs SMS API webhooks (`sig` over the sorted parameters with the signature secret).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.utils import timezone

from relance.audit.services import Actor
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import outbox
from relance.messaging.models import Message, SendingSettings
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import informed_contact, service_purpose
from relance.providers.services import create_account
from relance.providers.vonage.receipts import signature
from relance.testing import make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SECRET = "signature-secret"
API_KEY = "abcd1234"
MESSAGE_ID = "0B00000127FDBC63"  # the messageId of Vonage's "typical DLR"
OUR_NUMBER = "+447700900000"  # the virtual number of Vonage's examples, as our sender
PERSON = "+33612345678"  # adapted: a French mobile, so that the contact's number is valid


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.RELANCE_PUBLIC_URL = "https://relance.example"


@pytest.fixture
def stage():
    org = make_org()
    settings_for(org)
    SendingSettings.objects.for_org(org).update(sms_sender=OUR_NUMBER)
    account = create_account(org, name="Vonage", kind="vonage", actor=Actor.system("test"),
                             credentials={"api_key": API_KEY, "api_secret": "abcdef0123456789",
                                          "signature_secret": SECRET, "signature_method": "md5hash"})
    purpose = service_purpose(org)
    return org, account, purpose, informed_contact(org, purpose, phone=PERSON)


def sent_sms(contact, purpose, account, ref: str = MESSAGE_ID) -> Message:
    """A message as the worker leaves it once Vonage accepted it (as in messaging/tests/test_receipts.py)."""
    with transaction.atomic():
        message = outbox.enqueue(contact, purpose, "sms", due_at=timezone.now(), source="api")
    Message.objects.for_org(contact.organisation).filter(pk=message.pk).update(
        status=Message.Status.SENT, provider=account.label, provider_ref=ref, sent_at=timezone.now(),
        sender=OUR_NUMBER)
    return Message.unscoped.get(pk=message.pk)


def dlr(status: str = "delivered", err: str = "0", message_id: str = MESSAGE_ID) -> dict:
    """The DLR of https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts, with the
    fields a signed webhook adds (https://developer.vonage.com/en/api/sms#delivery-receipt)."""
    return {"err-code": err, "message-timestamp": "2018-10-25 12:10:29", "messageId": message_id,
            "msisdn": PERSON[1:], "network-code": "23410", "price": "0.03330000", "scts": "1810251310",
            "status": status, "to": "Nexmo CLI", "api-key": API_KEY, "timestamp": "1582650446",
            "nonce": "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"}


def post_json(client, account, which: str, params: dict, *, secret: str = SECRET):
    body = {**params, "sig": signature(params, secret)}
    return client.post(f"/hooks/vonage/{account.webhook_token}/{which}", json.dumps(body),
                       content_type="application/json")


def test_it_marks_the_message_delivered_on_a_signed_receipt(client, stage):
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post_json(client, account, "receipts", dlr()).status_code == 204
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.DELIVERED


def test_it_reads_a_signed_receipt_sent_as_a_get(client, stage):
    """The dashboard may ask for GET: the same fields, in the query string."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    params = dlr()
    query = urlencode({**params, "sig": signature(params, SECRET)})
    assert client.get(f"/hooks/vonage/{account.webhook_token}/receipts?{query}").status_code == 204
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.DELIVERED


def test_it_fails_the_message_and_counts_it_on_a_permanent_failure(client, stage):
    """R-29: failed with err-code 3 (absent subscriber, permanent) counts against the number."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post_json(client, account, "receipts", dlr("failed", "3")).status_code == 204
    after = Message.unscoped.get(pk=message.pk)
    assert after.status == Message.Status.FAILED and after.reason == "vonage_3"
    assert Contact.objects.for_org(org).get(pk=contact.pk).permanent_failures == 1


def test_it_refuses_a_bad_signature_and_changes_nothing(client, stage):
    """R-66: another secret, or no sig at all: 403, the message stays sent."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post_json(client, account, "receipts", dlr(), secret="forged").status_code == 403
    unsigned = client.post(f"/hooks/vonage/{account.webhook_token}/receipts", json.dumps(dlr()),
                           content_type="application/json")
    assert unsigned.status_code == 403
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.SENT


def test_it_answers_2xx_to_an_unknown_reference_and_changes_nothing(client, stage):
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post_json(client, account, "receipts", dlr(message_id="0B000001FFFFFFFF")).status_code == 204
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.SENT


def test_it_answers_400_to_a_malformed_receipt(client, stage):
    org, account, purpose, contact = stage
    assert post_json(client, account, "receipts", {"api-key": API_KEY, "timestamp": "1"}).status_code == 400


def inbound(text: str) -> dict:
    """The inbound SMS of https://developer.vonage.com/en/api/sms#inbound-sms, from our test person."""
    return {"api-key": API_KEY, "msisdn": PERSON[1:], "to": OUR_NUMBER[1:], "messageId": "0A0000000123ABCD1",
            "text": text, "type": "text", "keyword": text.split()[0].upper(),
            "message-timestamp": "2020-01-01 12:00:00", "timestamp": "1578787200",
            "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}


def test_it_suppresses_the_number_on_a_signed_stop(client, stage):
    """R-33: a signed STOP is in effect when Vonage gets its 2xx."""
    org, account, purpose, contact = stage
    sent_sms(contact, purpose, account)
    assert post_json(client, account, "inbound", inbound("STOP")).status_code == 204
    assert contacts.is_suppressed(org, PERSON)


def test_it_ignores_a_forged_stop(client, stage):
    """R-66: a STOP signed with another secret changes nothing."""
    org, account, purpose, contact = stage
    assert post_json(client, account, "inbound", inbound("STOP"), secret="forged").status_code == 403
    assert not contacts.is_suppressed(org, PERSON)
