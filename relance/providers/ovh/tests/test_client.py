"""OVHcloud SMS client against a local stand-in for the API: the signed request, and every answer mapped."""

from __future__ import annotations

import socket

import pytest

from relance.providers.base import Outgoing, ProviderError, Result
from relance.providers.kinds import AccountConfig
from relance.providers.ovh.client import OvhProvider, signature
from relance.providers.testing.vendor_server import Canned, VendorServer

CREDENTIALS = {"application_key": "7kbG7Bk7S9Nt7ZSV", "application_secret": "EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF",
               "consumer_key": "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "service_name": "sms-xx11111-1",
               "callback_secret": "s3cr3t-callback-value"}
API_TIME = Canned(200, "1366560945", "application/json")
# The answer of POST /sms/{serviceName}/jobs in "Sending SMS messages with the OVHcloud API in PHP"
# (github.com/ovh/docs, pages/web_cloud/messaging/sms/envoyer_des_sms_avec_lapi_ovh_en_php/guide.en-gb.md).
ACCEPTED = Canned(200, {"totalCreditsRemoved": 1, "invalidReceivers": [], "ids": [26929925],
                        "validReceivers": ["+3360000000"]})
# The same answer for a number OVHcloud refuses: it moves to invalidReceivers and no id comes back.
INVALID = Canned(200, {"totalCreditsRemoved": 0, "invalidReceivers": ["+3360000000"], "ids": [],
                       "validReceivers": []})
# OVHcloud's API errors are JSON {"message": ...} with the HTTP status (the body is not read).
ERROR = {"message": "Invalid signature"}


def provider(url: str, **options) -> OvhProvider:
    return OvhProvider(AccountConfig(id=7, label="ovh:7", kind="ovh", channel="sms", credentials=CREDENTIALS,
                                     options={"base_url": url, **options}))


def sms(ref="m-1", body="Bonjour, rappel : RDV mardi 10h.", **fields) -> Outgoing:
    return Outgoing(ref=ref, channel="sms", to=fields.pop("to", "+3360000000"), body=body,
                    sender=fields.pop("sender", "MEDIATHEQUE"), **fields)


@pytest.fixture
def vendor():
    with VendorServer() as server:
        yield server


def test_it_posts_a_signed_job_with_the_documented_fields(vendor):
    vendor.answer(API_TIME, ACCEPTED)
    with provider(vendor.url + "/1.0") as ovh:
        [result] = ovh.send([sms()])
    assert result == Result.sent("m-1", provider_ref="26929925")
    clock, job = vendor.requests
    assert (clock.method, clock.path) == ("GET", "/1.0/auth/time")
    assert (job.method, job.path) == ("POST", "/1.0/sms/sms-xx11111-1/jobs")
    body = job.json()
    assert body["receivers"] == ["+3360000000"] and body["message"] == "Bonjour, rappel : RDV mardi 10h."
    assert (body["sender"], body["coding"], body["noStopClause"]) == ("MEDIATHEQUE", "7bit", True)
    assert "senderForResponse" not in body
    headers = job.headers
    assert (headers["x-ovh-application"], headers["x-ovh-consumer"]) == ("7kbG7Bk7S9Nt7ZSV", CREDENTIALS["consumer_key"])
    timestamp = int(headers["x-ovh-timestamp"])
    assert abs(timestamp - 1366560945) < 60  # the API's clock, not ours
    expected = signature(CREDENTIALS["application_secret"], CREDENTIALS["consumer_key"], "POST",
                         f"{vendor.url}/1.0/sms/sms-xx11111-1/jobs", job.body.decode(), timestamp)
    assert headers["x-ovh-signature"] == expected


def test_it_flags_unicode_and_asks_for_a_short_number_when_told(vendor):
    vendor.answer(API_TIME, ACCEPTED, ACCEPTED)
    with provider(vendor.url, sender_for_response=True, no_stop_clause=False) as ovh:
        ovh.send([sms(body="Rappel : votre réservation « Ωmega » est prête", encoding="UCS-2"), sms(ref="m-2")])
    first, second = (request.json() for request in vendor.requests[1:])
    assert (first["coding"], first["senderForResponse"], first["noStopClause"]) == ("8bit", True, False)
    assert "sender" not in first and "Ωmega" in first["message"]
    assert second["coding"] == "7bit"
    assert len([r for r in vendor.requests if r.path == "/auth/time"]) == 1  # the clock is read once


def test_it_fails_only_the_message_whose_number_ovhcloud_refuses(vendor):
    vendor.answer(API_TIME, INVALID, ACCEPTED)
    with provider(vendor.url) as ovh:
        results = ovh.send([sms(ref="bad"), sms(ref="good")])
    assert results == [Result.failed("bad", "ovh_invalid_receiver"), Result.sent("good", provider_ref="26929925")]


@pytest.mark.parametrize("status,expected", [
    (429, Result.retry("m-1", "ovh_429")),  # throttled
    (500, Result.retry("m-1", "ovh_500")),
    (503, Result.retry("m-1", "ovh_503")),
    (400, Result.failed("m-1", "ovh_400")),  # bad parameters for this message
])
def test_it_maps_error_statuses_per_message(vendor, status, expected):
    vendor.answer(API_TIME, Canned(status, ERROR))
    with provider(vendor.url) as ovh:
        assert ovh.send([sms()]) == [expected]


@pytest.mark.parametrize("status,code", [(401, "ovh_unauthorized"), (403, "ovh_forbidden"), (404, "ovh_unknown_service")])
def test_it_stops_the_batch_on_an_account_problem(vendor, status, code):
    """Revoked keys or a wrong service name concern every message: a temporary ProviderError that the
    account's circuit counts, and no message marked failed (R-29 is about numbers, not our keys)."""
    vendor.answer(API_TIME, Canned(status, ERROR))
    with provider(vendor.url) as ovh, pytest.raises(ProviderError) as raised:
        ovh.send([sms(), sms(ref="m-2")])
    assert (raised.value.permanent, raised.value.code) == (False, code)
    assert len(vendor.requests) == 2  # the second message was not tried


def test_it_keeps_what_was_accepted_when_the_account_fails_mid_batch(vendor):
    vendor.answer(API_TIME, ACCEPTED, Canned(401, ERROR))
    with provider(vendor.url) as ovh:
        results = ovh.send([sms(ref="m-1"), sms(ref="m-2"), sms(ref="m-3")])
    assert results == [Result.sent("m-1", provider_ref="26929925"), Result.retry("m-2", "ovh_unauthorized"),
                       Result.retry("m-3", "ovh_unauthorized")]


def test_it_retries_a_200_that_names_no_sms(vendor):
    vendor.answer(API_TIME, Canned(200, {"totalCreditsRemoved": 0, "invalidReceivers": [], "ids": []}))
    with provider(vendor.url) as ovh:
        assert ovh.send([sms()]) == [Result.retry("m-1", "ovh_unexpected_answer")]


def test_it_raises_a_temporary_provider_error_when_the_api_refuses_connections():
    """Connection refused: the vendor is down for the whole batch, so the worker retries it later and
    the account's circuit counts the failure (failover to the next account)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with provider(f"http://127.0.0.1:{port}") as ovh, pytest.raises(ProviderError) as raised:
        ovh.send([sms()])
    assert (raised.value.permanent, raised.value.code) == (False, "ovh_unreachable")
