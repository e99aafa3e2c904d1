"""Twilio's webhooks, pure: signature (R-66), status map (R-29), status callbacks, incoming SMS."""

from __future__ import annotations

import hashlib
import json

import pytest

from relance.providers.base import Inbound, Receipt, WebhookRequest
from relance.providers.twilio import receipts

# The worked example of https://www.twilio.com/docs/usage/webhooks/webhooks-security (also the vector
# of Twilio's own validator tests): auth token 12345, this URL and these parameters.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
DOC_TOKEN = "12345"
DOC_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="

# A status callback with the parameters listed by
# https://www.twilio.com/docs/messaging/guides/track-outbound-message-status (the SID and numbers are
# the placeholders of https://www.twilio.com/docs/messaging/api/message-resource).
DELIVERED = {"ApiVersion": "2010-04-01", "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
             "MessageSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "SmsSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
             "MessageStatus": "delivered", "SmsStatus": "delivered",
             "From": "+15017122661", "To": "+15558675310"}

# An incoming SMS, parameters of https://www.twilio.com/docs/messaging/guides/webhook-request.
INCOMING = {"MessageSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "SmsMessageSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "SmsSid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
            "From": "+15558675310", "To": "+15017122661", "Body": "STOP", "NumMedia": "0", "NumSegments": "1",
            "ApiVersion": "2010-04-01"}


def call(form: dict, *, url: str = DOC_URL, headers: dict | None = None) -> WebhookRequest:
    return WebhookRequest(method="POST", url=url, headers=headers or {}, form=form)


def signed(form: dict, *, url: str = DOC_URL, token: str = DOC_TOKEN) -> WebhookRequest:
    return call(form, url=url, headers={"x-twilio-signature": receipts.signature(url, form, token)})


