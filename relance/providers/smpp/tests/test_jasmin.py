"""SmppProvider bound to Jasmin 0.11.1, a real SMPP gateway, relaying to the SMSC simulator.

Session fixture `jasmin` (relance/providers/testing/jasmin.py; mandatory with CI=true): what the
simulator records is what Jasmin relayed. docs/smpp-testing.md says what Jasmin does with each case.
"""

from __future__ import annotations

import re
import shutil
import threading
import time

import pytest

from relance.providers.base import Inbound, Listener, Outgoing, Receipt, Result
from relance.providers.kinds import AccountConfig
from relance.providers.smpp import SmppProvider, pdu
from relance.providers.testing.jasmin import VENV, JasminGateway
from relance.providers.testing.smsc import SmscSimulator

FRENCH = "Rappel : votre rendez-vous chez le Dr Lefèvre est demain à 9 h 30. Répondez ✓ pour confirmer."
# Jasmin's own message id (its queue id), which it answers our submit_sm with: never the SMSC's.
JASMIN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
REFUSED_PREFIX = "33799"  # the simulator answers ESME_RINVDSTADR (0x0B) for these numbers
UNDELIVERED_PREFIX = "33788"  # the simulator accepts these, then sends an UNDELIV receipt
ESME_RINVDSTADR = 0x0B
DELIVERED = "delivered"


class Recorder(Listener):
    def __init__(self):
        self.receipts_got: list[Receipt] = []
        self.inbound_got: list[Inbound] = []
        self.refuse = 0  # inbound() raises this many times (the database away)
        self.refused = 0
        self.lock = threading.Lock()

    def receipts(self, provider: str, receipts: list[Receipt]) -> None:
        assert provider == "smpp:1"
        with self.lock:
            self.receipts_got.extend(receipts)

    def inbound(self, provider: str, message: Inbound) -> None:
        assert provider == "smpp:1"
        with self.lock:
            if self.refused < self.refuse:
                self.refused += 1
                raise RuntimeError("the database is away")
            self.inbound_got.append(message)

    def receipt_for(self, provider_ref: str, timeout: float = 10.0) -> Receipt:
        wait_until(lambda: any(r.provider_ref == provider_ref for r in self.receipts_got), timeout,
                   f"no receipt for {provider_ref}")
        return next(r for r in self.receipts_got if r.provider_ref == provider_ref)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout} s")
        time.sleep(0.02)


def sms(ref: str, to: str, body: str, sender: str = "Relance") -> Outgoing:
    return Outgoing(ref=ref, channel="sms", to=to, body=body, sender=sender)


def provider_for(gateway, listener: Listener, **options) -> SmppProvider:
    provider = SmppProvider(AccountConfig(
        id=1, label="smpp:1", kind="smpp", channel="sms", options=options,
        credentials={"host": gateway.host, "port": gateway.port,
                     "system_id": gateway.system_id, "password": gateway.password}))
    provider.listener = listener
    provider.open()
    return provider


@pytest.fixture
def upstream(jasmin):
    """The session's simulator, back to its default behaviour; Jasmin's connector bound to it."""
    simulator = jasmin.simulator
    simulator.behaviour(**jasmin.simulator_defaults)
    simulator.behaviour(error_destinations={REFUSED_PREFIX: ESME_RINVDSTADR},
                        receipt_destinations={UNDELIVERED_PREFIX: "UNDELIV"})
    jasmin.wait_bound()
    return simulator


@pytest.fixture
def listener():
    return Recorder()


@pytest.fixture
def provider(jasmin, upstream, listener):
    provider = provider_for(jasmin, listener)
    yield provider
    provider.close()


def relayed(simulator: SmscSimulator, since: int, count: int) -> list[dict]:
    """The submit_sm the simulator received from Jasmin from index `since` on, once `count` are in."""
    wait_until(lambda: len(simulator.messages(since)) >= count, 10, f"{count} submit_sm relayed by Jasmin")
    return simulator.messages(since)


