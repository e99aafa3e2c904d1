"""Servers that fail on command, for the outage tests: a Twilio-like vendor (VendorServer with a fault
mode) and an SMTP server (aiosmtpd) that refuses, defers or is not there at all; and the loop that
drives an in-process worker through an outage, round after round.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from relance.providers.testing.vendor_server import Recorded, VendorServer

TWILIO_SID = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"


def twilio_created(sid: str, to: str) -> dict:
    """The answer to a create, abridged from the example of
    https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource"""
    return {"account_sid": TWILIO_SID, "api_version": "2010-04-01", "direction": "outbound-api", "error_code": None,
            "error_message": None, "num_segments": "1", "sid": sid, "status": "queued", "to": to,
            "uri": f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}.json"}


# Twilio's error body (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions).
TWILIO_500 = {"code": 20500, "message": "Internal Server Error", "more_info": "https://www.twilio.com/docs/errors/20500",
              "status": 500}


class FaultyTwilio(VendorServer):
    """Twilio's Messages resource with a fault mode, switched by the test at any time:

    - "ok": the message is taken (the SMS leaves) and answered 201 with a fresh sid;
    - "error": answered 500 with Twilio's error body, nothing taken;
    - "hang": the message is taken (the SMS leaves) but the answer never comes: the connection is held
      for `hang_seconds`, longer than the client's timeout, then closed unanswered.

    `taken` lists every message the vendor took, as (To, wall-clock time): what a person's phone saw.
    """

    def __init__(self, *, hang_seconds: float = 30.0):
        super().__init__()
        self.mode = "ok"
        self.hang_seconds = hang_seconds
        self.taken: list[tuple[str, datetime]] = []
        self.answered = Counter()  # mode → requests answered (or not) that way
        self.closing = threading.Event()
        server = self

        class Faulty(self.httpd.RequestHandlerClass):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                body = self.rfile.read(length)
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                with server._lock:
                    server.requests.append(Recorded(self.command, parts.path, {}, {}, body))
                    mode = server.mode
                    server.answered[mode] += 1
                    if mode in ("ok", "hang"):
                        server.taken.append((form.get("To", ""), datetime.now(UTC)))
                if mode == "hang":
                    server.closing.wait(server.hang_seconds)
                    self.close_connection = True
                    return
                if mode == "error":
                    self._json(500, TWILIO_500)
                else:
                    self._json(201, twilio_created(f"SM{uuid.uuid4().hex}", form.get("To", "")))

            def _json(self, status: int, document: dict):
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd.RequestHandlerClass = Faulty

    def copies(self) -> Counter:
        with self._lock:
            return Counter(to for to, _ in self.taken)

    def __exit__(self, *exc):
        self.closing.set()
        super().__exit__(*exc)


# --- SMTP ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class FaultyMailbox:
    """An aiosmtpd handler with a mode:

    - "accept": every message is taken;
    - "busy": a relay that takes one message per connection, then answers 421 to the next MAIL FROM
      ("too many messages", the connection is closed by the client) — the commonest 4xx of all;
    - "greylist": every RCPT TO answered 451 (try again later);
    and addresses it always refuses with 550 (no such user), and messages (by X-Relance-Ref) whose DATA
    it refuses with 552 (too big), whatever the mode.
    """

    mode: str = "accept"
    refuse: set = field(default_factory=set)
    too_big: set = field(default_factory=set)
    received: list = field(default_factory=list)  # (X-Relance-Ref, To, wall-clock time)
    answers: Counter = field(default_factory=Counter)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        taken = getattr(session, "relance_taken", 0)
        if self.mode == "busy" and taken >= 1:
            self.answers["421"] += 1
            return "421 4.7.0 Too many messages in this connection, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            self.answers["550"] += 1
            return "550 5.1.1 No such user"
        if self.mode == "greylist":
            self.answers["451"] += 1
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        if mail["X-Relance-Ref"] in self.too_big:
            self.answers["552"] += 1
            return "552 5.3.4 Message size exceeds fixed limit"
        session.relance_taken = getattr(session, "relance_taken", 0) + 1
        self.received.append((mail["X-Relance-Ref"], mail["To"], datetime.now(UTC)))
        self.answers["250"] += 1
        return "250 Message accepted"

    def copies(self) -> Counter:
        return Counter(ref for ref, _, _ in self.received)


class SmtpServer:
    """aiosmtpd on a fixed port that can be stopped (connection refused) and started again."""

    def __init__(self, handler: FaultyMailbox):
        self.handler = handler
        self.port = free_port()
        self.controller = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        for _ in range(50):  # the port may linger a moment after a stop
            try:
                self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
                self.controller.start()
                return
            except (OSError, RuntimeError):
                time.sleep(0.1)
        raise RuntimeError("the SMTP server did not start again")

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def up(self) -> bool:
        return self.controller is not None


# --- the worker through an outage ---------------------------------------------------------------
@dataclass
class Drive:
    """What the rounds measured."""

    rounds: int = 0
    durations: list = field(default_factory=list)  # seconds per run_once()
    elapsed: float = 0.0


def drive(worker, *, finished, phase, deadline: float, idle: float = 0.05) -> Drive:
    """Run `worker.run_once()` until `finished()` answers True (checked between rounds once the
    outage is over) or `deadline` seconds have passed; `phase(elapsed)` is called before every round
    to switch the faults, and answers whether the outage is over."""
    out = Drive()
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        over = phase(elapsed)
        if (over and finished()) or elapsed > deadline:
            break
        began = time.monotonic()
        handled = worker.run_once()
        out.durations.append(time.monotonic() - began)
        out.rounds += 1
        if not handled:
            time.sleep(idle)
    out.elapsed = time.monotonic() - start
    return out


def percentile(values: list, q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]