# --- signature (R-66) ----------------------------------------------------------------------------
def test_it_computes_the_signature_of_twilios_worked_example():
    """R-66: the documented example signs to the documented value, whatever the order of the fields."""
    assert receipts.signature(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE
    assert receipts.signature(DOC_URL, dict(reversed(DOC_PARAMS.items())), DOC_TOKEN) == DOC_SIGNATURE


def test_it_accepts_the_documented_signed_request():
    """R-66: the example request with its X-Twilio-Signature is Twilio's."""
    request = call(DOC_PARAMS, headers={"x-twilio-signature": DOC_SIGNATURE})
    assert receipts.verify(request, {"account_sid": "AC1", "auth_token": DOC_TOKEN}) is True


@pytest.mark.parametrize("change", [
    {"url": DOC_URL.replace("bar=2", "bar=3")},
    {"form": {**DOC_PARAMS, "Digits": "9999"}},
    {"form": {**DOC_PARAMS, "Extra": "1"}},
    {"token": "54321"},
    {"signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8"},
])
def test_it_refuses_a_changed_url_field_token_or_signature(change):
    """R-66: any change to the signed URL or fields, another token, a truncated signature: refused."""
    request = call(change.get("form", DOC_PARAMS), url=change.get("url", DOC_URL),
                   headers={"x-twilio-signature": change.get("signature", DOC_SIGNATURE)})
    assert receipts.verify(request, {"auth_token": change.get("token", DOC_TOKEN)}) is False


def test_it_refuses_a_call_without_signature_or_without_a_token_to_check_it():
    """R-66: never accept an unsigned call, nor one we have nothing to check against."""
    assert receipts.verify(call(DOC_PARAMS), {"auth_token": DOC_TOKEN}) is False
    signed_call = call(DOC_PARAMS, headers={"x-twilio-signature": DOC_SIGNATURE})
    assert receipts.verify(signed_call, {}) is False
    assert receipts.verify(signed_call, {"auth_token": ""}) is False


def test_it_checks_the_body_hash_of_a_json_call():
    """R-66: a JSON body is covered by bodySHA256 in the signed URL; a changed body is refused."""
    body = json.dumps({"property": "value", "boolean": True}).encode()

    digest = hashlib.sha256(body).hexdigest()
    url = f"https://relance.example/hooks/twilio/tok/receipts?bodySHA256={digest}"
    header = {"x-twilio-signature": receipts.signature(url, {}, DOC_TOKEN)}
    good = WebhookRequest("POST", url, header, body=body, query={"bodySHA256": digest})
    assert receipts.verify(good, {"auth_token": DOC_TOKEN}) is True
    tampered = WebhookRequest("POST", url, header, body=body + b" ", query={"bodySHA256": digest})
    assert receipts.verify(tampered, {"auth_token": DOC_TOKEN}) is False


# --- status map (R-29) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "code", "expected"), [
    ("delivered", "", Receipt("SM1", "delivered")),
    ("read", "", Receipt("SM1", "read")),
    ("sent", "", Receipt("SM1", "accepted")),
    ("queued", "", Receipt("SM1", "accepted")),
    ("sending", "", Receipt("SM1", "accepted")),
    ("undelivered", "30005", Receipt("SM1", "failed", error="twilio_30005", permanent=True)),
    ("undelivered", "30006", Receipt("SM1", "failed", error="twilio_30006", permanent=True)),
    ("failed", "21211", Receipt("SM1", "failed", error="twilio_21211", permanent=True)),
    ("undelivered", "30003", Receipt("SM1", "undeliverable", error="twilio_30003")),
    ("undelivered", "30007", Receipt("SM1", "undeliverable", error="twilio_30007")),
    ("failed", "30001", Receipt("SM1", "undeliverable", error="twilio_30001")),
    ("failed", "", Receipt("SM1", "undeliverable", error="twilio_failed")),
    ("canceled", "", Receipt("SM1", "rejected")),
])
def test_it_maps_twilio_statuses_and_error_codes(status, code, expected):
    """R-29: only the error codes about the number itself are permanent; 'sent' is not an outcome."""
    fields = {"MessageSid": "SM1", "MessageStatus": status}
    if code:
        fields["ErrorCode"] = code
    assert receipts.receipt_of(fields) == expected


# --- parsers -------------------------------------------------------------------------------------
def test_it_parses_the_documented_status_callback():
    assert receipts.parse_receipts(signed(DELIVERED)) == [Receipt("SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "delivered")]


def test_it_parses_an_undelivered_callback_with_its_error_code():
    """The failure example of the same page: MessageStatus=undelivered with ErrorCode."""
    form = {**DELIVERED, "MessageStatus": "undelivered", "SmsStatus": "undelivered", "ErrorCode": "30006"}
    assert receipts.parse_receipts(call(form)) == [
        Receipt("SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "failed", error="twilio_30006", permanent=True)]


def test_it_parses_the_documented_incoming_message():
    assert receipts.parse_inbound(call(INCOMING)) == [
        Inbound(sender="+15558675310", to="+15017122661", text="STOP",
                provider_ref="SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")]


@pytest.mark.parametrize("form", [{}, {"MessageSid": "SM1"}, {"MessageStatus": "delivered"}])
def test_it_refuses_a_malformed_status_callback(form):
    with pytest.raises(ValueError):
        receipts.parse_receipts(call(form))


@pytest.mark.parametrize("form", [{}, {"From": "+15558675310", "To": "+15017122661"},
                                  {"To": "+15017122661", "Body": "STOP"}])
def test_it_refuses_a_malformed_incoming_message(form):
    with pytest.raises(ValueError):
        receipts.parse_inbound(call(form))


def test_it_answers_empty_twiml():
    """Twilio expects TwiML; an empty <Response> sends nothing (our answers leave through the outbox)."""
    answer = receipts.reply("inbound")
    assert answer.status == 200 and answer.content_type == "text/xml"
    assert answer.body.endswith(b"<Response></Response>")
