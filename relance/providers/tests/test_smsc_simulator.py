"""The SMSC simulator itself (tests/smsc), driven through a raw socket and a tiny PDU codec written
here, so that a fault in our SMPP client can never hide a fault in the simulator (or the reverse)."""

from __future__ import annotations

import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from relance.providers.testing.smsc import SmscError, SmscSimulator, require_simulator

BIND_TRANSMITTER, BIND_RECEIVER, BIND_TRANSCEIVER = 0x02, 0x01, 0x09
SUBMIT_SM, DELIVER_SM, UNBIND, ENQUIRE_LINK = 0x04, 0x05, 0x06, 0x15
RESP = 0x80000000
ESME_RINVDSTADR, ESME_RBINDFAIL, ESME_RTHROTTLED = 0x0B, 0x0D, 0x58


def cstring(text: str) -> bytes:
    return text.encode("latin-1") + b"\0"


def tlv(tag: int, value: bytes) -> bytes:
    return struct.pack(">HH", tag, len(value)) + value


def submit_body(destination="33612345678", text=b"Hello", *, registered=1, esm_class=0, data_coding=0,
                source="RELANCE", tlvs=b"") -> bytes:
    return (cstring("") + bytes([5, 0]) + cstring(source) + bytes([1, 1]) + cstring(destination)
            + bytes([esm_class, 0, 0]) + cstring("") + cstring("") + bytes([registered, 0, data_coding, 0])
            + bytes([len(text)]) + text + tlvs)


def parse_deliver(body: bytes) -> dict:
    """The mandatory fields and TLVs of a deliver_sm body."""
    fields, offset = {}, 0

    def take_cstring():
        nonlocal offset
        end = body.index(b"\0", offset)
        value, offset = body[offset:end].decode("latin-1"), end + 1
        return value

    def take_byte():
        nonlocal offset
        offset += 1
        return body[offset - 1]

    fields["service_type"] = take_cstring()
    fields["source_addr_ton"], fields["source_addr_npi"] = take_byte(), take_byte()
    fields["source_addr"] = take_cstring()
    fields["dest_addr_ton"], fields["dest_addr_npi"] = take_byte(), take_byte()
    fields["destination_addr"] = take_cstring()
    fields["esm_class"], _protocol, _priority = take_byte(), take_byte(), take_byte()
    take_cstring(), take_cstring()
    _registered, _replace, fields["data_coding"], _default = (take_byte() for _ in range(4))
    length = take_byte()
    fields["short_message"], offset = body[offset:offset + length], offset + length
    fields["tlvs"] = {}
    while offset + 4 <= len(body):
        tag, size = struct.unpack(">HH", body[offset:offset + 4])
        fields["tlvs"][tag] = body[offset + 4:offset + 4 + size]
        offset += 4 + size
    return fields


