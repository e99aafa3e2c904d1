"""Twilio's webhooks end to end, through Django's test client: /hooks/twilio/<token>/receipts|inbound.

Signed with Twilio's scheme over the URL we gave Twilio (RELANCE_PUBLIC_URL + path), as Twilio does.
"""

from __future__ import annotations

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
from relance.providers.twilio.receipts import signature
from relance.testing import make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PUBLIC = "https://relance.example"
TOKEN = "twilio-auth-token"
SID = "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"  # the placeholder SID of Twilio's docs
OUR_NUMBER = "+15017122661"  # the "From" of Twilio's examples: our Twilio number
PERSON = "+33612345678"
FORM = "application/x-www-form-urlencoded"  # how Twilio posts  # adapted: a French mobile, so that the contact's number is valid


@pytest.fixture(autouse=True)
def public_url(settings):
    settings.RELANCE_PUBLIC_URL = PUBLIC


@pytest.fixture
def stage():
    org = make_org()
    settings_for(org)
    SendingSettings.objects.for_org(org).update(sms_sender=OUR_NUMBER)
    account = create_account(org, name="Twilio", kind="twilio", actor=Actor.system("test"),
                             credentials={"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "auth_token": TOKEN})
    purpose = service_purpose(org)
    contact = informed_contact(org, purpose, phone=PERSON)
    return org, account, purpose, contact


def sent_sms(contact, purpose, account, ref: str = SID) -> Message:
    """A message as the worker leaves it once Twilio accepted it (as in messaging/tests/test_receipts.py)."""
    with transaction.atomic():
        message = outbox.enqueue(contact, purpose, "sms", due_at=timezone.now(), source="api")
    Message.objects.for_org(contact.organisation).filter(pk=message.pk).update(
        status=Message.Status.SENT, provider=account.label, provider_ref=ref, sent_at=timezone.now(),
        sender=OUR_NUMBER)
    return Message.unscoped.get(pk=message.pk)


def post(client, account, which: str, form: dict, *, token: str = TOKEN, signed_as: str | None = None):
    path = f"/hooks/twilio/{account.webhook_token}/{which}"
    header = signature(signed_as or PUBLIC + path, form, token)
    return client.post(path, urlencode(form), content_type=FORM, HTTP_X_TWILIO_SIGNATURE=header)


def callback(status: str, sid: str = SID, **extra) -> dict:
    """Status callback parameters (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status)."""
    return {"ApiVersion": "2010-04-01", "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "MessageSid": sid,
            "SmsSid": sid, "MessageStatus": status, "SmsStatus": status, "From": OUR_NUMBER, "To": PERSON,
            **extra}


def test_it_marks_the_message_delivered_on_a_signed_callback(client, stage):
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    response = post(client, account, "receipts", callback("delivered"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.DELIVERED


def test_it_fails_the_message_and_counts_it_on_an_undelivered_callback(client, stage):
    """R-29: undelivered with 30006 (landline or unreachable carrier) counts against the number."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post(client, account, "receipts", callback("undelivered", ErrorCode="30006")).status_code == 200
    after = Message.unscoped.get(pk=message.pk)
    assert after.status == Message.Status.FAILED and after.reason == "twilio_30006"
    assert Contact.objects.for_org(org).get(pk=contact.pk).permanent_failures == 1


def test_it_refuses_a_bad_signature_and_changes_nothing(client, stage):
    """R-66: signed with another token, or over another URL: 403, the message stays sent."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    assert post(client, account, "receipts", callback("delivered"), token="not-the-token").status_code == 403
    assert post(client, account, "receipts", callback("delivered"),
                signed_as="https://elsewhere.example/hooks/twilio/x/receipts").status_code == 403
    unsigned = client.post(f"/hooks/twilio/{account.webhook_token}/receipts", urlencode(callback("delivered")),
                           content_type=FORM)
    assert unsigned.status_code == 403
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.SENT


def test_it_answers_2xx_to_an_unknown_reference_and_changes_nothing(client, stage):
    """R-66: a well-signed callback about a message we do not know: 2xx, so Twilio stops retrying."""
    org, account, purpose, contact = stage
    message = sent_sms(contact, purpose, account)
    other = "SM" + "0" * 32
    assert post(client, account, "receipts", callback("delivered", sid=other)).status_code == 200
    assert Message.unscoped.get(pk=message.pk).status == Message.Status.SENT


def test_it_answers_400_to_a_malformed_callback(client, stage):
    org, account, purpose, contact = stage
    assert post(client, account, "receipts", {"AccountSid": "AC1"}).status_code == 400


def test_it_suppresses_the_number_on_a_signed_stop(client, stage):
    """R-33: an incoming STOP, well signed, is in effect when Twilio gets its answer."""
    org, account, purpose, contact = stage
    sent_sms(contact, purpose, account)
    form = {"MessageSid": "SM" + "1" * 32, "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "From": PERSON, "To": OUR_NUMBER, "Body": "STOP", "NumMedia": "0", "NumSegments": "1"}
    response = post(client, account, "inbound", form)
    assert response.status_code == 200 and response.content.endswith(b"<Response></Response>")
    assert contacts.is_suppressed(org, PERSON)


def test_it_ignores_an_unsigned_stop(client, stage):
    """R-66: a forged STOP changes nothing."""
    org, account, purpose, contact = stage
    form = {"MessageSid": "SM" + "1" * 32, "From": PERSON, "To": OUR_NUMBER, "Body": "STOP"}
    assert post(client, account, "inbound", form, token="forged").status_code == 403
    assert not contacts.is_suppressed(org, PERSON)
