"""Vonage SMS API webhooks, pure: signed webhooks (R-66), DLR status map (R-29), receipts, inbound SMS."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from relance.providers.base import Inbound, Receipt, WebhookRequest
from relance.providers.vonage import receipts

# The vector of Vonage's own Python library tests for the default "MD5 hash" signature of
# https://developer.vonage.com/en/getting-started/concepts/signing-messages (secret "secret").
VECTOR = {"a": "1", "b": "2", "timestamp": "1461605396"}
VECTOR_SIG = "6af838ef94998832dbfc29020b564830"

# The delivery receipt of https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts,
# verbatim ("a typical DLR").
DLR = {"err-code": "0", "message-timestamp": "2018-10-25 12:10:29", "messageId": "0B00000127FDBC63",
       "msisdn": "447547232824", "network-code": "23410", "price": "0.03330000", "scts": "1810251310",
       "status": "delivered", "to": "Nexmo CLI"}

# The inbound SMS example of https://developer.vonage.com/en/api/sms#inbound-sms (its field examples).
INBOUND = {"api-key": "abcd1234", "msisdn": "447700900001", "to": "447700900000", "messageId": "0A0000000123ABCD1",
           "text": "Hello world", "type": "text", "keyword": "HELLO", "message-timestamp": "2020-01-01 12:00:00",
           "timestamp": "1578787200", "nonce": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}

CREDENTIALS = {"api_key": "abcd1234", "api_secret": "abcdef0123456789", "signature_secret": "secret"}


def get(params: dict) -> WebhookRequest:
    return WebhookRequest(method="GET", url="https://relance.example/hooks/vonage/t/receipts", headers={},
                          query=params)


def post_json(params) -> WebhookRequest:
    return WebhookRequest(method="POST", url="https://relance.example/hooks/vonage/t/receipts",
                          headers={"content-type": "application/json"}, body=json.dumps(params).encode())


def signed(params: dict, secret: str = "secret", method: str = "md5hash") -> dict:
    return {**params, "sig": receipts.signature(params, secret, method)}


# --- signature (R-66) ----------------------------------------------------------------------------
def test_it_computes_vonages_md5_hash_signature():
    """R-66: the documented scheme gives the value of Vonage's own test vector."""
    assert receipts.signature(VECTOR, "secret") == VECTOR_SIG
    assert receipts.verify(get({**VECTOR, "sig": VECTOR_SIG}), CREDENTIALS) is True


@pytest.mark.parametrize("method", ["md5", "sha1", "sha256", "sha512"])
def test_it_checks_hmac_signatures_whatever_their_case(method):
    """R-66: the HMAC methods sign "&name=value..." keyed with the secret; Vonage sends upper-case hex."""
    params = {**INBOUND}
    string = "".join(f"&{k}={params[k]}" for k in sorted(params))
    sig = hmac.new(b"secret", string.encode(), getattr(hashlib, method)).hexdigest().upper()
    credentials = {**CREDENTIALS, "signature_method": method}
    assert receipts.verify(get({**params, "sig": sig}), credentials) is True
    assert receipts.verify(get({**params, "text": "STOP", "sig": sig}), credentials) is False


def test_it_replaces_ampersands_and_equals_in_signed_values():
    """The documented rule: '&' and '=' in values become '_' in the signed string."""
    params = {"text": "a&b=c", "timestamp": "1"}
    expected = hashlib.md5(b"&text=a_b_c&timestamp=1secret").hexdigest()  # noqa: S324 - Vonage's scheme
    assert receipts.signature(params, "secret") == expected


@pytest.mark.parametrize("change", [
    {"params": {**VECTOR, "b": "3", "sig": VECTOR_SIG}},
    {"params": {**VECTOR, "sig": "0" * 32}},
    {"params": dict(VECTOR)},  # no sig at all
    {"credentials": {**CREDENTIALS, "signature_secret": "other"}},
    {"credentials": {"api_key": "abcd1234", "api_secret": "x"}},  # no signature secret: refuse
    {"credentials": {**CREDENTIALS, "signature_method": "sha256"}},  # an md5hash sig under another method
    {"credentials": {**CREDENTIALS, "signature_method": "crc32"}},
])
def test_it_refuses_changed_unsigned_or_uncheckable_calls(change):
    """R-66: a changed field, a wrong or missing sig, no secret to check it with: refused."""
    params = change.get("params", {**VECTOR, "sig": VECTOR_SIG})
    assert receipts.verify(get(params), change.get("credentials", CREDENTIALS)) is False


