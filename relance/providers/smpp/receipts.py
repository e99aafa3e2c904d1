"""Pure SMPP knowledge: what a command_status means, and what a delivery receipt says.

`classify(status)` says whether an error answer to submit_sm is worth retrying; `parse_receipt(text,
tlvs)` reads a receipt carried by deliver_sm or data_sm into a `Receipt`. Plain values in and out.
"""

from __future__ import annotations

import re

from relance.providers.base import Receipt

from . import pdu

# --- command_status (SMPP 3.4 §5.1.3, table 5-2) ------------------------------------------------
# True: permanent (the same PDU will be refused again: fail the message, R-29 counts it).
# False: temporary (congestion, a fault on the SMSC's side: retry later).
# Codes not listed (reserved, or vendor-specific 0x400-0x4FF) count as temporary: retrying a message
# a bounded number of times costs less than failing one a network could have delivered.
COMMAND_STATUS: dict[int, tuple[str, bool]] = {
    0x01: ("ESME_RINVMSGLEN", True), 0x02: ("ESME_RINVCMDLEN", True), 0x03: ("ESME_RINVCMDID", True),
    0x04: ("ESME_RINVBNDSTS", False), 0x05: ("ESME_RALYBND", False), 0x06: ("ESME_RINVPRTFLG", True),
    0x07: ("ESME_RINVREGDLVFLG", True), 0x08: ("ESME_RSYSERR", False), 0x0A: ("ESME_RINVSRCADR", True),
    0x0B: ("ESME_RINVDSTADR", True), 0x0C: ("ESME_RINVMSGID", True), 0x0D: ("ESME_RBINDFAIL", True),
    0x0E: ("ESME_RINVPASWD", True), 0x0F: ("ESME_RINVSYSID", True), 0x11: ("ESME_RCANCELFAIL", False),
    0x13: ("ESME_RREPLACEFAIL", False), 0x14: ("ESME_RMSGQFUL", False), 0x15: ("ESME_RINVSERTYP", True),
    0x33: ("ESME_RINVNUMDESTS", True), 0x34: ("ESME_RINVDLNAME", True), 0x40: ("ESME_RINVDESTFLAG", True),
    0x42: ("ESME_RINVSUBREP", True), 0x43: ("ESME_RINVESMCLASS", True), 0x44: ("ESME_RCNTSUBDL", True),
    0x45: ("ESME_RSUBMITFAIL", False), 0x48: ("ESME_RINVSRCTON", True), 0x49: ("ESME_RINVSRCNPI", True),
    0x50: ("ESME_RINVDSTTON", True), 0x51: ("ESME_RINVDSTNPI", True), 0x53: ("ESME_RINVSYSTYP", True),
    0x54: ("ESME_RINVREPFLAG", True), 0x55: ("ESME_RINVNUMMSGS", True), 0x58: ("ESME_RTHROTTLED", False),
    0x61: ("ESME_RINVSCHED", True), 0x62: ("ESME_RINVEXPIRY", True), 0x63: ("ESME_RINVDFTMSGID", True),
    0x64: ("ESME_RX_T_APPN", False), 0x65: ("ESME_RX_P_APPN", True), 0x66: ("ESME_RX_R_APPN", True),
    0x67: ("ESME_RQUERYFAIL", False), 0xC0: ("ESME_RINVOPTPARSTREAM", True), 0xC1: ("ESME_ROPTPARNOTALLWD", True),
    0xC2: ("ESME_RINVPARLEN", True), 0xC3: ("ESME_RMISSINGOPTPARAM", True), 0xC4: ("ESME_RINVOPTPARAMVAL", True),
    0xFE: ("ESME_RDELIVERYFAILURE", False), 0xFF: ("ESME_RUNKNOWNERR", False),
}  # fmt: skip
ESME_ROK = 0x00
ESME_RTHROTTLED = 0x58
ESME_RX_T_APPN = 0x64
BIND_REFUSED = {0x0D, 0x0E, 0x0F}  # a wrong password or system_id: binding again cannot help


def is_permanent(status: int) -> bool:
    return COMMAND_STATUS.get(status, ("", False))[1]