def text_of(record: dict) -> str:
    raw = bytes.fromhex(record["short_message_hex"])
    if record.get("udh_hex"):
        raw = raw[len(record["udh_hex"]) // 2:]
    return pdu.decode_text(raw, record["data_coding"])


def test_it_binds_to_jasmin_as_its_smpp_user(jasmin, upstream, listener):
    provider = provider_for(jasmin, listener)
    try:
        assert provider.client.connected
        # Jasmin's own bind to the simulator is the only session there: we never talk to it directly.
        assert [s["mode"] for s in upstream.stats()["sessions"]] == ["transceiver"]
    finally:
        provider.close()


def test_it_sends_gsm7_text_that_jasmin_relays_unchanged(provider, upstream):
    since = upstream.stats()["submits"]
    [result] = provider.send([sms("m1", "+33612345678", "Hello from Relance: see you at 10:00 @ the clinic")])
    assert result.status == Result.SENT and JASMIN_ID.match(result.provider_ref)
    [record] = relayed(upstream, since, 1)
    assert record["status"] == "accepted"
    assert (record["destination_addr"], record["dest_addr_ton"], record["data_coding"]) == ("33612345678", 1, 0)
    assert text_of(record) == "Hello from Relance: see you at 10:00 @ the clinic"
    assert record["source_addr"] == "Relance" and record["registered_delivery"] == 1


def test_it_sends_french_text_as_ucs2_that_jasmin_relays_unchanged(provider, upstream):
    since = upstream.stats()["submits"]
    [result] = provider.send([sms("m1", "+33612345678", "Rappel : RDV à 9 h 30 ✓")])
    assert result.status == Result.SENT
    [record] = relayed(upstream, since, 1)
    assert record["data_coding"] == 8 and text_of(record) == "Rappel : RDV à 9 h 30 ✓"


def test_it_sends_a_three_part_message_whose_parts_all_reach_the_smsc_with_their_udh(provider, upstream):
    body = (FRENCH + " ") * 2
    since = upstream.stats()["submits"]
    [result] = provider.send([sms("m1", "+33612345678", body)])
    assert result.status == Result.SENT and len(result.detail["parts"]) == 3
    records = sorted(relayed(upstream, since, 3), key=lambda r: r["udh_hex"])
    assert len(records) == 3
    headers = [bytes.fromhex(r["udh_hex"]) for r in records]
    # 8-bit concatenation IE (00, length 3): one reference, 3 parts, numbered 1..3.
    assert [(h[:3], h[4], h[5]) for h in headers] == [(b"\x05\x00\x03", 3, n) for n in (1, 2, 3)]
    assert len({h[3] for h in headers}) == 1
    assert all(r["esm_class"] & 0x40 and r["data_coding"] == 8 for r in records)
    assert "".join(text_of(r) for r in records) == body


def test_it_matches_each_delivery_receipt_to_its_message_through_jasmin(provider, upstream, listener):
    """Jasmin answers with its own id and re-issues the SMSC's receipt under that id: the Receipt
    names the Result's provider_ref (what the listeners.py patch restores). R-29 needs the
    undelivered one to be permanent."""
    delivered, undelivered = provider.send([
        sms("ok", "+33612345678", "Votre rendez-vous est confirmé"),
        sms("ko", f"+{UNDELIVERED_PREFIX}000001", "Votre rendez-vous est confirmé")])
    assert delivered.status == undelivered.status == Result.SENT
    assert delivered.provider_ref != undelivered.provider_ref
    assert listener.receipt_for(delivered.provider_ref).status == DELIVERED
    failed = listener.receipt_for(undelivered.provider_ref)
    assert failed.status != DELIVERED and "UNDELIV" in failed.error and failed.permanent
    # Receipts of earlier tests' messages may arrive on this bind too (same Jasmin user): only the
    # two messages of this test are looked at.
    mine = [r for r in listener.receipts_got if r.provider_ref in (delivered.provider_ref, undelivered.provider_ref)]
    assert len(mine) == 2


def test_it_hands_an_mo_stop_relayed_by_jasmin_to_the_listener(provider, upstream, listener):
    """R-33: the STOP reaches the listener. Jasmin acknowledges the SMSC's deliver_sm itself, before
    our bind has it (it queues MO): the simulator's answer says Jasmin took it, not that we did."""
    answer = upstream.mo("+33612345678", "Relance", "STOP")
    assert answer["delivered"] is True
    wait_until(lambda: listener.inbound_got, 10, "no MO reached the listener")
    [message] = listener.inbound_got
    assert (message.sender, message.to, message.text) == ("+33612345678", "Relance", "STOP")


def test_it_gets_a_stop_again_from_jasmin_after_refusing_it_once(provider, upstream, listener):
    """R-33 through Jasmin: our bind answers an error to an MO it could not apply (never an
    acknowledgement), and Jasmin throws it again (deliversm-thrower retry_delay, max_retries)."""
    listener.refuse = 1
    assert upstream.mo("+33612345678", "Relance", "STOP")["delivered"] is True
    wait_until(lambda: listener.inbound_got, 10, "no MO reached the listener again")
    assert listener.refused == 1 and [m.text for m in listener.inbound_got] == ["STOP"]


def test_it_hears_nothing_of_a_destination_the_smsc_refuses_when_asking_for_all_receipts(
        provider, upstream, listener):
    """What Jasmin does with an invalid destination (registered_delivery 1, our default): it has
    already answered ESME_ROK with its own id when the SMSC refuses (ESME_RINVDSTADR), and it sends
    no receipt for the refusal. The message stays SENT; receipts of later messages still come."""
    since = upstream.stats()["submits"]
    [refused] = provider.send([sms("bad", f"+{REFUSED_PREFIX}000001", "Bonjour")])
    assert refused.status == Result.SENT and JASMIN_ID.match(refused.provider_ref)
    assert relayed(upstream, since, 1)[0]["command_status"] == ESME_RINVDSTADR
    [control] = provider.send([sms("ok", "+33612345678", "Bonjour")])
    listener.receipt_for(control.provider_ref)
    time.sleep(1.5)  # past Jasmin's DLR lookup retry delay (1 s in tests/jasmin/jasmin.cfg)
    assert refused.provider_ref not in {r.provider_ref for r in listener.receipts_got}


def test_it_gets_an_undeliverable_receipt_for_a_refused_destination_when_asking_for_failures_only(
        jasmin, upstream, listener):
    """registered_delivery 2 (failures only): Jasmin turns the SMSC's ESME_RINVDSTADR into an
    UNDELIV receipt under its own id."""
    provider = provider_for(jasmin, listener, registered_delivery=2)
    try:
        [refused] = provider.send([sms("bad", f"+{REFUSED_PREFIX}000002", "Bonjour")])
        assert refused.status == Result.SENT
        receipt = listener.receipt_for(refused.provider_ref)
        assert receipt.status != DELIVERED and "UNDELIV" in receipt.error
    finally:
        provider.close()


def test_it_would_get_no_receipt_from_jasmin_as_released_on_pypi(tmp_path, listener):
    """Why scripts/jasmin-install patches listeners.py: the same Jasmin with the release's line
    back (`_pdu.response.`) drops the submit_sm_resp's DLR, so the SMSC's receipt never matches."""
    released = tmp_path / "released"
    shutil.copytree(next(VENV.glob("lib/python*/site-packages/jasmin")), released / "jasmin")
    listeners = released / "jasmin" / "managers" / "listeners.py"
    source = listeners.read_text()
    assert source.count("DLR(pdu_type=r.response.id") == 2
    listeners.write_text(source.replace("DLR(pdu_type=r.response.id, msgid=msgid, status=r.response.status",
                                        "DLR(pdu_type=_pdu.response.id, msgid=msgid, status=_pdu.response.status")
                         .replace("smpp_msgid=r.response.params", "smpp_msgid=_pdu.response.params"))
    simulator = SmscSimulator().start()
    gateway = JasminGateway(extra_env={"PYTHONPATH": str(released)})
    try:
        gateway.start(simulator.host, simulator.port)
        provider = provider_for(gateway, listener)
        [result] = provider.send([sms("m1", "+33612345678", "Bonjour")])
        assert result.status == Result.SENT
        simulator.wait_for(lambda s: s["receipts_acked"] == 1, timeout=10)
        messages_log = gateway.directory / "logs" / "messages.log"
        wait_until(lambda: "while handling submit_sm_resp" in messages_log.read_text(), 10,
                   "the release's error in the log")
        time.sleep(2)
        assert listener.receipts_got == []
        provider.close()
    finally:
        gateway.stop()
        simulator.stop()
