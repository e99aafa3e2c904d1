"""The client against a minimal SMSC written in the test (what the simulator does not do: send its
own enquire_link, an unknown command, an unbind), and how answers become Results (pure)."""

from __future__ import annotations

import socket
import threading

import pytest

from relance.providers.base import Result
from relance.providers.smpp import pdu
from relance.providers.smpp.client import LOST, TIMEOUT, UNSENT, SmppClient
from relance.providers.smpp.provider import encode_parts, outcome

from .helpers import wait_until


class Peer:
    """Accepts connections, answers bind_transceiver, and records every PDU the client sends."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[pdu.Pdu] = []
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buffer = bytearray()
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            items, used = pdu.split_stream(buffer)
            del buffer[:used]
            for item in items:
                self.received.append(item)
                if item.command_id == pdu.BIND_TRANSCEIVER:
                    conn.sendall(pdu.response(item.command_id, item.sequence, 0, b"peer\x00"))

    def send(self, data: bytes, connection: int = -1):
        self.connections[connection].sendall(data)

    def answers_to(self, sequence: int) -> list[pdu.Pdu]:
        return [p for p in self.received if p.sequence == sequence and p.command_id & 0x80000000]

    def close(self):
        self.server.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def peer():
    peer = Peer()
    yield peer
    peer.close()


@pytest.fixture
def client(peer):
    client = SmppClient("127.0.0.1", peer.port, "relance", "secret", reconnect_max_seconds=0.2)
    client.open()
    yield client
    client.close()


def test_it_answers_the_smscs_enquire_link(peer, client):
    wait_until(lambda: peer.connections)
    peer.send(pdu.pack(pdu.ENQUIRE_LINK, 900))
    wait_until(lambda: peer.answers_to(900))
    [answer] = peer.answers_to(900)
    assert answer.command_id == pdu.ENQUIRE_LINK_RESP and answer.status == 0


def test_it_answers_an_unknown_command_with_generic_nack(peer, client):
    wait_until(lambda: peer.connections)
    peer.send(pdu.pack(0x00000077, 901, b"\x01\x02"))
    wait_until(lambda: peer.answers_to(901))
    [answer] = peer.answers_to(901)
    assert answer.command_id == pdu.GENERIC_NACK and answer.status == 0x03  # ESME_RINVCMDID


def test_it_answers_the_smscs_unbind_and_binds_again(peer, client):
    wait_until(lambda: peer.connections)
    peer.send(pdu.pack(pdu.UNBIND, 902))
    wait_until(lambda: peer.answers_to(902))
    assert peer.answers_to(902)[0].command_id == pdu.UNBIND_RESP
    wait_until(lambda: sum(p.command_id == pdu.BIND_TRANSCEIVER for p in peer.received) == 2 and client.connected)


def test_it_unbinds_on_close(peer):
    client = SmppClient("127.0.0.1", peer.port, "relance", "secret")
    client.open()
    client.close()
    wait_until(lambda: any(p.command_id == pdu.UNBIND for p in peer.received))


def test_it_treats_a_generic_nack_to_a_submit_as_a_refusal(peer, client):
    """An SMSC that cannot read our submit_sm answers generic_nack with the same sequence."""
    wait_until(lambda: peer.connections)
    results = {}
    thread = threading.Thread(target=lambda: results.update(answer=client.submit([b"not a submit"])))
    thread.start()
    wait_until(lambda: any(p.command_id == pdu.SUBMIT_SM for p in peer.received))
    submit = next(p for p in peer.received if p.command_id == pdu.SUBMIT_SM)
    peer.send(pdu.pack(pdu.GENERIC_NACK, submit.sequence, b"", 0x02))
    thread.join(5)
    assert results["answer"] == [(0x02, "")]


# --- pure: answers to Results ----------------------------------------------------------------------
def test_it_sends_a_message_when_every_part_is_accepted():
    assert outcome("m", [(0, "a")]) == Result.sent("m", "a")
    assert outcome("m", [(0, "a"), (0, "b")]).detail == {"parts": ["a", "b"]}


def test_it_fails_a_message_when_any_part_is_refused_for_good():
    """R-29: ESME_RINVDSTADR on one part fails the message, even beside a temporary refusal."""
    assert outcome("m", [(0x58, ""), (0x0B, "")]) == Result.failed("m", "smpp_0x0b")


@pytest.mark.parametrize(("answers", "error", "reconcile"), [
    ([(0x58, "")], "smpp_0x58", False),
    ([(LOST, "")], "smpp_in_flight_lost", True),
    ([(TIMEOUT, "")], "smpp_timeout", True),
    ([(UNSENT, "")], "smpp_disconnected", False),
    ([(0, "a"), (UNSENT, "")], "smpp_disconnected", True),  # a part went out: a retry may repeat it
    ([(0, "a"), (0x14, "")], "smpp_0x14", True),
    ([(LOST, ""), (UNSENT, "")], "smpp_in_flight_lost", True),
])
def test_it_retries_and_marks_possible_duplicates_for_reconciliation(answers, error, reconcile):
    result = outcome("m", answers)
    assert result.status == Result.RETRY and result.error == error
    assert result.detail == ({"reconcile": True} if reconcile else {})


def test_it_encodes_a_single_part_without_a_header():
    assert encode_parts("Bonjour", 9) == [(0, 0, pdu.encode_gsm("Bonjour"))]
    assert encode_parts("Arrêt", 9) == [(0, 8, "Arrêt".encode("utf-16-be"))]


def test_it_splits_ucs_2_in_67_unit_parts_under_one_reference():
    parts = encode_parts("é" * 10 + "ê" * 100, 300)
    assert [(esm, coding) for esm, coding, _ in parts] == [(0x40, 8), (0x40, 8)]
    assert [raw[:6] for _, _, raw in parts] == [bytes((5, 0, 3, 44, 2, 1)), bytes((5, 0, 3, 44, 2, 2))]
    assert len(parts[0][2]) == 6 + 67 * 2
