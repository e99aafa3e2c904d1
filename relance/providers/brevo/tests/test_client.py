"""Brevo client against a local stand-in for the API: the request sent, and every answer mapped."""

from __future__ import annotations

import socket

import pytest

from relance.providers.base import Outgoing, ProviderError, Result
from relance.providers.brevo.client import BrevoProvider
from relance.providers.kinds import AccountConfig
from relance.providers.testing.vendor_server import Canned, VendorServer

API_KEY = "xkeysib-0123456789abcdef"
WEBHOOK_BASE = "https://relance.example/hooks/brevo/tok12345678/"
# The answer of POST /v3/transactionalSMS/send ("Deprecated Endpoint: POST /v3/transactionalSMS/sms",
# https://developers.brevo.com/changelog/deprecated-endpoint-post-v3transactionalsmssms: "Current
# response payload").
ACCEPTED = Canned(201, {"messageId": 1511882900176220})
# Brevo's error body {"code", "message"} (not read: the status decides).
INVALID = Canned(400, {"code": "invalid_parameter", "message": "Invalid phone number"})


def provider(url: str, *, webhook_base: str = WEBHOOK_BASE, **options) -> BrevoProvider:
    return BrevoProvider(AccountConfig(id=9, label="brevo:9", kind="brevo", channel="sms",
                                       credentials={"api_key": API_KEY}, options={"base_url": url, **options},
                                       webhook_base=webhook_base))


def sms(ref="m-1", body="Bonjour, rappel : RDV mardi 10h.", **fields) -> Outgoing:
    return Outgoing(ref=ref, channel="sms", to=fields.pop("to", "+33689965433"), body=body,
                    sender=fields.pop("sender", "MEDIATHEQUE"), **fields)


@pytest.fixture
def vendor():
    with VendorServer() as server:
        yield server


def test_it_posts_the_documented_fields_with_the_api_key(vendor):
    vendor.answer(ACCEPTED)
    with provider(vendor.url + "/v3") as brevo:
        [result] = brevo.send([sms()])
    assert result == Result.sent("m-1", provider_ref="1511882900176220")
    [request] = vendor.requests
    assert (request.method, request.path, request.headers["api-key"]) == ("POST", "/v3/transactionalSMS/send", API_KEY)
    assert request.json() == {"sender": "MEDIATHEQUE", "recipient": "33689965433",
                              "content": "Bonjour, rappel : RDV mardi 10h.", "type": "transactional",
                              "unicodeEnabled": False, "webUrl": WEBHOOK_BASE + "receipts"}


def test_it_flags_unicode_and_can_leave_the_webhook_to_the_account(vendor):
    vendor.answer(ACCEPTED)
    with provider(vendor.url, per_message_webhook=False, tag="relance") as brevo:
        brevo.send([sms(body="Votre réservation « Ωmega » est prête", encoding="UCS-2")])
    body = vendor.requests[0].json()
    assert (body["unicodeEnabled"], body["tag"], "webUrl" in body) == (True, "relance", False)


@pytest.mark.parametrize("canned,expected", [
    (INVALID, Result.failed("m-1", "brevo_400")),  # invalid number or text: this message only
    (Canned(429, {"code": "too_many_requests", "message": "Rate limit"}), Result.retry("m-1", "brevo_429")),
    (Canned(500, {"code": "internal_error", "message": "boom"}), Result.retry("m-1", "brevo_500")),
    (Canned(201, {}), Result.retry("m-1", "brevo_unexpected_answer")),
])
def test_it_maps_answers_per_message(vendor, canned, expected):
    vendor.answer(canned)
    with provider(vendor.url) as brevo:
        assert brevo.send([sms()]) == [expected]


@pytest.mark.parametrize("status,code", [(401, "brevo_unauthorized"), (402, "brevo_not_enough_credits"),
                                         (403, "brevo_permission_denied")])
def test_it_stops_the_batch_on_an_account_problem(vendor, status, code):
    """A bad key or no credits concern every message: a temporary ProviderError for the circuit (R-29 spared)."""
    vendor.answer(Canned(status, {"code": code, "message": "account"}))
    with provider(vendor.url) as brevo, pytest.raises(ProviderError) as raised:
        brevo.send([sms(), sms(ref="m-2")])
    assert (raised.value.permanent, raised.value.code, len(vendor.requests)) == (False, code, 1)


def test_it_keeps_what_was_accepted_when_credits_run_out_mid_batch(vendor):
    vendor.answer(ACCEPTED, Canned(402, {"code": "not_enough_credits", "message": "credits"}))
    with provider(vendor.url) as brevo:
        results = brevo.send([sms(ref="m-1"), sms(ref="m-2"), sms(ref="m-3")])
    assert results == [Result.sent("m-1", provider_ref="1511882900176220"),
                       Result.retry("m-2", "brevo_not_enough_credits"), Result.retry("m-3", "brevo_not_enough_credits")]


def test_it_raises_a_temporary_provider_error_when_the_api_refuses_connections():
    """Connection refused: Brevo is unreachable for the whole batch; the worker retries, the circuit counts it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with provider(f"http://127.0.0.1:{port}") as brevo, pytest.raises(ProviderError) as raised:
        brevo.send([sms()])
    assert (raised.value.permanent, raised.value.code) == (False, "brevo_unreachable")
