"""OVHcloud SMS, pure functions: callback secret (R-66), DLR / ptt status map (R-29), reply parser (R-33)."""

from __future__ import annotations

import pytest

from relance.providers.base import WebhookRequest
from relance.providers.ovh import ADAPTER
from relance.providers.ovh.client import signature
from relance.providers.ovh.receipts import e164, parse_inbound, parse_receipts, receipt_of, reply, verify

SECRET = {"callback_secret": "s3cr3t-callback-value"}
URL = "https://relance.example/hooks/ovh/tok12345678/receipts"


def call(query: dict | None = None, form: dict | None = None, method: str = "GET") -> WebhookRequest:
    return WebhookRequest(method=method, url=URL, headers={}, query=query or {}, form=form or {})


# A delivery report as OVHcloud sends it: the query string fields of "Everything you need to know
# about SMS users", step 5 (id, ptt, date, description, descriptionDlr), with the SMS id of the job
# answer in "Sending SMS messages with the OVHcloud API in PHP" (26929925).
# https://help.ovhcloud.com/csm/en-ie-sms-users?id=kb_article_view&sysparm_article=KB0051414
def dlr(description: str, ptt: str, **extra) -> dict:
    return {"id": "26929925", "ptt": ptt, "date": "2020-06-25 10:12:31", "description": description,
            "descriptionDlr": extra.pop("descriptionDlr", ""), **extra}


# --- the callback secret --------------------------------------------------------------------
def test_it_accepts_the_callback_secret_of_the_account():
    assert verify(call({"secret": "s3cr3t-callback-value", **dlr("1", "4")}), SECRET) is True


def test_it_refuses_a_wrong_secret():
    assert verify(call({"secret": "s3cr3t-callback-valuf"}), SECRET) is False


def test_it_refuses_a_call_without_a_secret():
    assert verify(call(dlr("1", "4")), SECRET) is False


def test_it_refuses_every_call_when_the_account_has_no_callback_secret():
    """R-66: never accept an unsigned call by default, even one carrying an empty secret."""
    assert verify(call({"secret": ""}), {}) is False
    assert verify(call({"secret": "anything"}), {"callback_secret": ""}) is False


def test_it_signs_requests_like_ovhcloud_s_worked_example():
    """The pre-hash and post-hash of "First steps with the OVHcloud APIs", "Signing requests"
    (https://docs.ovh.com/gb/en/api/first-steps-with-ovh-api/)."""
    assert signature("EXEgWIz07P0HYwtQDs7cNIqCiQaWSuHF", "MtSwSrPpNjqfVSmJhLbPyr2i45lSwPU1", "GET",
                     "https://eu.api.ovh.com/1.0/domains/", "", 1366560945) == "$1$d3705e8afb27a0d2970a322b96550abfc67bb798"


# --- the status map -------------------------------------------------------------------------
@pytest.mark.parametrize("description,ptt,status,permanent,error", [
    ("1", "4", "delivered", False, ""),  # DLR 1 success, ptt 4 delivered
    ("0", "3", "accepted", False, ""),  # creating or pending, accepted by the operator
    ("4", "1", "accepted", False, ""),  # pending, retried for a phone issue
    ("8", "2", "accepted", False, ""),  # buffered
    ("2", "23", "failed", True, "ovh_ptt_23"),  # invalid / barred MSISDN: "should not be used again"
    ("2", "27", "failed", True, "ovh_ptt_27"),  # handset permanently incompatible
    ("16", "29", "failed", True, "ovh_ptt_29"),  # content not permitted
    ("2", "24", "undeliverable", False, "ovh_ptt_24"),  # subscriber temporarily absent
    ("2", "25", "undeliverable", False, "ovh_ptt_25"),  # temporary network condition
    ("2", "8", "expired", False, "ovh_ptt_8"),  # expired in the SMSC
    ("2", "", "undeliverable", False, "ovh_dlr_2"),  # no ptt given
])
def test_it_maps_dlr_and_ptt_codes(description, ptt, status, permanent, error):
    receipt = receipt_of(dlr(description, ptt))
    assert (receipt.provider_ref, receipt.status, receipt.permanent, receipt.error) == (
        "26929925", status, permanent, error)


def test_it_reads_a_report_posted_as_a_form_too():
    [receipt] = parse_receipts(call(form=dlr("1", "4"), method="POST"))
    assert (receipt.provider_ref, receipt.status) == ("26929925", "delivered")


@pytest.mark.parametrize("params", [
    {},
    dlr("1", "4", id=""),
    dlr("1", "4", id="abc"),
    dlr("3", "4"),  # not a DLR status OVHcloud documents
    {"id": "26929925", "ptt": "4"},
])
def test_it_rejects_a_malformed_report(params):
    with pytest.raises(ValueError):
        parse_receipts(call(params))


# --- replies ------------------------------------------------------------------------------
# The reply callback's fields (shortcode, senderid, message, id, tag) as a public integration reads
# them (github.com/betagouv/Aidants_Connect, aidants_connect_web/views/sms.py); OVHcloud's guides do
# not list them. 36111 is the short number of OVHcloud's "STOP 36111" mention (ovhtelecom.fr API SMS page).
def reply_form(**changes) -> dict:
    return {"shortcode": "36111", "senderid": "0033612345678", "message": "STOP", "id": "3204", "tag": "", **changes}


def test_it_parses_a_reply_with_the_number_in_e164():
    [inbound] = parse_inbound(call(form=reply_form(), method="POST"))
    assert (inbound.sender, inbound.to, inbound.text, inbound.provider_ref) == ("+33612345678", "36111", "STOP", "3204")


@pytest.mark.parametrize("raw,expected", [("+33612345678", "+33612345678"), ("0033612345678", "+33612345678"),
                                          ("33612345678", "+33612345678"), (" +33 6 12 34 56 78", "+33612345678")])
def test_it_normalises_the_forms_of_a_number(raw, expected):
    assert e164(raw) == expected


@pytest.mark.parametrize("form", [reply_form(senderid="0612345678x"), reply_form(senderid=""),
                                  reply_form(shortcode=""), {"shortcode": "36111", "senderid": "+33612345678"}])
def test_it_rejects_a_malformed_reply(form):
    with pytest.raises(ValueError):
        parse_inbound(call(form=form, method="POST"))


def test_it_answers_an_empty_200_and_declares_what_the_account_needs():
    assert (reply("receipts").status, reply("inbound").body) == (200, b"")
    assert ADAPTER.kind == "ovh" and "callback_secret" in ADAPTER.credential_fields