def error_code(status: int) -> str:
    """The short code a Result or a log carries: smpp_0x58."""
    return f"smpp_0x{status:02x}"


def status_name(status: int) -> str:
    return COMMAND_STATUS.get(status, (f"0x{status:08x}", False))[0]


# --- delivery receipts (SMPP 3.4 Appendix B, and what SMSCs really send) -------------------------
# Appendix B's text is "id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm
# stat:DDDDDDD err:E Text: ...", but it is only an example: SMSCs leave out sub:, dlvrd: or text:,
# change the case, or put the state in TLVs only (§5.3.2.35 message_state, §5.3.2.12
# receipted_message_id). So each field is looked for by name, and every one may be missing.
_FIELD = re.compile(r"(?i)(?:^|\s)(id|sub|dlvrd|submit date|done date|stat|err|text):")

STAT = {  # the stat: field (Appendix B, table B-2) → Receipt.status
    "DELIVRD": "delivered", "UNDELIV": "undeliverable", "EXPIRED": "expired", "REJECTD": "rejected",
    "DELETED": "deleted", "UNKNOWN": "unknown", "ACCEPTD": "accepted", "ENROUTE": "enroute",
}  # fmt: skip
MESSAGE_STATE = {  # the message_state TLV (§5.2.28) → the stat: it stands for
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}
# err: is network-specific (Appendix B). Where it is a GSM MAP error (3GPP TS 29.002 §17.6.6, as most
# SMSCs report it, zero-padded), these say the number itself cannot receive: unknown subscriber (1),
# unidentified subscriber (5), illegal subscriber (9), teleservice not provisioned (11), illegal
# equipment (12), call barred (13). Absent subscriber, memory full and the like stay temporary.
PERMANENT_ERR = {1, 5, 9, 11, 12, 13}


def fields(text: str) -> dict[str, str]:
    """The receipt's named fields, lower-case names, values stripped; `text` keeps its spaces."""
    found, marks = {}, list(_FIELD.finditer(text))
    ends = [mark.start() for mark in marks[1:]] + [len(text)] * bool(marks)
    for mark, end in zip(marks, ends, strict=True):
        name = mark.group(1).lower()
        value = text[mark.end():end].strip()
        if name != "text":  # a value ends at the first space: "err:000 garbage" is err 000
            value = value.split()[0] if value else ""
        found.setdefault(name, value)
    return found


def _err_number(err: str) -> int | None:
    try:
        return int(err, 10)
    except ValueError:
        return None


def _network_error(tlvs: dict[int, bytes]) -> str:
    """network_error_code (§5.3.2.31): network type, then a 2-octet error code."""
    raw = tlvs.get(pdu.TLV_NETWORK_ERROR_CODE, b"")
    return f"{int.from_bytes(raw[1:3], 'big'):03d}" if len(raw) == 3 else ""


def parse_receipt(text: str, tlvs: dict[int, bytes] | None = None) -> Receipt | None:
    """A Receipt from the receipt text and the PDU's TLVs; None when no message id is found.

    receipted_message_id wins over the text's id: (it is the SMSC's own field, where the text is
    free-form); message_state is used when the text has no stat:.
    """
    tlvs = tlvs or {}
    named = fields(text)
    ident = pdu.message_id(tlvs[pdu.TLV_RECEIPTED_MESSAGE_ID]) if pdu.TLV_RECEIPTED_MESSAGE_ID in tlvs else ""
    ident = ident or named.get("id", "")
    if not ident:
        return None
    stat = named.get("stat", "").upper()
    if stat not in STAT and pdu.TLV_MESSAGE_STATE in tlvs and tlvs[pdu.TLV_MESSAGE_STATE]:
        stat = MESSAGE_STATE.get(tlvs[pdu.TLV_MESSAGE_STATE][0], stat)
    status = STAT.get(stat, "unknown")
    err = named.get("err", "") or _network_error(tlvs)
    number = _err_number(err)
    permanent = stat == "REJECTD" or (stat == "UNDELIV" and number in PERMANENT_ERR)
    error = "" if status == "delivered" else f"{stat or 'UNKNOWN'}:{err}" if number else (stat or "UNKNOWN")
    return Receipt(provider_ref=ident, status=status, error=error[:40], permanent=permanent)
