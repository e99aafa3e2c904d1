"""Sending through Twilio against a local stand-in for its API (VendorServer): request, answers, failures."""

from __future__ import annotations

import base64
import socket
from dataclasses import replace

import pytest

from relance.providers.base import Outgoing, ProviderError, Result
from relance.providers.kinds import AccountConfig
from relance.providers.testing.vendor_server import Canned, VendorServer
from relance.providers.twilio.client import TwilioProvider

SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
PATH = f"/2010-04-01/Accounts/{SID}/Messages.json"
HOOKS = "https://relance.example/hooks/twilio/tok/"

# The answer to a create, abridged from the example of
# https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
CREATED = {"account_sid": SID, "api_version": "2010-04-01", "body": "Hi there", "direction": "outbound-api",
           "error_code": None, "error_message": None, "from": "+15017122661", "num_media": "0",
           "num_segments": "1", "price": None, "price_unit": "USD", "messaging_service_sid": None,
           "sid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "status": "queued", "to": "+15558675310",
           "uri": f"/2010-04-01/Accounts/{SID}/Messages/SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX.json"}


def error(status: int, code: int, message: str) -> Canned:
    """Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions)."""
    return Canned(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                           "status": status})


# The invalid 'To' answer of https://www.twilio.com/docs/iam/test-credentials (magic number +15005550001).
INVALID_TO = error(400, 21211, "The 'To' number +15005550001 is not a valid phone number.")
TOO_MANY = error(429, 20429, "Too Many Requests")
AUTH_FAILED = error(401, 20003, "Authenticate")


def provider(server_url: str, **credentials) -> TwilioProvider:
    config = AccountConfig(id=1, label="twilio:1", kind="twilio", channel="sms",
                           credentials={"account_sid": SID, "auth_token": "secret-token", **credentials},
                           options={"base_url": server_url}, webhook_base=HOOKS)
    return TwilioProvider(config)


def sms(ref: str = "m1", **fields) -> Outgoing:
    values = {"channel": "sms", "to": "+15558675310", "body": "Hi there", "sender": "+15017122661"}
    values.update(fields)
    return Outgoing(ref=ref, **values)


@pytest.fixture
def vendor():
    with VendorServer(default=Canned(201, CREATED)) as server:
        yield server


def test_it_posts_one_form_per_message_with_basic_auth_and_the_status_callback(vendor):
    """The request the docs describe: To, From, Body, StatusCallback, HTTP basic auth with SID and token."""
    with provider(vendor.url) as twilio:
        results = twilio.send([sms()])
    assert results == [Result.sent("m1", provider_ref="SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")]
    (request,) = vendor.requests
    assert (request.method, request.path) == ("POST", PATH)
    expected_auth = "Basic " + base64.b64encode(f"{SID}:secret-token".encode()).decode()
    assert request.headers["authorization"] == expected_auth
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"To": "+15558675310", "From": "+15017122661", "Body": "Hi there",
                              "SmartEncoded": "false", "StatusCallback": HOOKS + "receipts"}


def test_it_sends_ucs2_text_unchanged(vendor):
    """Twilio has no unicode flag: the text goes as is, and SmartEncoded=false keeps Twilio from replacing it."""
    text = "Rappel : votre rendez-vous ✅ à 10 h — Médiathèque"
    with provider(vendor.url) as twilio:
        twilio.send([sms(body=text, encoding="UCS-2")])
    form = vendor.requests[0].form()
    assert form["Body"] == text and form["SmartEncoded"] == "false"


def test_it_uses_the_messaging_service_when_there_is_no_sender(vendor):
    with provider(vendor.url, messaging_service_sid="MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX") as twilio:
        twilio.send([sms(sender="")])
    form = vendor.requests[0].form()
    assert form["MessagingServiceSid"] == "MGXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX" and "From" not in form


def test_it_refuses_a_batch_without_any_sender(vendor):
    with provider(vendor.url) as twilio, pytest.raises(ProviderError) as caught:
        twilio.send([sms(sender="")])
    assert caught.value.code == "twilio_no_sender" and vendor.requests == []


def test_it_answers_retry_when_throttled(vendor):
    vendor.answer(TOO_MANY)
    with provider(vendor.url) as twilio:
        assert twilio.send([sms()]) == [Result.retry("m1", "twilio_20429")]


def test_it_fails_an_invalid_number_for_good(vendor):
    """R-29: an invalid 'To' is the number's fault: failed, with Twilio's code."""
    vendor.answer(INVALID_TO)
    with provider(vendor.url) as twilio:
        assert twilio.send([sms(to="+15005550001")]) == [Result.failed("m1", "twilio_21211")]


def test_it_answers_retry_on_a_server_error(vendor):
    vendor.answer(Canned(500, {"code": 20500, "message": "Internal Server Error", "status": 500}))
    with provider(vendor.url) as twilio:
        assert twilio.send([sms()]) == [Result.retry("m1", "twilio_20500")]


def test_it_raises_for_bad_credentials_so_the_router_fails_over(vendor):
    """Bad credentials concern the whole account: ProviderError, temporary (the circuit counts it)."""
    vendor.answer(AUTH_FAILED)
    with provider(vendor.url) as twilio, pytest.raises(ProviderError) as caught:
        twilio.send([sms("m1"), sms("m2")])
    assert caught.value.code == "twilio_20003" and caught.value.permanent is False
    assert len(vendor.requests) == 1


def test_it_keeps_what_was_accepted_when_the_account_fails_mid_batch(vendor):
    """Messages already accepted stay sent; the rest are retried (none lost, none sent twice)."""
    vendor.answer(Canned(201, CREATED), AUTH_FAILED)
    with provider(vendor.url) as twilio:
        results = twilio.send([sms("m1"), sms("m2"), sms("m3")])
    assert results == [Result.sent("m1", "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
                       Result.retry("m2", "twilio_20003"), Result.retry("m3", "twilio_20003")]
    assert len(vendor.requests) == 2


def test_it_maps_each_message_of_a_batch_on_its_own(vendor):
    vendor.answer(Canned(201, CREATED), INVALID_TO, TOO_MANY)
    with provider(vendor.url) as twilio:
        results = twilio.send([sms("m1"), sms("m2"), sms("m3")])
    assert [r.status for r in results] == [Result.SENT, Result.FAILED, Result.RETRY]


def test_it_raises_when_the_connection_is_refused():
    """Nothing reached Twilio: the whole batch may go through another account (ProviderError)."""
    with socket.socket() as sock:  # bound and never listening: the port stays ours and refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with provider(f"http://127.0.0.1:{port}") as twilio, pytest.raises(ProviderError) as caught:
            twilio.send([sms()])
    assert caught.value.code == "twilio_unreachable" and caught.value.permanent is False


def test_it_asks_for_reconciliation_when_twilio_does_not_answer_in_time():
    """A timeout may come after Twilio took the message: retry, marked `reconcile` so that the router
    keeps it on this account rather than risk a second copy through another (docs/delivery.md)."""
    with socket.socket() as sock:  # listening, never answering
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        config = provider(f"http://127.0.0.1:{sock.getsockname()[1]}").config
        slow = TwilioProvider(replace(config, options={**config.options, "timeout": 0.2}))
        with slow:
            (result,) = slow.send([sms()])
    assert (result.status, result.error, result.detail) == (Result.RETRY, "twilio_no_answer", {"reconcile": True})