class Esme:
    """A minimal SMPP peer: one PDU at a time, blocking, with a timeout."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sequence = 0

    def send(self, command_id: int, body: bytes = b"", status: int = 0, sequence: int | None = None) -> int:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        self.sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, status, sequence) + body)
        return sequence

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed by the SMSC")
            data += chunk
        return data

    def read(self) -> tuple[int, int, int, bytes]:
        length, command_id, status, sequence = struct.unpack(">IIII", self._exactly(16))
        return command_id, status, sequence, self._exactly(length - 16)

    def bind(self, command=BIND_TRANSCEIVER, system_id="relance", password="secret") -> tuple[int, bytes]:
        self.send(command, cstring(system_id) + cstring(password) + cstring("") + bytes([0x34, 0, 0]) + cstring(""))
        command_id, status, _seq, body = self.read()
        assert command_id == command | RESP
        return status, body

    def submit(self, **kw) -> tuple[int, str]:
        sequence = self.send(SUBMIT_SM, submit_body(**kw))
        command_id, status, seq, body = self.read()
        assert (command_id, seq) == (SUBMIT_SM | RESP, sequence)
        return status, body.rstrip(b"\0").decode()

    def deliver(self, ack_status: int = 0) -> dict:
        command_id, _status, sequence, body = self.read()
        assert command_id == DELIVER_SM
        self.send(DELIVER_SM | RESP, b"\0", status=ack_status, sequence=sequence)
        return parse_deliver(body)

    def closed(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def esme(smsc):
    peers = []

    def connect(bind=BIND_TRANSCEIVER):
        peer = Esme(smsc.port)
        peers.append(peer)
        if bind:
            assert peer.bind(bind)[0] == 0
        return peer

    yield connect
    for peer in peers:
        peer.close()


def test_it_answers_bind_transceiver_and_counts_the_bound_session(smsc, esme):
    peer = esme(bind=None)
    status, body = peer.bind(BIND_TRANSCEIVER)
    assert status == 0 and body.rstrip(b"\0") == b"RELANCESIM"
    stats = smsc.wait_for(lambda s: s["bound"] == 1)
    assert stats["binds"] == 1
    assert stats["sessions"] == [{"system_id": "relance", "mode": "transceiver"}]


def test_it_refuses_a_wrong_system_id_or_password_with_bindfail_when_credentials_are_set():
    require_simulator()
    simulator = SmscSimulator(system_id="relance", password="right").start()
    try:
        assert Esme(simulator.port).bind(password="wrong")[0] == ESME_RBINDFAIL
        assert Esme(simulator.port).bind(system_id="other", password="right")[0] == ESME_RBINDFAIL
        assert Esme(simulator.port).bind(password="right")[0] == 0
    finally:
        simulator.stop()


def test_it_answers_submit_sm_with_a_fresh_hex_message_id_and_records_it(smsc, esme):
    peer = esme()
    first = peer.submit(destination="33612345678", text=b"Hello", registered=0)
    second = peer.submit(destination="33612345679", text=b"Again", registered=0)
    assert first[0] == second[0] == 0
    assert first[1] != second[1]
    int(first[1], 16)
    recorded = smsc.messages()
    assert [m["id"] for m in recorded] == [first[1], second[1]]
    assert recorded[0]["destination_addr"] == "33612345678"
    assert recorded[0]["source_addr"] == "RELANCE" and recorded[0]["source_addr_ton"] == 5
    assert recorded[0]["short_message_hex"] == b"Hello".hex()
    assert smsc.messages(since=1)[0]["id"] == second[1]


def test_it_records_the_udh_and_sar_tlvs_of_a_concatenated_part(smsc, esme):
    peer = esme()
    udh = bytes([5, 0, 3, 0x2A, 2, 1])
    sar = tlv(0x020C, b"\x00\x2a") + tlv(0x020E, b"\x02") + tlv(0x020F, b"\x01")
    assert peer.submit(text=udh + b"Part one", esm_class=0x40, tlvs=sar, registered=0)[0] == 0
    message = smsc.messages()[0]
    assert message["udh_hex"] == udh.hex()
    assert message["esm_class"] == 0x40
    assert (message["sar_msg_ref_num"], message["sar_total_segments"], message["sar_segment_seqnum"]) == (42, 2, 1)


def test_it_sends_a_full_receipt_to_the_submitting_session(smsc, esme):
    """R-33: the receipt counts as acknowledged only once our deliver_sm_resp arrives."""
    peer = esme()
    _status, message_id = peer.submit(destination="33612345678", text=b"Bonjour Alice")
    receipt = peer.deliver()
    assert receipt["esm_class"] == 0x04
    assert receipt["source_addr"] == "33612345678" and receipt["destination_addr"] == "RELANCE"
    text = receipt["short_message"].decode()
    assert text.startswith(f"id:{message_id} sub:001 dlvrd:001 submit date:")
    assert " stat:DELIVRD err:000 text:Bonjour Alice" in text
    assert receipt["tlvs"][0x001E] == cstring(message_id)
    assert receipt["tlvs"][0x0427] == b"\x02"
    smsc.wait_for(lambda s: s["receipts_sent"] == 1 and s["receipts_acked"] == 1)


def test_it_sends_minimal_and_tlv_only_receipts(smsc, esme):
    peer = esme()
    smsc.behaviour(receipt_format="minimal", receipt_status="EXPIRED")
    _s, first = peer.submit()
    assert peer.deliver()["short_message"] == f"id:{first} stat:EXPIRED err:001".encode()
    smsc.behaviour(receipt_format="tlv_only", receipt_status="DELIVRD")
    _s, second = peer.submit()
    receipt = peer.deliver()
    assert receipt["short_message"] == b""
    assert receipt["tlvs"][0x001E] == cstring(second) and receipt["tlvs"][0x0427] == b"\x02"


def test_it_overrides_the_receipt_status_by_destination_prefix(smsc, esme):
    peer = esme()
    smsc.behaviour(receipt_destinations={"+33799": "UNDELIV", "33788": {"status": "REJECTD", "err": "12"}})
    peer.submit(destination="33799000001")
    undelivered = peer.deliver()
    assert b"dlvrd:000" in undelivered["short_message"]
    assert b"stat:UNDELIV err:001" in undelivered["short_message"]
    assert undelivered["tlvs"][0x0427] == b"\x05"
    peer.submit(destination="33788000001")
    assert b"stat:REJECTD err:012" in peer.deliver()["short_message"]
    peer.submit(destination="33612345678")
    assert b"stat:DELIVRD err:000" in peer.deliver()["short_message"]


def test_it_sends_no_receipt_when_none_is_asked_for_or_receipts_are_off(smsc, esme):
    peer = esme()
    peer.submit(registered=0)
    smsc.behaviour(receipts=False)
    peer.submit(registered=1)
    peer.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        peer.read()
    assert smsc.stats()["receipts_sent"] == 0


def test_it_routes_a_receipt_to_a_receiver_of_the_same_system_id(smsc, esme):
    transmitter = esme(BIND_TRANSMITTER)
    receiver = esme(BIND_RECEIVER)
    _s, message_id = transmitter.submit()
    assert receiver.deliver()["tlvs"][0x001E] == cstring(message_id)


def test_it_delivers_an_unacknowledged_receipt_again_on_the_next_bind(smsc, esme):
    """R-33: a receipt whose deliver_sm_resp never came is not lost when the connection drops."""
    peer = esme()
    _s, message_id = peer.submit()
    assert peer.read()[0] == DELIVER_SM  # read, never acknowledged
    peer.close()
    smsc.wait_for(lambda s: s["receipts_requeued"] == 1 and s["receipts_pending"] == 1)
    again = esme()
    assert again.deliver()["tlvs"][0x001E] == cstring(message_id)
    smsc.wait_for(lambda s: s["receipts_acked"] == 1 and s["receipts_pending"] == 0)


def test_it_throttles_the_next_submits_without_a_message_id(smsc, esme):
    peer = esme()
    smsc.behaviour(throttle_next=2)
    assert peer.submit() == (ESME_RTHROTTLED, "")
    assert peer.submit() == (ESME_RTHROTTLED, "")
    status, message_id = peer.submit()
    assert status == 0 and message_id
    stats = smsc.stats()
    assert (stats["throttled"], stats["accepted"]) == (2, 1)
    assert [m["status"] for m in stats["messages"]] == ["throttled", "throttled", "accepted"]


def test_it_injects_errors_in_order_then_by_destination(smsc, esme):
    peer = esme()
    smsc.behaviour(error_next=[{"status": ESME_RINVDSTADR, "count": 2}, {"status": 0x45}],
                   error_destinations={"+33700000000": ESME_RINVDSTADR})
    assert [peer.submit(registered=0)[0] for _ in range(4)] == [ESME_RINVDSTADR, ESME_RINVDSTADR, 0x45, 0]
    assert peer.submit(destination="33700000000", registered=0)[0] == ESME_RINVDSTADR
    assert smsc.stats()["errors"] == 4


def test_it_answers_after_the_configured_delay(smsc, esme):
    peer = esme()
    smsc.behaviour(delay_ms=200)
    started = time.monotonic()
    assert peer.submit(registered=0)[0] == 0
    assert time.monotonic() - started >= 0.19


def test_it_closes_the_connection_after_n_submits_without_answering_the_next(smsc, esme):
    peer = esme()
    smsc.behaviour(drop_after=2)
    assert peer.submit(registered=0)[0] == 0
    assert peer.submit(registered=0)[0] == 0
    peer.send(SUBMIT_SM, submit_body(registered=0))
    assert peer.closed()
    stats = smsc.stats()
    assert (stats["accepted"], stats["dropped"]) == (2, 1)
    assert smsc.behaviour()["drop_after"] is None


def test_it_sends_an_mo_as_deliver_sm_and_reports_the_answer(smsc, esme):
    peer = esme()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(smsc.mo, "+33612345678", "TILLEULS", "STOP")
        mo = peer.deliver()
        assert answer.result(timeout=5) == {"delivered": True, "command_status": 0, "system_id": "relance",
                                            "data_coding": 0}
    assert mo["esm_class"] == 0 and mo["data_coding"] == 0
    assert (mo["source_addr"], mo["source_addr_ton"]) == ("33612345678", 1)
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("TILLEULS", 5)
    assert mo["short_message"] == b"STOP"
    assert smsc.stats()["mo_acked"] == 1


def test_it_sends_a_non_gsm_mo_in_ucs2(smsc, esme):
    peer = esme()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(smsc.mo, "+33612345678", "+33700000001", "Arrêt 🙏")
        mo = peer.deliver(ack_status=0x08)
        assert answer.result(timeout=5)["command_status"] == 0x08
    assert mo["data_coding"] == 8
    assert mo["short_message"] == "Arrêt 🙏".encode("utf-16-be")
    assert (mo["destination_addr"], mo["dest_addr_ton"]) == ("33700000001", 1)


def test_it_carries_a_long_mo_in_message_payload(smsc, esme):
    peer = esme()
    text = "Bonjour, " * 40  # 360 GSM octets: more than short_message can hold
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(smsc.mo, "+33612345678", "TILLEULS", text)
        mo = peer.deliver()
        assert answer.result(timeout=5)["delivered"] is True
    assert mo["short_message"] == b""
    assert mo["tlvs"][0x0424] == text.encode()


def test_it_reports_an_mo_with_no_bound_session_as_not_delivered(smsc, esme):
    esme(BIND_TRANSMITTER)
    answer = smsc.mo("+33612345678", "TILLEULS", "STOP")
    assert answer["delivered"] is False and "no receiver" in answer["reason"]


def test_it_answers_enquire_link_and_unbind_and_nacks_an_unknown_command(smsc, esme):
    peer = esme()
    sequence = peer.send(0x0000_00FF)
    assert peer.read()[:3] == (RESP, 0x03, sequence)  # generic_nack, ESME_RINVCMDID
    sequence = peer.send(ENQUIRE_LINK)
    assert peer.read()[:3] == (ENQUIRE_LINK | RESP, 0, sequence)
    peer.send(UNBIND)
    assert peer.read()[0] == UNBIND | RESP
    assert peer.closed()


def test_it_closes_every_connection_on_drop(smsc, esme):
    peers = [esme(), esme(BIND_RECEIVER)]
    assert smsc.drop() == {"dropped": 2}
    assert all(peer.closed() for peer in peers)
    assert esme().submit(registered=0)[0] == 0  # still listening


def test_it_refuses_connections_while_down_then_listens_again(smsc, esme):
    peer = esme()
    smsc.down(0.6)
    assert peer.closed()
    with pytest.raises(ConnectionRefusedError):
        Esme(smsc.port)
    assert smsc.stats()["listening"] is False
    smsc.wait_for(lambda s: s["listening"], timeout=3)
    assert esme().submit(registered=0)[0] == 0


def test_it_rejects_an_unknown_behaviour_key(smsc):
    with pytest.raises(SmscError, match="unknown behaviour key: throttle"):
        smsc.behaviour(throttle=3)
    with pytest.raises(SmscError, match="invalid value for receipt_status"):
        smsc.behaviour(receipt_status="LOST")


def test_it_keeps_a_bound_client_across_a_reset_when_asked(smsc, esme):
    peer = esme()
    peer.submit()
    smsc.reset(keep_connections=True)
    peer.deliver()  # the receipt of the earlier test is still delivered, but no longer counted
    stats = smsc.wait_for(lambda s: s["bound"] == 1)
    assert (stats["submits"], stats["receipts_acked"]) == (0, 0)
    assert peer.submit(registered=0)[0] == 0


def test_it_resets_behaviour_counters_and_connections(smsc, esme):
    peer = esme()
    smsc.behaviour(throttle_next=5, delay_ms=10)
    peer.submit()
    smsc.reset()
    assert peer.closed()
    stats = smsc.stats()
    assert (stats["submits"], stats["throttled"], stats["bound"], stats["messages"]) == (0, 0, 0, [])
    assert smsc.behaviour()["throttle_next"] == 0 and smsc.behaviour()["delay_ms"] == 0
