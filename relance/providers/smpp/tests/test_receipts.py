"""command_status classification (SMPP 3.4 §5.1.3) and the delivery receipt parser, with the
receipt texts SMSCs really send (R-29: a permanent failure must be told from a temporary one)."""

from __future__ import annotations

import pytest

from relance.providers.base import Receipt
from relance.providers.smpp import pdu
from relance.providers.smpp.receipts import error_code, fields, is_permanent, parse_receipt, status_name


@pytest.mark.parametrize("status", [0x58, 0x14, 0x08, 0x64, 0x45, 0xFF, 0x400])
def test_it_classifies_congestion_and_smsc_faults_as_temporary(status):
    """ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR, ESME_RX_T_APPN; unknown vendor codes too."""
    assert not is_permanent(status)


@pytest.mark.parametrize("status", [0x0B, 0x0A, 0x01, 0x65, 0x66, 0x0E, 0x43, 0x50, 0xC4])
def test_it_classifies_refusals_of_the_message_itself_as_permanent(status):
    """ESME_RINVDSTADR, ESME_RINVSRCADR, ESME_RINVMSGLEN, ESME_RX_P_APPN, ESME_RX_R_APPN... (R-29)."""
    assert is_permanent(status)


def test_it_names_codes_the_way_results_and_logs_carry_them():
    assert error_code(0x58) == "smpp_0x58" and error_code(0x0B) == "smpp_0x0b"
    assert status_name(0x58) == "ESME_RTHROTTLED" and status_name(0x1234) == "0x00001234"


# Formats, each from where it was seen.
APPENDIX_B = ("id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191018 stat:DELIVRD "
              "err:000 Text:Rappel : RDV demain")  # SMPP 3.4 Appendix B, table B-1 (capital T as printed)
KANNEL_STYLE = ("id:9b1a2f sub:001 dlvrd:000 submit date:2405011200 done date:2405011201 stat:UNDELIV "
                "err:001 text:")  # Kannel's smsc_smpp.c reads this layout (user guide, "DLR")
NO_SUB_DLVRD_TEXT = "id:7be8e0c600 submit date:2405011200 done date:2405011230 stat:EXPIRED err:027"
MINIMAL = "id:abc123 stat:REJECTD err:000"  # seen from aggregators and our simulator's "minimal"
GO_SMPP_NO_ERR = "id:42 sub:001 dlvrd:001 submit date:240501120000 done date:240501120001 stat:DELIVRD text:x "
LOWER_CASE = "ID:55 SUB:001 DLVRD:001 SUBMIT DATE:2405011200 DONE DATE:2405011200 STAT:delivrd ERR:0"


@pytest.mark.parametrize(("text", "expected"), [
    (APPENDIX_B, Receipt("0123456789", "delivered", "", False)),
    (KANNEL_STYLE, Receipt("9b1a2f", "undeliverable", "UNDELIV:001", True)),
    (NO_SUB_DLVRD_TEXT, Receipt("7be8e0c600", "expired", "EXPIRED:027", False)),
    (MINIMAL, Receipt("abc123", "rejected", "REJECTD", True)),
    (GO_SMPP_NO_ERR, Receipt("42", "delivered", "", False)),
    (LOWER_CASE, Receipt("55", "delivered", "", False)),
])
def test_it_reads_receipt_texts_with_or_without_optional_fields(text, expected):
    assert parse_receipt(text) == expected


def test_it_keeps_the_text_field_whole_and_the_first_of_a_repeated_field():
    found = fields("id:1 stat:DELIVRD text:stat:UNDELIV id:2")
    assert found["id"] == "1" and found["stat"] == "DELIVRD"


def test_it_prefers_receipted_message_id_to_the_text():
    """§5.3.2.12: the TLV is the SMSC's own field; some SMSCs write a decimal id in the text."""
    tlvs = {pdu.TLV_RECEIPTED_MESSAGE_ID: b"1f\x00"}
    assert parse_receipt("id:31 stat:DELIVRD err:000", tlvs).provider_ref == "1f"


def test_it_reads_a_receipt_made_of_tlvs_only():
    """§5.3.2.35 message_state 5 (UNDELIVERABLE), §5.3.2.31 network_error_code GSM 011."""
    tlvs = {pdu.TLV_RECEIPTED_MESSAGE_ID: b"abc\x00", pdu.TLV_MESSAGE_STATE: b"\x05",
            pdu.TLV_NETWORK_ERROR_CODE: b"\x03\x00\x0b"}
    assert parse_receipt("", tlvs) == Receipt("abc", "undeliverable", "UNDELIV:011", True)


@pytest.mark.parametrize(("stat", "status"), [
    ("DELETED", "deleted"), ("UNKNOWN", "unknown"), ("ACCEPTD", "accepted"), ("ENROUTE", "enroute"),
    ("WHATEVER", "unknown"),
])
def test_it_maps_every_appendix_b_state(stat, status):
    receipt = parse_receipt(f"id:1 stat:{stat}")
    assert receipt.status == status and not receipt.permanent


def test_it_keeps_an_absent_subscriber_temporary():
    """GSM MAP 027 (absent subscriber) may succeed later: not a permanent failure for R-29."""
    assert not parse_receipt("id:1 stat:UNDELIV err:027").permanent


def test_it_gives_nothing_for_a_receipt_without_an_id():
    assert parse_receipt("sub:001 dlvrd:001 stat:DELIVRD") is None
