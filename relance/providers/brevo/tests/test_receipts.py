"""Brevo, pure functions: webhook authentication (R-66), SMS event status map (R-29), replies (R-33)."""

from __future__ import annotations

import base64
import json

import pytest

from relance.providers.base import WebhookRequest
from relance.providers.brevo import ADAPTER
from relance.providers.brevo.receipts import e164, parse_inbound, parse_receipts, receipt_of, reply, verify

URL = "https://relance.example/hooks/brevo/tok12345678/receipts"

# The "Sent" SMS event of "Transactional webhooks" (https://developers.brevo.com/docs/transactional-webhooks),
# as documented: to, sms_count, credits_used, messageId, remaining_credit, msg_status, date, type, reference.
SENT = {"id": 26570, "to": "918076001713", "sms_count": 1, "credits_used": 1.5, "messageId": 123,
        "remaining_credit": 11488.845, "msg_status": "sent", "date": "2024-10-09 13:10:17", "type": "transactional",
        "reference": "1hi8srff049z0qzvgt3f"}
# The "Delivered" SMS event of the same page (as reproduced with its values in Brevo integration notes).
DELIVERED = {"id": 26527, "status": "OK", "msg_status": "delivered", "description": "delivered", "to": "919102600071",
             "ts_event": 1728459617, "date": "2024-10-09 13:10:17", "messageId": 123,
             "reference": {"1": "1hi8srff049z0qzvgt3f"}, "tag": ["tag1name"], "type": "transactional"}
# A reply: the delivered event's fields with the reply event and the `reply` text of Brevo's SMS events
# report (GET /v3/transactionalSMS/statistics/events); adapted, Brevo's page shows no reply example.
REPLY = {**DELIVERED, "msg_status": "reply", "description": "reply", "reply": "STOP", "to": "33612345678"}


def call(body, *, headers=None, query=None) -> WebhookRequest:
    return WebhookRequest(method="POST", url=URL, headers=headers or {}, body=json.dumps(body).encode(),
                          query=query or {})


def basic(user: str, password: str) -> dict:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


# --- R-66 ---------------------------------------------------------------------------------------
# "Secure webhook calls" (https://developers.brevo.com/docs/secured-webhooks): a bearer token set
# with `auth: {type: bearer, token}`, or `https://username:password@…` (HTTP basic).
TOKEN = {"webhook_token": "3c90c3cc0d444b508888"}
BASIC = {"webhook_username": "relance", "webhook_password": "p4ss-w0rd"}


def test_it_accepts_the_bearer_token_of_the_webhook():
    assert verify(call(SENT, headers={"authorization": "Bearer 3c90c3cc0d444b508888"}), TOKEN) is True


def test_it_accepts_the_basic_credentials_of_the_webhook():
    assert verify(call(SENT, headers=basic("relance", "p4ss-w0rd")), BASIC) is True


@pytest.mark.parametrize("headers,credentials", [
    ({"authorization": "Bearer 3c90c3cc0d444b508889"}, TOKEN),  # wrong token
    ({"authorization": "Basic 3c90c3cc0d444b508888"}, TOKEN),  # token sent under the wrong scheme
    (basic("relance", "p4ss-w0rD"), BASIC),  # wrong password
    (basic("other", "p4ss-w0rd"), BASIC),  # wrong user
    ({"authorization": "Basic not base64!"}, BASIC),
    ({}, TOKEN),  # no authentication at all
    ({}, BASIC),
])
def test_it_refuses_bad_or_missing_authentication(headers, credentials):
    assert verify(call(SENT, headers=headers), credentials) is False


def test_it_refuses_every_call_when_the_account_defines_no_webhook_secret():
    """Never accept an unauthenticated call by default, whatever the header says."""
    assert verify(call(SENT, headers={"authorization": "Bearer "}), {"api_key": "xkeysib-1"}) is False
    assert verify(call(SENT, headers=basic("", "")), {"webhook_username": "", "webhook_password": ""}) is False
    assert verify(call(SENT, headers=basic("relance", "")), {"webhook_username": "relance"}) is False


# --- status map ----------------------------------------------------------------------------
@pytest.mark.parametrize("msg_status,status,permanent,error", [
    ("sent", "accepted", False, ""),
    ("accepted", "accepted", False, ""),
    ("delivered", "delivered", False, ""),
    ("hard_bounce", "failed", True, "brevo_hard_bounce"),
    ("hardBounce", "failed", True, "brevo_hardbounce"),
    ("soft_bounce", "undeliverable", False, "brevo_soft_bounce"),
    ("blacklisted", "rejected", False, "brevo_blacklisted"),
    ("something_new", "accepted", False, ""),  # unknown: intermediate, changes nothing
])
def test_it_maps_brevo_statuses(msg_status, status, permanent, error):
    receipt = receipt_of({**DELIVERED, "msg_status": msg_status})
    assert (receipt.provider_ref, receipt.status, receipt.permanent, receipt.error) == ("123", status, permanent, error)


def test_it_parses_the_documented_sent_and_delivered_events_and_a_batch():
    assert [(r.provider_ref, r.status) for r in parse_receipts(call(SENT))] == [("123", "accepted")]
    assert [r.status for r in parse_receipts(call([SENT, DELIVERED]))] == ["accepted", "delivered"]


@pytest.mark.parametrize("body", [
    {**DELIVERED, "messageId": None}, {**DELIVERED, "messageId": ""}, {**DELIVERED, "messageId": True},
    {k: v for k, v in DELIVERED.items() if k != "msg_status"}, [], [DELIVERED, "x"], "delivered",
    REPLY,  # a reply on the receipts hook is refused, never acknowledged unapplied
])
def test_it_rejects_malformed_events(body):
    with pytest.raises(ValueError):
        parse_receipts(call(body))


def test_it_rejects_a_body_that_is_not_json():
    with pytest.raises(ValueError):
        parse_receipts(WebhookRequest(method="POST", url=URL, headers={}, body=b"msg_status=delivered"))


# --- replies --------------------------------------------------------------------------------
def test_it_parses_a_reply_for_the_sender_named_in_the_url():
    [inbound] = parse_inbound(call(REPLY, query={"sender": "MEDIATHEQUE"}))
    assert (inbound.sender, inbound.to, inbound.text, inbound.provider_ref) == ("+33612345678", "MEDIATHEQUE", "STOP", "123")


@pytest.mark.parametrize("body,query", [
    (REPLY, {}),  # the URL names none of our senders
    (DELIVERED, {"sender": "MEDIATHEQUE"}),  # a delivery event on the inbound hook
    ({**REPLY, "to": "not a number"}, {"sender": "MEDIATHEQUE"}),
    ({**REPLY, "reply": 42}, {"sender": "MEDIATHEQUE"}),
])
def test_it_rejects_a_malformed_reply(body, query):
    with pytest.raises(ValueError):
        parse_inbound(call(body, query=query))


@pytest.mark.parametrize("raw", ["33612345678", "+33612345678", "0033612345678"])
def test_it_writes_the_number_in_e164(raw):
    assert e164(raw) == "+33612345678"


def test_it_answers_2xx_and_declares_its_credentials():
    assert reply("receipts").status == 200 and reply("inbound").status == 200
    assert ADAPTER.credential_fields == ("api_key",) and "webhook_token" in ADAPTER.optional_credentials
