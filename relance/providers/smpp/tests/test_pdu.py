"""The SMPP 3.4 codec (pure): PDUs, TLVs, GSM 03.38 text and concatenation headers round-trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.lib import sms_text
from relance.providers.smpp import pdu

GSM_TEXT = st.text(alphabet=st.sampled_from(sorted(set(sms_text.GSM_BASIC) | set(sms_text.GSM_EXTENSION))))
NUMBERS = st.text(alphabet="0123456789", min_size=1, max_size=20)


def test_it_packs_a_header_with_the_whole_length():
    raw = pdu.pack(pdu.ENQUIRE_LINK, 7)
    assert raw == bytes.fromhex("00000010 00000015 00000000 00000007")


def test_it_encodes_bind_transceiver_as_the_spec_lays_it_out():
    """SMPP 3.4 §4.1.5: system_id, password, system_type, interface_version 0x34, ton, npi, range."""
    raw = pdu.bind_transceiver(1, "relance", "secret", "VMA")
    [item], used = pdu.split_stream(bytearray(raw))
    assert used == len(raw) and item.command_id == pdu.BIND_TRANSCEIVER and item.sequence == 1
    assert item.body == b"relance\x00secret\x00VMA\x00\x34\x00\x00\x00"


@given(source=NUMBERS, destination=NUMBERS, text=st.binary(max_size=254), esm=st.integers(0, 255),
       coding=st.integers(0, 255), sequence=st.integers(1, 0x7FFFFFFF))
def test_it_reads_back_every_submit_it_writes(source, destination, text, esm, coding, sequence):
    body = pdu.submit_sm_body(pdu.address(5, 0, source), pdu.address(1, 1, destination), text, esm_class=esm,
                              data_coding=coding, tlvs=pdu.tlv(pdu.TLV_RECEIPTED_MESSAGE_ID, b"ab\x00"))
    [item], _ = pdu.split_stream(bytearray(pdu.pack(pdu.SUBMIT_SM, sequence, body)))
    message = pdu.deliver_sm(item.body)
    assert (message.source, message.source_ton, message.destination) == (source, 5, destination)
    assert (message.esm_class, message.data_coding, message.short_message) == (esm, coding, text)
    assert message.tlvs == {pdu.TLV_RECEIPTED_MESSAGE_ID: b"ab\x00"} and item.sequence == sequence


def test_it_refuses_a_short_message_over_254_octets():
    with pytest.raises(pdu.PduError):
        pdu.submit_sm_body(pdu.address(1, 1, "1"), pdu.address(1, 1, "2"), b"x" * 255)


@given(st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFFFFFF), st.binary(max_size=40)),
                max_size=8), st.integers(0, 40))
def test_it_splits_a_stream_at_pdu_boundaries_wherever_the_reads_cut_it(pdus, cut):
    stream = b"".join(pdu.pack(command, sequence, body) for command, sequence, body in pdus)
    buffer, seen = bytearray(stream[:cut]), []
    found, used = pdu.split_stream(buffer)
    seen += found
    buffer = bytearray(buffer[used:] + stream[cut:])
    found, used = pdu.split_stream(buffer)
    seen += found
    assert used == len(buffer)
    assert [(p.command_id, p.sequence, p.body) for p in seen] == pdus


def test_it_refuses_a_length_that_cannot_be_a_pdu():
    with pytest.raises(pdu.PduError):
        pdu.split_stream(bytearray(bytes.fromhex("00000004 00000015 00000000 00000001")))


def test_it_reads_a_message_id_with_or_without_its_nul():
    assert pdu.message_id(b"1a2b\x00") == "1a2b"
    assert pdu.message_id(b"") == ""  # an error submit_sm_resp may have no body (§4.4.2)


def test_it_reads_data_sm_with_its_payload():
    body = (b"\x00" + pdu.address(1, 1, "33612345678") + pdu.address(5, 0, "Clinique") + bytes((0, 0, 8))
            + pdu.tlv(pdu.TLV_MESSAGE_PAYLOAD, "ARRÊT".encode("utf-16-be")))
    message = pdu.data_sm(body)
    assert message.source == "33612345678" and message.data_coding == 8
    assert pdu.decode_text(message.payload, message.data_coding) == "ARRÊT"


def test_it_says_which_deliver_sm_is_a_receipt():
    def message(esm):
        return pdu.Message("1", 1, "2", esm, 0, b"")

    assert message(0x04).is_receipt and not message(0x00).is_receipt and not message(0x40).is_receipt


@given(GSM_TEXT)
def test_it_round_trips_gsm_text_unpacked_with_escapes(text):
    raw = pdu.encode_gsm(text)
    assert len(raw) == sms_text.analyse(text).length_units  # one octet per septet
    assert pdu.decode_gsm(raw) == text


def test_it_encodes_gsm_with_the_default_alphabet_not_ascii():
    """GSM 03.38: @ is 0x00, $ is 0x02, é is 0x05, € is 0x1B 0x65."""
    assert pdu.encode_gsm("@$é€") == bytes((0x00, 0x02, 0x05, 0x1B, 0x65))


@pytest.mark.parametrize(("raw", "coding", "text"), [
    (b"STOP", 0, "STOP"), ("arrêt".encode("latin-1"), 3, "arrêt"), ("Arrêt ✋".encode("utf-16-be"), 8, "Arrêt ✋"),
])
def test_it_decodes_mo_text_by_data_coding(raw, coding, text):
    assert pdu.decode_text(raw, coding) == text


def test_it_writes_and_reads_the_8_bit_concatenation_header():
    """3GPP TS 23.040 §9.2.3.24.1: 05 00 03 reference total number."""
    udh = pdu.concatenation_udh(0x1A3, 3, 2)
    assert udh == bytes.fromhex("0500 03a3 0302")
    assert pdu.strip_udh(udh + b"abc") == (b"abc", (0xA3, 3, 2))
    assert pdu.strip_udh(bytes.fromhex("0608 04 0102 0301") + b"x") == (b"x", (0x0102, 3, 1))
