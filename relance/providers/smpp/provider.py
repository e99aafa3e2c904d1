"""SmppProvider: Outgoing messages to submit_sm PDUs through one bind, and what comes back on it
(receipts, MO) to the Listener. Credentials: host, port, system_id, password (system_type optional).

Options (AccountConfig.options), with their defaults:
    window 32                      submit_sm in flight at once
    source_ton / source_npi        auto: an alphanumeric sender is TON 5 / NPI 0, digits TON 1 / NPI 1
    source_addr ""                 the sender when an Outgoing has none
    registered_delivery 1          ask for a receipt on final delivery or failure
    submit_timeout_seconds 10      no submit_sm_resp by then: retry, marked for reconciliation
    enquire_link_seconds 30, reconnect_max_seconds 30, throttle_seconds 1, bind_timeout_seconds 10
"""

from __future__ import annotations

import itertools
import logging
import random

from relance.lib import sms_text
from relance.providers.base import Inbound, Outgoing, Provider, Receipt, Result
from relance.providers.kinds import AccountConfig

from . import pdu
from .client import LOST, TIMEOUT, UNSENT, SmppClient
from .receipts import ESME_RX_T_APPN, error_code, is_permanent, parse_receipt

log = logging.getLogger("relance.providers.smpp")

ESME_RX_P_APPN = 0x65  # a PDU we cannot read: delivering it again would not help
DEST_TON, DEST_NPI = 1, 1  # international, E.164
_OURS = {UNSENT: "smpp_disconnected", LOST: "smpp_in_flight_lost", TIMEOUT: "smpp_timeout"}


class SmppProvider(Provider):
    name = "smpp"
    channel = "sms"

    def __init__(self, config: AccountConfig):
        self.label = config.label
        self.credentials = dict(config.credentials)
        self.options = dict(config.options or {})
        self.registered_delivery = int(self.options.get("registered_delivery", 1))
        self._sources: dict[str, bytes] = {}
        self._references = itertools.count(random.randrange(256))  # noqa: S311 - a UDH reference
        self.client: SmppClient | None = None

    # --- connection ----------------------------------------------------------------------------
    def open(self) -> None:
        if self.client is not None:
            return
        credentials, options = self.credentials, self.options
        client = SmppClient(
            credentials["host"], int(credentials["port"]), credentials["system_id"], credentials["password"],
            credentials.get("system_type", "") or "", window=int(options.get("window", 32)),
            enquire_link_seconds=float(options.get("enquire_link_seconds", 30)),
            reconnect_max_seconds=float(options.get("reconnect_max_seconds", 30)),
            submit_timeout_seconds=float(options.get("submit_timeout_seconds", 10)),
            bind_timeout_seconds=float(options.get("bind_timeout_seconds", 10)),
            throttle_seconds=float(options.get("throttle_seconds", 1)), on_deliver=self._delivered)
        client.open()
        self.client = client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # --- sending -------------------------------------------------------------------------------
    def send(self, batch: list[Outgoing]) -> list[Result]:
        """One Result per Outgoing, in order, whatever happens to the connection meanwhile."""
        if self.client is None:
            self.open()
        plans = [self._plan(outgoing) for outgoing in batch]
        bodies = [body for plan in plans if isinstance(plan, list) for body in plan]
        answers, pos, results = self.client.submit(bodies), 0, []
        for outgoing, plan in zip(batch, plans, strict=True):
            if isinstance(plan, Result):
                results.append(plan)
                continue
            results.append(outcome(outgoing.ref, answers[pos:pos + len(plan)]))
            pos += len(plan)
        return results

    def _plan(self, outgoing: Outgoing) -> list[bytes] | Result:
        """The submit_sm bodies of one message, or its failure if it cannot be an SMS at all."""
        destination = outgoing.to.lstrip("+")
        if outgoing.channel != "sms" or not destination.isdigit():
            return Result.failed(outgoing.ref, "smpp_invalid_destination")
        source = self._source(outgoing.sender or str(self.options.get("source_addr", "")))
        target = pdu.address(DEST_TON, DEST_NPI, destination)
        parts = encode_parts(outgoing.body, next(self._references))
        return [pdu.submit_sm_body(source, target, text, esm_class=esm_class, data_coding=coding,
                                   registered_delivery=self.registered_delivery) for esm_class, coding, text in parts]

    def _source(self, sender: str) -> bytes:
        if sender not in self._sources:
            self._sources[sender] = pdu.address(*self._source_numbering(sender), sender.lstrip("+"))
        return self._sources[sender]

    def _source_numbering(self, sender: str) -> tuple[int, int]:
        digits = sender.lstrip("+").isdigit()
        ton = self.options.get("source_ton", 1 if digits else 5)
        npi = self.options.get("source_npi", 1 if digits else 0)
        return int(ton), int(npi)

    # --- what comes back -----------------------------------------------------------------------
    def _delivered(self, pdus: list[pdu.Pdu]) -> list[int]:
        """Receipts to the listener in one call, each MO in its own; the status to answer each PDU.
        Runs on the client's handler thread."""
        statuses = [0] * len(pdus)
        receipts: list[Receipt] = []
        receipt_slots: list[int] = []
        for index, item in enumerate(pdus):
            message = read_message(item)
            if message is None:
                statuses[index] = ESME_RX_P_APPN
            elif message.is_receipt:
                receipt = parse_receipt(message.payload.decode("latin-1"), message.tlvs)
                if receipt is not None:
                    receipts.append(receipt)
                    receipt_slots.append(index)
            else:
                statuses[index] = self._inbound(message)
        if receipts and not self._receipts(receipts):
            for index in receipt_slots:
                statuses[index] = ESME_RX_T_APPN
        return statuses

    def _receipts(self, receipts: list[Receipt]) -> bool:
        try:
            self.listener.receipts(self.label, receipts)
        except Exception:
            log.exception("smpp receipts not applied", extra={"count": len(receipts)})
            return False
        return True

    def _inbound(self, message: pdu.Message) -> int:
        try:
            self.listener.inbound(self.label, inbound_of(message))
        except Exception:
            log.exception("smpp inbound message not applied")
            return ESME_RX_T_APPN
        return 0


