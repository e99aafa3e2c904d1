"""One SMPP 3.4 transceiver bind over a plain socket, for a synchronous caller.

Threads, and why each exists:
- the caller's thread writes submit_sm PDUs, as many as the window allows, and waits for answers;
- a reader thread per connection reads everything and matches submit_sm_resp to its submit by
  sequence number; it never waits on anything but the socket, so answers keep flowing while…
- …a handler thread hands deliver_sm / data_sm (receipts, MO) to `on_deliver` and only then writes
  their responses: a STOP that waits for the database must not stop the reader (a deadlock if the
  worker's send is waiting for its own submit_sm_resp);
- a keeper thread sends enquire_link, drops a link that stopped answering, and reconnects with
  exponential back-off and jitter.
Writes go through one lock per connection; TCP_NODELAY, since a window of small PDUs is the point.

`submit(bodies)` returns, per submit_sm body and in order, `(command_status, message_id)`, where
the status may also be one of ours: UNSENT (never written: no connection), LOST (written, then the
connection went before an answer), TIMEOUT (written, no answer in time). LOST and TIMEOUT may have
been accepted by the SMSC: the caller marks them for reconciliation.
"""

from __future__ import annotations

import logging
import queue
import random
import socket
import struct
import threading
import time
from collections.abc import Callable

from relance.providers.base import ProviderError

from . import pdu
from .receipts import BIND_REFUSED, ESME_RTHROTTLED, error_code, status_name

log = logging.getLogger("relance.providers.smpp")

UNSENT, LOST, TIMEOUT = -1, -2, -3
ESME_RINVCMDID = 0x03
ESME_RX_T_APPN = 0x64
HANDLER_BATCH = 1000  # receipts handed to the listener at once, at most
_PACK_HEADER = pdu.HEADER.pack


class _Batch:
    __slots__ = ("results", "remaining")

    def __init__(self, size: int):
        self.results: list[tuple[int, str]] = [(UNSENT, "")] * size
        self.remaining = size


class _Link:
    """One TCP connection, bound."""

    def __init__(self, sock: socket.socket, generation: int):
        self.sock = sock
        self.generation = generation
        self.write_lock = threading.Lock()
        self.last_heard = time.monotonic()
        self.enquired_at = 0.0
        self.unbound = threading.Event()
        self.dead = False
        self.reader: threading.Thread | None = None