def test_it_refuses_a_call_naming_another_api_key():
    """R-66: a correctly signed call about another Vonage account is not ours."""
    params = signed({**INBOUND, "api-key": "zzzz9999"})
    assert receipts.verify(get(params), CREDENTIALS) is False
    assert receipts.verify(get(signed(INBOUND)), CREDENTIALS) is True


def test_it_verifies_json_and_form_posts_alike():
    """The dashboard may choose GET, POST or POST-JSON: the same fields are signed."""
    params = signed(DLR)
    assert receipts.verify(post_json(params), CREDENTIALS) is True
    form = WebhookRequest("POST", "https://relance.example/x", {}, body=b"...", form=params)
    assert receipts.verify(form, CREDENTIALS) is True
    assert receipts.verify(post_json([params]), CREDENTIALS) is False


# --- status map (R-29) ---------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "code", "expected"), [
    ("delivered", "0", Receipt("X", "delivered")),
    ("accepted", "0", Receipt("X", "accepted")),
    ("buffered", "0", Receipt("X", "accepted")),
    ("unknown", "1", Receipt("X", "accepted", error="vonage_1")),
    ("expired", "2", Receipt("X", "expired", error="vonage_2")),
    ("failed", "3", Receipt("X", "failed", error="vonage_3", permanent=True)),
    ("failed", "4", Receipt("X", "failed", error="vonage_4", permanent=True)),
    ("rejected", "9", Receipt("X", "failed", error="vonage_9", permanent=True)),
    ("failed", "12", Receipt("X", "failed", error="vonage_12", permanent=True)),
    ("failed", "14", Receipt("X", "failed", error="vonage_14", permanent=True)),
    ("failed", "6", Receipt("X", "undeliverable", error="vonage_6")),
    ("failed", "8", Receipt("X", "undeliverable", error="vonage_8")),
    ("rejected", "11", Receipt("X", "rejected", error="vonage_11")),
    ("failed", "99", Receipt("X", "undeliverable", error="vonage_99")),
])
def test_it_maps_dlr_statuses_and_error_codes(status, code, expected):
    """R-29: only the err-codes about the number itself are permanent; expired fails without counting."""
    assert receipts.receipt_of({"messageId": "X", "status": status, "err-code": code}) == expected


# --- parsers -------------------------------------------------------------------------------------
def test_it_parses_the_documented_delivery_receipt_from_json_or_query():
    expected = [Receipt("0B00000127FDBC63", "delivered")]
    assert receipts.parse_receipts(post_json(DLR)) == expected
    assert receipts.parse_receipts(get(DLR)) == expected


def test_it_parses_the_documented_inbound_sms_with_numbers_in_e164():
    assert receipts.parse_inbound(get(INBOUND)) == [
        Inbound(sender="+447700900001", to="+447700900000", text="Hello world", provider_ref="0A0000000123ABCD1")]


def test_it_keeps_a_short_code_as_it_is():
    assert receipts.parse_inbound(get({**INBOUND, "to": "36111"}))[0].to == "36111"


def test_it_hands_on_only_the_first_part_of_a_concatenated_message():
    """The documented concat fields: a later part alone is not a message (and not a keyword)."""
    part = {**INBOUND, "concat": "true", "concat-ref": "1", "concat-total": "3"}
    assert len(receipts.parse_inbound(get({**part, "concat-part": "1"}))) == 1
    assert receipts.parse_inbound(get({**part, "concat-part": "2", "text": "STOP"})) == []


@pytest.mark.parametrize("params", [{}, {"messageId": "X"}, {"status": "delivered"}])
def test_it_refuses_a_malformed_receipt(params):
    with pytest.raises(ValueError):
        receipts.parse_receipts(get(params))


@pytest.mark.parametrize("params", [{}, {"msisdn": "447700900001", "to": "447700900000"},
                                    {"to": "447700900000", "text": "STOP"}])
def test_it_refuses_a_malformed_inbound_sms(params):
    with pytest.raises(ValueError):
        receipts.parse_inbound(get(params))


def test_it_refuses_a_json_body_that_is_not_an_object():
    with pytest.raises(ValueError):
        receipts.parse_receipts(post_json(["not", "an", "object"]))


def test_it_answers_an_empty_2xx():
    answer = receipts.reply("receipts")
    assert answer.status == 204 and answer.body == b""