def encode_parts(text: str, reference: int) -> list[tuple[int, int, bytes]]:
    """(esm_class, data_coding, short_message) per part. The encoding follows the text itself
    (sms_text.split packs by it): GSM-7 unpacked as data_coding 0, else UCS-2 as data_coding 8.
    Several parts each carry an 8-bit concatenation header; `reference` is taken modulo 256."""
    gsm = sms_text.encoding_of(text) == sms_text.GSM7
    coding = pdu.DC_DEFAULT if gsm else pdu.DC_UCS2
    parts = sms_text.split(text)
    encoded = [pdu.encode_gsm(part) if gsm else part.encode("utf-16-be") for part in parts]
    if len(encoded) == 1:
        return [(0, coding, encoded[0])]
    total = len(encoded)
    return [(pdu.ESM_UDHI, coding, pdu.concatenation_udh(reference, total, number) + part)
            for number, part in enumerate(encoded, start=1)]


def outcome(ref: str, answers: list[tuple[int, str]]) -> Result:
    """One message's Result from the answers to its parts."""
    accepted = [message_id for status, message_id in answers if status == 0]
    if len(accepted) == len(answers):
        detail = {"parts": accepted} if len(accepted) > 1 else {}
        return Result(ref, Result.SENT, provider_ref=accepted[0], detail=detail)
    refused = [status for status, _ in answers if status > 0]
    permanent = next((status for status in refused if is_permanent(status)), None)
    if permanent is not None:
        return Result.failed(ref, error_code(permanent))
    ours = [status for status, _ in answers if status < 0]
    # A part the SMSC may hold (lost in flight, timed out, or accepted beside a refused one) makes a
    # retry a possible duplicate: the worker marks it for reconciliation.
    reconcile = bool(accepted) or any(status in (LOST, TIMEOUT) for status in ours)
    error = _OURS[next(s for s in (LOST, TIMEOUT, UNSENT) if s in ours)] if ours else error_code(refused[0])
    return Result(ref, Result.RETRY, error=error, detail={"reconcile": True} if reconcile else {})


def read_message(item: pdu.Pdu) -> pdu.Message | None:
    try:
        return pdu.deliver_sm(item.body) if item.command_id == pdu.DELIVER_SM else pdu.data_sm(item.body)
    except pdu.PduError:
        log.warning("smpp unreadable deliver_sm", extra={"command_id": item.command_id})
        return None


def inbound_of(message: pdu.Message) -> Inbound:
    """An MO message. Concatenated parts are passed on one by one, each with its own text (the UDH
    removed): reassembling would mean acknowledging parts before the whole is applied."""
    raw = message.payload
    if message.esm_class & pdu.ESM_UDHI:
        raw = pdu.strip_udh(raw)[0]
    source = message.source
    sender = "+" + source.lstrip("+") if source.lstrip("+").isdigit() else source
    return Inbound(sender=sender, to=message.destination, text=pdu.decode_text(raw, message.data_coding))