class SmppClient:
    def __init__(self, host: str, port: int, system_id: str, password: str, system_type: str = "", *,
                 window: int = 32, enquire_link_seconds: float = 30.0, reconnect_max_seconds: float = 30.0,
                 submit_timeout_seconds: float = 10.0, bind_timeout_seconds: float = 10.0,
                 throttle_seconds: float = 1.0, on_deliver: Callable[[list[pdu.Pdu]], list[int]] | None = None):
        self.address = (host, int(port))
        self._credentials = (system_id, password, system_type)
        self.window = max(1, int(window))
        self.enquire_link_seconds = float(enquire_link_seconds)
        self.reconnect_max_seconds = float(reconnect_max_seconds)
        self.submit_timeout = float(submit_timeout_seconds)
        self.bind_timeout = float(bind_timeout_seconds)
        self.throttle_seconds = float(throttle_seconds)
        self._on_deliver = on_deliver or (lambda pdus: [0] * len(pdus))
        self._cond = threading.Condition()
        self._pending: dict[int, tuple[_Batch, int, float]] = {}  # insertion order = oldest first
        self._limit = self.window
        self._throttled_until = 0.0
        self._seq = 0
        self._link: _Link | None = None
        self._generation = 0
        self._closing = False
        self._wake = threading.Event()
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self.stats = {"submitted": 0, "answered": 0, "late": 0, "delivered": 0, "reconnects": 0, "throttled": 0}

    # --- life cycle ----------------------------------------------------------------------------
    def open(self) -> None:
        """Bind (ProviderError if refused or unreachable), then start the keeper and the handler."""
        self._closing = False
        self._link = self._connect()
        for target, name in ((self._keep, "smpp-keeper"), (self._handle, "smpp-handler")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Let the handler finish what it holds, unbind, and stop every thread."""
        self._closing = True
        self._inbox.put(None)
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=self.bind_timeout + 5)
        self._threads.clear()
        link = self._link
        if link is not None:
            self._send_control(link, pdu.UNBIND, b"")
            link.unbound.wait(timeout=2.0)
            self._drop(link)
            link.reader.join(timeout=2.0)

    @property
    def connected(self) -> bool:
        return self._link is not None

    def _next_seq(self) -> int:  # callers hold self._cond
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def _connect(self) -> _Link:
        try:
            sock = socket.create_connection(self.address, timeout=self.bind_timeout)
        except OSError as error:
            raise ProviderError(f"SMPP: cannot connect ({error.__class__.__name__})", code="smpp_connect") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        try:
            leftover = self._bind(sock)
        except BaseException:
            sock.close()
            raise
        # Blocking reads from here on; a write that cannot go through in time means a dead peer.
        sock.settimeout(None)
        seconds = int(self.submit_timeout)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", seconds, 0))
        self._generation += 1
        link = _Link(sock, self._generation)
        link.reader = threading.Thread(target=self._read, args=(link, leftover), name="smpp-reader", daemon=True)
        link.reader.start()
        log.info("smpp bound", extra={"generation": link.generation})
        return link

    def _bind(self, sock: socket.socket) -> bytearray:
        with self._cond:
            sequence = self._next_seq()
        buffer = bytearray()
        try:
            sock.sendall(pdu.bind_transceiver(sequence, *self._credentials))
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ProviderError("SMPP: the SMSC closed the connection during bind", code="smpp_bind_closed")
                buffer += chunk
                pdus, used = pdu.split_stream(buffer)
                del buffer[:used]
                answer = next((p for p in pdus if p.sequence == sequence), None)
                if answer is not None:
                    break
        except (OSError, pdu.PduError) as error:
            raise ProviderError(f"SMPP: bind failed ({error.__class__.__name__})", code="smpp_bind") from None
        if answer.status != 0 or answer.command_id != pdu.BIND_TRANSCEIVER_RESP:
            status = answer.status or ESME_RINVCMDID
            raise ProviderError(f"SMPP: bind refused ({status_name(status)})", permanent=status in BIND_REFUSED,
                                code=error_code(status))
        return buffer

    # --- submitting ----------------------------------------------------------------------------
    def submit(self, bodies: list[bytes]) -> list[tuple[int, str]]:
        """Write each submit_sm body through the window; one (status, message_id) per body, in order."""
        batch, done, total = _Batch(len(bodies)), 0, len(bodies)
        while done < total:
            with self._cond:
                link = self._room()
                if link is None:  # no connection: the rest is not written at all
                    batch.remaining -= total - done
                    break
                count = min(self._limit - len(self._pending), total - done)
                now, chunk = time.monotonic(), []
                for index in range(done, done + count):
                    sequence = self._next_seq()
                    self._pending[sequence] = (batch, index, now)
                    body = bodies[index]
                    chunk.append(_PACK_HEADER(16 + len(body), pdu.SUBMIT_SM, 0, sequence) + body)
                done += count
            self.stats["submitted"] += count
            self._write(link, b"".join(chunk))
        self._wait(batch)
        return batch.results

    def _room(self) -> _Link | None:
        """Wait (holding self._cond) until the window has room; the link to write on, or None."""
        while True:
            link = self._link
            if link is None or self._closing:
                return None
            if self._limit < self.window and time.monotonic() >= self._throttled_until:
                self._limit = self.window
            if len(self._pending) < self._limit:
                return link
            self._cond.wait(self._expire())

    def _expire(self) -> float:
        """Answer TIMEOUT for submits unanswered too long (callers hold self._cond); seconds until the
        next one would expire."""
        deadline = time.monotonic() - self.submit_timeout
        while self._pending:
            sequence, (batch, index, written) = next(iter(self._pending.items()))
            if written > deadline:
                return max(0.01, written - deadline)
            del self._pending[sequence]
            batch.results[index] = (TIMEOUT, "")
            batch.remaining -= 1
        return self.submit_timeout

    def _wait(self, batch: _Batch) -> None:
        with self._cond:
            while batch.remaining > 0:
                self._cond.wait(self._expire())

    def _write(self, link: _Link, data: bytes) -> None:
        try:
            with link.write_lock:
                link.sock.sendall(data)
        except OSError:
            self._lost(link)

    def _send_control(self, link: _Link, command_id: int, body: bytes) -> None:
        with self._cond:
            sequence = self._next_seq()
        self._write(link, pdu.pack(command_id, sequence, body))

    # --- reading -------------------------------------------------------------------------------
    def _read(self, link: _Link, buffer: bytearray) -> None:
        try:
            while True:
                if buffer:
                    pdus, used = pdu.split_stream(buffer)
                    del buffer[:used]
                    self._dispatch(link, pdus)
                chunk = link.sock.recv(262144)
                if not chunk:
                    break
                link.last_heard = time.monotonic()
                buffer += chunk
        except (OSError, pdu.PduError) as error:
            if not link.dead:
                log.warning("smpp read failed", extra={"error": error.__class__.__name__})
        finally:
            self._lost(link)

    def _dispatch(self, link: _Link, pdus: list[pdu.Pdu]) -> None:
        answers = []
        for item in pdus:
            command_id = item.command_id
            if command_id == pdu.SUBMIT_SM_RESP or command_id == pdu.GENERIC_NACK:
                answers.append(item)
            elif command_id == pdu.DELIVER_SM or command_id == pdu.DATA_SM:
                self._inbox.put((link, item))
            else:
                self._control(link, item)
        if answers:
            self._complete(answers)

    def _control(self, link: _Link, item: pdu.Pdu) -> None:
        command_id = item.command_id
        if command_id == pdu.ENQUIRE_LINK:
            self._write(link, pdu.response(command_id, item.sequence))
        elif command_id == pdu.UNBIND:  # the SMSC is leaving: answer, then the keeper reconnects
            self._write(link, pdu.response(command_id, item.sequence))
            self._drop(link)
        elif command_id == pdu.UNBIND_RESP:
            link.unbound.set()
        elif command_id & 0x80000000 or command_id in (pdu.ALERT_NOTIFICATION, pdu.OUTBIND):
            return  # enquire_link_resp (last_heard is updated already), or nothing to answer
        else:
            self._write(link, pdu.pack(pdu.GENERIC_NACK, item.sequence, b"", ESME_RINVCMDID))

    def _complete(self, answers: list[pdu.Pdu]) -> None:
        message_id, pending = pdu.message_id, self._pending
        with self._cond:
            for item in answers:
                entry = pending.pop(item.sequence, None)
                if entry is None:  # answered after its timeout, or a nack to a control PDU
                    self.stats["late"] += 1
                    continue
                batch, index, _ = entry
                status = item.status if item.command_id == pdu.SUBMIT_SM_RESP else (item.status or ESME_RINVCMDID)
                batch.results[index] = (status, message_id(item.body) if status == 0 else "")
                batch.remaining -= 1
                if status == ESME_RTHROTTLED:
                    self._throttle()
            self.stats["answered"] += len(answers)
            self._cond.notify_all()

    def _throttle(self) -> None:
        """ESME_RTHROTTLED: halve the window for a while (callers hold self._cond)."""
        self.stats["throttled"] += 1
        self._limit = max(1, self._limit // 2)
        self._throttled_until = time.monotonic() + self.throttle_seconds

    # --- losing a connection -------------------------------------------------------------------
    def _drop(self, link: _Link) -> None:
        link.dead = True
        try:
            link.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        link.sock.close()

    def _lost(self, link: _Link) -> None:
        """The connection is gone: every submit waiting on it is LOST (the SMSC may have it)."""
        with self._cond:
            if self._link is not link:
                return
            self._link = None
            lost = len(self._pending)
            for batch, index, _ in self._pending.values():
                batch.results[index] = (LOST, "")
                batch.remaining -= 1
            self._pending.clear()
            self._cond.notify_all()
        if not link.dead:
            self._drop(link)
        if not self._closing:
            log.warning("smpp connection lost", extra={"in_flight": lost})
        self._wake.set()

    # --- the keeper ----------------------------------------------------------------------------
    def _keep(self) -> None:
        attempt = 0
        while not self._closing:
            link = self._link
            if link is None:
                attempt = self._reconnect(attempt)
                continue
            attempt = 0
            self._wake.wait(self.enquire_link_seconds)
            self._wake.clear()
            if self._closing or self._link is not link:
                continue
            if link.enquired_at and link.last_heard < link.enquired_at:
                log.warning("smpp enquire_link unanswered: reconnecting")
                self._drop(link)
                continue
            link.enquired_at = time.monotonic()
            self._send_control(link, pdu.ENQUIRE_LINK, b"")

    def _reconnect(self, attempt: int) -> int:
        ceiling = min(self.reconnect_max_seconds, 0.25 * 2 ** min(attempt, 16))
        self._wake.wait(random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not a secret
        self._wake.clear()
        if self._closing:
            return attempt
        try:
            link = self._connect()
        except ProviderError as error:
            log.warning("smpp reconnect failed", extra={"code": error.code, "attempt": attempt + 1})
            return attempt + 1
        with self._cond:
            self._link = link
            self._cond.notify_all()
        self.stats["reconnects"] += 1
        return 0

    # --- the handler ---------------------------------------------------------------------------
    def _handle(self) -> None:
        while True:
            first = self._inbox.get()
            if first is None:
                return
            items, stop = [first], False
            while len(items) < HANDLER_BATCH and not self._inbox.empty():
                item = self._inbox.get()
                if item is None:
                    stop = True
                    break
                items.append(item)
            self._deliver(items)
            if stop:
                return

    def _deliver(self, items: list[tuple[_Link, pdu.Pdu]]) -> None:
        try:
            statuses = self._on_deliver([item for _, item in items])
        except Exception:  # never acknowledge what was not applied: the SMSC delivers it again
            log.exception("smpp deliver handler failed", extra={"count": len(items)})
            statuses = [ESME_RX_T_APPN] * len(items)
        self.stats["delivered"] += len(items)
        by_link: dict[int, tuple[_Link, list[bytes]]] = {}
        for (link, item), status in zip(items, statuses, strict=True):
            answer = pdu.response(item.command_id, item.sequence, status, b"\x00")
            by_link.setdefault(id(link), (link, []))[1].append(answer)
        for link, answers in by_link.values():
            if not link.dead:  # an answer on another connection would match nothing
                self._write(link, b"".join(answers))
