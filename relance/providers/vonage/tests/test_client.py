"""Sending through the Vonage SMS API against a local stand-in for it (VendorServer)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from relance.providers.base import Outgoing, ProviderError, Result
from relance.providers.kinds import AccountConfig
from relance.providers.testing.vendor_server import Canned, VendorServer
from relance.providers.vonage.client import VonageProvider

HOOKS = "https://relance.example/hooks/vonage/tok/"

# The answer of https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms, verbatim.
ACCEPTED = {"message-count": "1", "messages": [
    {"to": "447700900000", "message-id": "0C000000217B7F02", "status": "0", "remaining-balance": "15.53590000",
     "message-price": "0.03330000", "network": "23410"}]}


def refused(status: str, text: str) -> Canned:
    """An error answer: HTTP 200 with a non-zero status and its error-text (the ErrorMessage schema of
    https://developer.vonage.com/en/api/sms#send-an-sms)."""
    return Canned(200, {"message-count": "1", "messages": [{"status": status, "error-text": text}]})


THROTTLED = refused("1", "Throttled")
INVALID_NUMBER = refused("6", "Invalid Message")
BARRED = refused("7", "Number Barred")
BAD_CREDENTIALS = refused("4", "Bad Credentials")
NO_CREDIT = refused("9", "Partner Quota Violation")


def provider(server_url: str) -> VonageProvider:
    config = AccountConfig(id=1, label="vonage:1", kind="vonage", channel="sms",
                           credentials={"api_key": "abcd1234", "api_secret": "abcdef0123456789"},
                           options={"base_url": server_url}, webhook_base=HOOKS)
    return VonageProvider(config)


def sms(ref: str = "m1", **fields) -> Outgoing:
    values = {"channel": "sms", "to": "+447700900000", "body": "Hello World!", "sender": "AcmeInc"}
    values.update(fields)
    return Outgoing(ref=ref, **values)


@pytest.fixture
def vendor():
    with VendorServer(default=Canned(200, ACCEPTED)) as server:
        yield server


def test_it_posts_the_documented_form(vendor):
    """POST /sms/json: credentials, from, to without '+', text, type, callback, client-ref."""
    with provider(vendor.url) as vonage:
        assert vonage.send([sms()]) == [Result.sent("m1", provider_ref="0C000000217B7F02")]
    (request,) = vendor.requests
    assert (request.method, request.path) == ("POST", "/sms/json")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form() == {"api_key": "abcd1234", "api_secret": "abcdef0123456789", "from": "AcmeInc",
                              "to": "447700900000", "text": "Hello World!", "type": "text",
                              "client-ref": "m1", "callback": HOOKS + "receipts"}


def test_it_flags_ucs2_text_as_unicode_and_sends_a_number_sender_without_plus(vendor):
    text = "Rappel : votre rendez-vous ✅ à 10 h"
    with provider(vendor.url) as vonage:
        vonage.send([sms(body=text, encoding="UCS-2", sender="+447700900001")])
    form = vendor.requests[0].form()
    assert (form["type"], form["text"], form["from"]) == ("unicode", text, "447700900001")


def test_it_keeps_the_first_parts_id_for_a_long_message(vendor):
    """A long text is answered part by part; the first part's id is the reference."""
    parts = [{**ACCEPTED["messages"][0], "message-id": f"0C00000021{n}"} for n in range(3)]
    vendor.answer(Canned(200, {"message-count": "3", "messages": parts}))
    with provider(vendor.url) as vonage:
        assert vonage.send([sms(segments=3)]) == [Result.sent("m1", provider_ref="0C000000210")]


def test_it_answers_retry_when_throttled(vendor):
    vendor.answer(THROTTLED)
    with provider(vendor.url) as vonage:
        assert vonage.send([sms()]) == [Result.retry("m1", "vonage_1")]


@pytest.mark.parametrize(("answer", "code"), [(INVALID_NUMBER, "vonage_6"), (BARRED, "vonage_7")])
def test_it_fails_an_invalid_or_barred_number_for_good(vendor, answer, code):
    """R-29: an unrecognised number prefix, a barred number: failed, with Vonage's status."""
    vendor.answer(answer)
    with provider(vendor.url) as vonage:
        assert vonage.send([sms()]) == [Result.failed("m1", code)]


def test_it_answers_retry_on_a_server_error(vendor):
    vendor.answer(Canned(500, "Internal Server Error", content_type="text/plain"))
    with provider(vendor.url) as vonage:
        assert vonage.send([sms()]) == [Result.retry("m1", "vonage_http_500")]


@pytest.mark.parametrize(("answer", "code"), [(BAD_CREDENTIALS, "vonage_4"), (NO_CREDIT, "vonage_9")])
def test_it_raises_for_an_account_problem_so_the_router_fails_over(vendor, answer, code):
    """Bad credentials, no credit: the whole account, ProviderError (temporary: the circuit counts it)."""
    vendor.answer(answer)
    with provider(vendor.url) as vonage, pytest.raises(ProviderError) as caught:
        vonage.send([sms("m1"), sms("m2")])
    assert caught.value.code == code and caught.value.permanent is False and len(vendor.requests) == 1


def test_it_keeps_what_was_accepted_when_the_account_fails_mid_batch(vendor):
    vendor.answer(Canned(200, ACCEPTED), NO_CREDIT)
    with provider(vendor.url) as vonage:
        results = vonage.send([sms("m1"), sms("m2"), sms("m3")])
    assert results == [Result.sent("m1", "0C000000217B7F02"), Result.retry("m2", "vonage_9"),
                       Result.retry("m3", "vonage_9")]


def test_it_asks_for_reconciliation_when_the_answer_is_unreadable(vendor):
    """HTTP 200 without `messages`: the message may have left, so retry marked `reconcile`."""
    vendor.answer(Canned(200, "<html>proxy</html>", content_type="text/html"))
    with provider(vendor.url) as vonage:
        (result,) = vonage.send([sms()])
    assert (result.status, result.error, result.detail) == (Result.RETRY, "vonage_no_answer", {"reconcile": True})


def test_it_raises_when_the_connection_is_refused():
    """Nothing reached Vonage: the batch may go through another account (ProviderError)."""
    with socket.socket() as sock:  # bound and never listening: the port stays ours and refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with provider(f"http://127.0.0.1:{port}") as vonage, pytest.raises(ProviderError) as caught:
            vonage.send([sms()])
    assert caught.value.code == "vonage_unreachable"


def test_it_refuses_a_batch_without_a_sender(vendor):
    with provider(vendor.url) as vonage, pytest.raises(ProviderError) as caught:
        vonage.send([sms(sender="")])
    assert caught.value.code == "vonage_no_sender" and vendor.requests == []


def test_it_asks_for_reconciliation_when_vonage_does_not_answer_in_time():
    """A timeout may come after Vonage took the message: retry, marked `reconcile` so that the router
    keeps it on this account rather than risk a second copy through another (docs/delivery.md)."""
    with socket.socket() as sock:  # listening, never answering
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        config = provider(f"http://127.0.0.1:{sock.getsockname()[1]}").config
        slow = VonageProvider(replace(config, options={**config.options, "timeout": 0.2}))
        with slow:
            (result,) = slow.send([sms()])
    assert (result.status, result.error, result.detail) == (Result.RETRY, "vonage_no_answer", {"reconcile": True})
