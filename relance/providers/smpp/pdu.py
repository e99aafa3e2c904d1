"""SMPP 3.4 PDUs as bytes and back (pure: no sockets). Field layouts from the SMPP 3.4 specification
(issue 1.2, 1999), §4 (operations) and §5.3 (optional parameters, "TLVs").

Only what an ESME transceiver needs is encoded: bind_transceiver, submit_sm, enquire_link, unbind,
the responses we owe (deliver_sm_resp, data_sm_resp, enquire_link_resp, unbind_resp, generic_nack).
Decoding turns any PDU into `Pdu(command_id, status, sequence, body)`, and `deliver_sm` / `data_sm`
bodies into `Message` values. Text coding (GSM 03.38 unpacked, Latin-1, UCS-2) sits here as well.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from relance.lib.sms_text import ESCAPE, GSM_BASIC, GSM_EXTENSION

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
TLV_HEAD = struct.Struct(">HH")
MAX_PDU = 64 * 1024  # a length above this is a corrupt stream, not a message

GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER, BIND_TRANSCEIVER_RESP = 0x00000009, 0x80000009
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
DELIVER_SM, DELIVER_SM_RESP = 0x00000005, 0x80000005
UNBIND, UNBIND_RESP = 0x00000006, 0x80000006
ENQUIRE_LINK, ENQUIRE_LINK_RESP = 0x00000015, 0x80000015
DATA_SM, DATA_SM_RESP = 0x00000103, 0x80000103
ALERT_NOTIFICATION = 0x00000102  # has no response (§4.12)
OUTBIND = 0x0000000B  # an ESME that binds itself ignores it

# Optional parameters (§5.3.2).
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_SAR_MSG_REF_NUM, TLV_SAR_TOTAL_SEGMENTS, TLV_SAR_SEGMENT_SEQNUM = 0x020C, 0x020E, 0x020F
TLV_NETWORK_ERROR_CODE = 0x0423
TLV_MESSAGE_PAYLOAD = 0x0424
TLV_MESSAGE_STATE = 0x0427

ESM_RECEIPT = 0x04  # esm_class bits 2-5 = 0001: SMSC delivery receipt (§5.2.12)
ESM_UDHI = 0x40
DC_DEFAULT, DC_LATIN1, DC_UCS2 = 0x00, 0x03, 0x08
INTERFACE_VERSION = 0x34


class Pdu(NamedTuple):  # a tuple, not a dataclass: the reader makes one per PDU, thousands a second
    command_id: int
    status: int
    sequence: int
    body: bytes = b""


@dataclass(frozen=True)
class Message:
    """A deliver_sm or data_sm: a receipt or a message from a person (MO)."""

    source: str
    source_ton: int
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    tlvs: dict[int, bytes] = field(default_factory=dict)

    @property
    def is_receipt(self) -> bool:
        return bool(self.esm_class & 0x3C == ESM_RECEIPT)

    @property
    def payload(self) -> bytes:
        """short_message, or message_payload when short_message is empty (§5.3.2.32)."""
        return self.short_message or self.tlvs.get(TLV_MESSAGE_PAYLOAD, b"")


class PduError(ValueError):
    """A PDU whose fields do not parse (a corrupt or truncated body)."""


# --- encoding -------------------------------------------------------------------------------------
def cstr(value: str | bytes) -> bytes:
    """A C-octet string: the value then NUL (§3.1)."""
    raw = value.encode("ascii", "replace") if isinstance(value, str) else value
    return raw + b"\x00"


def pack(command_id: int, sequence: int, body: bytes = b"", status: int = 0) -> bytes:
    return HEADER.pack(16 + len(body), command_id, status, sequence) + body


def tlv(tag: int, value: bytes) -> bytes:
    return TLV_HEAD.pack(tag, len(value)) + value


def bind_transceiver(sequence: int, system_id: str, password: str, system_type: str = "") -> bytes:
    """§4.1.5: addr_ton, addr_npi 0 and an empty address_range (we receive for every address)."""
    body = cstr(system_id) + cstr(password) + cstr(system_type) + bytes((INTERFACE_VERSION, 0, 0)) + b"\x00"
    return pack(BIND_TRANSCEIVER, sequence, body)


def address(ton: int, npi: int, number: str) -> bytes:
    return bytes((ton, npi)) + cstr(number)


def submit_sm_body(source: bytes, destination: bytes, text: bytes, *, esm_class: int = 0, data_coding: int = 0,
                   registered_delivery: int = 1, service_type: bytes = b"", tlvs: bytes = b"") -> bytes:
    """§4.4.1 (deliver_sm, §4.6.1, has the same layout). `source` and `destination` come from
    `address()` (callers cache their sender's)."""
    if len(text) > 254:
        raise PduError("short_message holds at most 254 octets: split the text first")
    return b"".join((cstr(service_type), source, destination,
                     bytes((esm_class, 0, 0, 0, 0, registered_delivery, 0, data_coding, 0, len(text))), text, tlvs))


def response(command_id: int, sequence: int, status: int = 0, body: bytes = b"") -> bytes:
    """The response to a request: its command_id with bit 31 set (§5.1.2.1)."""
    return pack(command_id | 0x80000000, sequence, body, status)


# --- decoding -------------------------------------------------------------------------------------
def split_stream(buffer: bytearray) -> tuple[list[Pdu], int]:
    """The complete PDUs at the start of `buffer`, and how many bytes they took."""
    pdus, pos, size = [], 0, len(buffer)
    unpack = HEADER.unpack_from
    while size - pos >= 16:
        length, command_id, status, sequence = unpack(buffer, pos)
        if length < 16 or length > MAX_PDU:
            raise PduError(f"command_length {length} is out of range")
        if size - pos < length:
            break
        pdus.append(Pdu(command_id, status, sequence, bytes(buffer[pos + 16:pos + length])))
        pos += length
    return pdus, pos


def read_cstr(body: bytes, pos: int) -> tuple[bytes, int]:
    end = body.find(b"\x00", pos)
    if end < 0:
        raise PduError("a C-octet string has no terminating NUL")
    return body[pos:end], end + 1


def message_id(body: bytes) -> str:
    """submit_sm_resp's message_id (an error response may carry no body at all, §4.4.2)."""
    end = body.find(b"\x00")
    return (body[:end] if end >= 0 else body).decode("ascii", "replace")


def read_tlvs(body: bytes, pos: int) -> dict[int, bytes]:
    tlvs = {}
    while pos + 4 <= len(body):
        tag, length = TLV_HEAD.unpack_from(body, pos)
        if pos + 4 + length > len(body):
            raise PduError(f"optional parameter 0x{tag:04x} runs past the end of the PDU")
        tlvs[tag] = body[pos + 4:pos + 4 + length]
        pos += 4 + length
    return tlvs


def _addresses(body: bytes) -> tuple[bytes, int, bytes, int]:
    """service_type, source and destination addresses; (source, source_ton, destination, next pos)."""
    _, pos = read_cstr(body, 0)
    source_ton = body[pos]
    source, pos = read_cstr(body, pos + 2)
    destination, pos = read_cstr(body, pos + 2)
    return source, source_ton, destination, pos


def _text(raw: bytes) -> str:
    return raw.decode("ascii", "replace")


def deliver_sm(body: bytes) -> Message:
    """§4.6.1 (submit_sm, §4.4.1, has the same layout: the test peers read submits with it)."""
    try:
        source, source_ton, destination, pos = _addresses(body)
        esm_class = body[pos]
        pos = read_cstr(body, pos + 3)[1]  # after protocol_id, priority_flag: schedule_delivery_time
        pos = read_cstr(body, pos)[1]  # validity_period
        data_coding, length = body[pos + 2], body[pos + 4]  # registered_delivery, replace_if_present first
        pos += 4
        short_message = body[pos + 1:pos + 1 + length]
        if len(short_message) != length:
            raise PduError("short_message is shorter than sm_length")
        tlvs = read_tlvs(body, pos + 1 + length)
    except IndexError:
        raise PduError("deliver_sm is truncated") from None
    return Message(_text(source), source_ton, _text(destination), esm_class, data_coding, short_message, tlvs)


def data_sm(body: bytes) -> Message:
    """§4.7.1: addresses, esm_class, registered_delivery, data_coding, then TLVs only."""
    try:
        source, source_ton, destination, pos = _addresses(body)
        esm_class, data_coding = body[pos], body[pos + 2]
        tlvs = read_tlvs(body, pos + 3)
    except IndexError:
        raise PduError("data_sm is truncated") from None
    return Message(_text(source), source_ton, _text(destination), esm_class, data_coding, b"", tlvs)


# --- text -----------------------------------------------------------------------------------------
_TO_GSM = {ord(ch): chr(code) for ch, code in GSM_BASIC.items()}
_TO_GSM.update({ord(ch): chr(ESCAPE) + chr(code) for ch, code in GSM_EXTENSION.items()})
_FROM_GSM = {code: ch for ch, code in GSM_BASIC.items()}
_FROM_GSM_EXTENSION = {code: ch for ch, code in GSM_EXTENSION.items()}


def encode_gsm(text: str) -> bytes:
    """GSM 03.38 default alphabet, unpacked (one septet per octet), extension characters escaped.
    The caller has checked the text is GSM (sms_text.encoding_of); anything else becomes '?'."""
    return text.translate(_TO_GSM).encode("latin-1", "replace")


def decode_gsm(raw: bytes) -> str:
    out, escaped = [], False
    for octet in raw:
        if escaped:
            out.append(_FROM_GSM_EXTENSION.get(octet, _FROM_GSM.get(octet, "?")))
            escaped = False
        elif octet == ESCAPE:
            escaped = True
        else:
            out.append(_FROM_GSM.get(octet & 0x7F, "?"))
    return "".join(out)


def decode_text(raw: bytes, data_coding: int) -> str:
    """data_coding 0 GSM default alphabet, 3 Latin-1, 8 UCS-2 (UTF-16-BE); 1 (IA5/ASCII) like Latin-1."""
    if data_coding == DC_UCS2:
        return raw[: len(raw) & ~1].decode("utf-16-be", "replace")
    if data_coding in (DC_LATIN1, 0x01):
        return raw.decode("latin-1")
    return decode_gsm(raw)


def concatenation_udh(reference: int, total: int, number: int) -> bytes:
    """The 8-bit reference concatenation header (3GPP TS 23.040 §9.2.3.24.1): 05 00 03 ref total seq."""
    return bytes((5, 0, 3, reference & 0xFF, total, number))


def strip_udh(raw: bytes) -> tuple[bytes, tuple[int, int, int] | None]:
    """The text after the user data header, and (reference, total, number) if it says concatenated."""
    if not raw or raw[0] + 1 > len(raw):
        return raw, None
    header, text = raw[1:raw[0] + 1], raw[raw[0] + 1:]
    pos = 0
    while pos + 2 <= len(header):
        iei, length = header[pos], header[pos + 1]
        value = header[pos + 2:pos + 2 + length]
        if iei == 0x00 and length == 3:
            return text, (value[0], value[1], value[2])
        if iei == 0x08 and length == 4:  # 16-bit reference
            return text, ((value[0] << 8) | value[1], value[2], value[3])
        pos += 2 + length
    return text, None
