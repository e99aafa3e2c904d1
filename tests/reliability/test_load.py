"""Issue 9, part 6: the API under sustained load from a second process while the worker sends.

`relance serve` (waitress, 8 threads) and `relance worker` run as child processes on the test
databases (PostgreSQL: several processes on one database); the worker sends the organisation's due
SMS through an SMPP account bound to the SMSC simulator, receipts on. wrk (another process, 2 threads,
8 connections, closed loop) sends a realistic mix for `scale(15 s, 300 s)` with tests/reliability/
load.lua: GET a contact (an audited read, R-65), its consent state, a filtered message list, a
message, the organisation; POST an event (an upsert, R-23/R-27) and a consent record (the chained
ledger, R-10/R-11), each POST with its own Idempotency-Key, one event in ten sent again with the same
key and body (the stored answer must come back, SPEC §4).

What must hold: no socket error, every answer a 2xx (wrk's "Non-2xx or 3xx" line and the script's own
count per status), so no 5xx; the events in the database are those the answers announced (replays did
not act twice); the worker kept sending through the whole window (sends in each third of it); after
the load every seeded message reaches a final state (R-29: delivered by its receipt), none lost, none
submitted twice; neither child wrote a traceback or an error log. The latency distribution and
requests/s are recorded (`load-api`) for docs/reliability.md.

The simulator answers each submit_sm after `delay_ms` during the load (an SMSC's latency; with 32 in
flight it caps the worker at 80 % of messages/seconds, 200 ms and 160 submits/s at both scales), so
that the worker cannot drain the outbox before the load ends; the delay is lifted afterwards and the
rest drains at full speed. On a saturated machine this test found receipts applied one transaction each falling behind the
sends (the SMSC waited tens of seconds for its deliver_sm_resp): relance.messaging.receipts.apply_receipts.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.utils import timezone

from conftest import needs
from relance.bench import dispatch as bench_dispatch
from relance.bench import http as bench_http
from relance.bench import world as bench_world
from relance.consent import services as consent
from relance.messaging import outbox
from relance.messaging.models import Message, Template
from relance.providers import services as providers
from relance.providers.testing import smsc as smsc_fixtures
from relance.reminders.models import Event
from tests.reliability import loadrun
from tests.reliability.scale import record, scale

smsc_process, smsc = smsc_fixtures.smsc_process, smsc_fixtures.smsc  # the simulator's fixtures, used here

SECONDS = scale(15, 300)
CONTACTS = scale(2_000, 5_000)
MESSAGES = scale(3_000, 60_000)
THREADS, CONNECTIONS, SERVER_THREADS = 2, 8, 8
WINDOW = 32  # submit_sm in flight on the bind (the SMPP account's default)
SCOPES = ["contacts:read", "messages:read", "events:write", "consent:write", "organisation:read"]
SERVING = re.compile(r"serving on http://[^:/]+:(\d+)/")


def smsc_delay_ms(messages: int, seconds: int) -> int:
    """A submit_sm latency that caps the worker at 80 % of `messages / seconds`: still busy at the end."""
    return max(1, round(WINDOW * 1000 * seconds / (0.8 * messages)))


# --- the child processes -------------------------------------------------------------------------
class Child:
    """A `relance …` child process writing to files, read whole afterwards (nothing is lost to a pipe)."""

    def __init__(self, folder: Path, name: str, *arguments: str):
        self.name = name
        self.out, self.err = folder / f"{name}.out", folder / f"{name}.err"
        command = [sys.executable, "-m", "relance.cli", *arguments]
        with self.out.open("w") as out, self.err.open("w") as err:
            # Our own interpreter and command line.
            self.process = subprocess.Popen(command, stdout=out, stderr=err, env=bench_http.child_env())  # noqa: S603

    def wait_for(self, pattern: re.Pattern, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = pattern.search(self.out.read_text())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not start: {self.output()[-3000:]}")

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: the worker finishes its batch, waitress closes
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        return self.process.returncode


def wait_ready(port: int, secret: str, timeout: float = 60) -> None:
    client, deadline = bench_http.Client(port, secret, timeout=10), time.monotonic() + timeout
    try:
        while True:
            try:
                if client.request("GET", bench_http.READY_PATH)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server does not answer")
            time.sleep(0.1)
    finally:
        client.close()


# --- the organisation ------------------------------------------------------------------------------
def seed(simulator) -> dict:
    """The bench organisation, a consent purpose with its notice, contacts, due SMS, an SMPP account."""
    progress = lambda _line: None  # noqa: E731
    org = bench_world.create_org(f"load-{uuid.uuid4().hex[:6]}")
    purpose = bench_world.create_purpose(org)
    template = Template.objects.create(organisation=org, purpose=purpose, code="rappel", channel="sms", language="fr",
                                       body=bench_world.SMS_BODY)
    newsletter = consent.create_purpose(
        org, actor=bench_world.BENCH, code="load-news", label_fr="Nouvelles", label_en="News",
        message_class="service", legal_basis="consent", consent_validity_days=365, data_categories=["contact"],
        recipients=["Staff"], retention="1 year", retention_days=365, channels=["sms"])
    for language, text in bench_world.NOTICE.items():
        consent.publish_notice(newsletter, actor=bench_world.BENCH, language=language, text=text)
    newsletter = consent.activate_purpose(newsletter, actor=bench_world.BENCH)
    batch_id = uuid.uuid4()
    bench_world.inform_batch(purpose, batch_id)
    contacts = bench_world.create_contacts(org, CONTACTS, batch_id, progress)
    for first in range(0, MESSAGES, len(contacts)):
        people = contacts[: MESSAGES - first]
        for start in range(0, len(people), bench_world.CHUNK):
            built = bench_world.due_messages(purpose, template, people[start:start + bench_world.CHUNK],
                                             first=first + start)
            with transaction.atomic():
                outbox.enqueue_many(built, decided=True)
    providers.create_account(org, name="smsc", kind="smpp", actor=bench_world.BENCH, credentials={
        "host": simulator.host, "port": simulator.port, "system_id": "relance", "password": "load"}, options={"window": WINDOW})
    bench_dispatch.settle()
    return {"org": org, "purpose": purpose, "newsletter": newsletter, "contacts": contacts,
            "notice": consent.current_notice(newsletter, "fr")}


def data_file(folder: Path, seeded: dict, secret: str) -> Path:
    messages = Message.objects.for_org(seeded["org"]).values_list("id", flat=True).order_by("?")[:2000]
    lines = [f"key {secret}", f"nonce {uuid.uuid4().hex[:8]}", f"purpose {seeded['purpose'].pk}",
             f"consent_purpose {seeded['newsletter'].pk}", f"notice {seeded['notice'].pk}"]
    lines += [f"contact {contact.pk}" for contact in seeded["contacts"][:2000]]
    lines += [f"message {message_id}" for message_id in messages]
    path = folder / "load-data.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def statuses(org) -> dict[str, int]:
    from django.db.models import Count

    rows = Message.objects.for_org(org).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


class Sampler:
    """The simulator's counters every half second while the load runs: when the worker submitted."""

    def __init__(self, simulator, every: float = 0.5):
        self.smsc, self.every = simulator, every
        self.samples: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="load-sampler", daemon=True)

    def _run(self) -> None:
        while True:
            stats = self.smsc.stats(since=1 << 53)
            self.samples.append((time.monotonic(), {k: v for k, v in stats.items() if isinstance(v, int)}))
            if self._stop.wait(self.every):
                stats = self.smsc.stats(since=1 << 53)
                self.samples.append((time.monotonic(), {k: v for k, v in stats.items() if isinstance(v, int)}))
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def thirds(self, counter: str) -> list[int]:
        """How much `counter` grew in each third of the sampled time."""
        (t0, first), (t1, _last) = self.samples[0], self.samples[-1]
        edges = [first[counter]]
        for k in (1, 2, 3):
            limit = t0 + (t1 - t0) * k / 3
            edges.append(max(values[counter] for at, values in self.samples if at <= limit + 1e-9))
        return [b - a for a, b in zip(edges, edges[1:], strict=False)]

    def longest_pause(self, counter: str) -> float:
        """The longest time `counter` did not move, in seconds."""
        longest, since, value = 0.0, self.samples[0][0], self.samples[0][1][counter]
        for at, values in self.samples[1:]:
            if values[counter] != value:
                since, value = at, values[counter]
            longest = max(longest, at - since)
        return round(longest, 1)


# --- the test --------------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.chaos
@pytest.mark.django_db(databases=["default", "keys"], transaction=True)
def test_the_api_answers_every_request_under_load_while_the_worker_sends(request, tmp_path):
    """R-10, R-11, R-23, R-27, R-29, R-65, SPEC §4 (idempotency) and §7: sustained API load from a second
    process, the worker sending meanwhile: no error, no 5xx, nothing lost, latency recorded."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server, the worker and wrk's load share one database from three processes")
    needs("wrk", loadrun.wrk_path() is not None, "install it with `make wrk` (Debian package wrk)")
    simulator = request.getfixturevalue("smsc")  # after the skip: no simulator started on SQLite
    t0 = time.monotonic()
    seeded = seed(simulator)
    org = seeded["org"]
    secret = bench_http.api_key(org, SCOPES)
    data = data_file(tmp_path, seeded, secret)
    setup_seconds = round(time.monotonic() - t0, 1)
    delay = smsc_delay_ms(MESSAGES, SECONDS)
    simulator.behaviour(delay_ms=delay)

    server = Child(tmp_path, "server", "serve", "--host", "127.0.0.1", "--port", "0", "--threads", str(SERVER_THREADS))
    worker = None
    try:
        port = int(server.wait_for(SERVING).group(1))
        wait_ready(port, secret)
        worker = Child(tmp_path, "worker", "worker", "--name", "load-worker")
        worker.wait_for(re.compile(r"Worker \S+ started"))
        simulator.wait_for(lambda stats: stats["submits"] > 0, timeout=60)  # the load starts once the worker sends
        before = bench_http.load_average()
        sampler = Sampler(simulator)
        sampler.start()
        started = timezone.now()
        result = loadrun.run_wrk(f"http://127.0.0.1:{port}", data, seconds=SECONDS, threads=THREADS,
                                 connections=CONNECTIONS)
        ended = timezone.now()
        sampler.stop()
        after = bench_http.load_average()
        simulator.behaviour(delay_ms=0)  # the rest drains at full speed
        at_end = statuses(org)
        drain_started = time.monotonic()
        deadline = drain_started + scale(90, 900)
        while time.monotonic() < deadline:
            final = statuses(org)
            if sum(n for status, n in final.items() if status in Message.FINAL) == MESSAGES:
                break
            time.sleep(0.25)
        drain_seconds = round(time.monotonic() - drain_started, 1)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    server_log, worker_log = server.output(), worker.output()
    smsc_stats = simulator.stats(since=1 << 53)
    events = Event.objects.for_org(org).count()

    window = (ended - started).total_seconds()
    sent_thirds = sampler.thirds("submits")
    lat = result["latency_ms"]
    figures = {
        "seconds": SECONDS, "threads": THREADS, "connections": CONNECTIONS, "server_threads": SERVER_THREADS,
        "requests": result.get("requests"), "requests_per_second": result.get("requests_per_second"),
        "p50_ms": lat.get("p50"), "p90_ms": lat.get("p90"), "p99_ms": lat.get("p99"), "max_ms": lat.get("max"),
        "non_2xx": result["non_2xx_3xx"], "socket_errors": sum(result["socket_errors"].values()),
        "5xx": sum(n for status, n in result["statuses"].items() if status.startswith("5")),
        "messages": MESSAGES, "contacts": CONTACTS, "smsc_delay_ms": delay,
        "sent_during_load": sum(sent_thirds), "worker_rate_per_s": round(sum(sent_thirds) / window, 1),
        "longest_send_pause_s": sampler.longest_pause("submits"),
        "receipts_acked_during_load": sum(sampler.thirds("receipts_acked")),
        "receipt_backlog_at_end_of_load": at_end.get(Message.Status.SENT, 0) + at_end.get(Message.Status.SENDING, 0),
        "lost": MESSAGES - sum(n for status, n in final.items() if status in Message.FINAL),
        "duplicated_submits": max(0, smsc_stats["submits"] - MESSAGES),
        "events_created": events, "idempotent_replays": result.get("replayed", 0),
        "setup_seconds": setup_seconds, "drain_seconds": drain_seconds,
        "server_log_errors": len(loadrun.tracebacks(server_log)), "worker_log_errors": len(loadrun.tracebacks(worker_log)),
        "server_log_warnings": server_log.count('"level": "warning"'),
        "statuses": result["statuses"], "sent": result["sent"], "answered": result["answered"],
        "latency_ms": lat, "sent_per_third": sent_thirds, "outbox_at_end_of_load": at_end, "outbox_final": final,
        "smsc": {k: v for k, v in smsc_stats.items() if isinstance(v, int)},
        "load_average": {"before": before, "after": after},
    }
    record("load-api", figures)
    print(f"\nload-api: {figures}")  # noqa: T201 (the figures, in the test's output for the report)

    assert loadrun.problems(result) == []
    assert not loadrun.tracebacks(server_log), server_log[-3000:]
    assert not loadrun.tracebacks(worker_log), worker_log[-3000:]
    # Every kind of call was made and answered (the mix is what the script says it is).
    assert set(result["answered"]) >= {"contact", "consent_state", "messages", "message", "event", "consent",
                                       "organisation"}, result["answered"]
    assert "unrecognised" not in result["answered"], result["answered"]
    # Replays did not act twice: one event per first POST answered, at most one more per connection cut at the end.
    assert result["replayed"] > 0
    assert result["answered"]["event"] <= events <= result["answered"]["event"] + CONNECTIONS
    # The worker kept sending through the whole load, and nothing was lost or sent twice.
    assert all(n > 0 for n in sent_thirds), sent_thirds
    assert figures["lost"] == 0, final
    assert final.get(Message.Status.DELIVERED, 0) == MESSAGES, final
    assert smsc_stats["submits"] == MESSAGES, smsc_stats


# --- the detectors catch a planted fault ----------------------------------------------------------
class StubApi(BaseHTTPRequestHandler):
    """Answers as the API would (JSON, keep-alive), or, when `faulty`, a 500 every fifth request and a
    connection closed without an answer every seventh."""

    protocol_version = "HTTP/1.1"
    faulty = False
    count = 0
    lock = threading.Lock()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        with StubApi.lock:
            StubApi.count += 1
            n = StubApi.count
        if self.faulty and n % 7 == 0:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = 500 if self.faulty and n % 5 == 0 else 200
        body = b'{"id": 1, "processes_health_data": false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # quiet
        pass


def stub_load(tmp_path, faulty: bool) -> dict:
    handler = type("Stub", (StubApi,), {"faulty": faulty})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    data = tmp_path / "stub-data.txt"
    data.write_text(f"key rlk_stub\nnonce stub\npurpose 1\nconsent_purpose 2\nnotice 3\ncontact {uuid.uuid4()}\n"
                    f"message {uuid.uuid4()}\n")
    try:
        return loadrun.run_wrk(f"http://127.0.0.1:{server.server_address[1]}", data, seconds=1, threads=1,
                               connections=2, timeout_seconds=2)
    finally:
        server.shutdown()
        server.server_close()


def test_the_load_check_catches_server_errors_and_dropped_connections(tmp_path):
    """Planted fault (issue 9: a detector must be able to fail): a server answering 500s and dropping
    connections is reported by loadrun.problems; the same server without faults is not."""
    needs("wrk", loadrun.wrk_path() is not None, "install it with `make wrk` (Debian package wrk)")
    healthy = stub_load(tmp_path, faulty=False)
    assert loadrun.problems(healthy) == [], healthy
    assert healthy["requests"] > 0 and healthy["statuses"] == {"200": healthy["requests"]}
    assert set(healthy["latency_ms"]) >= {"p50", "p90", "p99", "max"}
    faulty = stub_load(tmp_path, faulty=True)
    found = " | ".join(loadrun.problems(faulty))
    assert faulty["statuses"].get("500") and faulty["non_2xx_3xx"] == faulty["statuses"]["500"], faulty
    assert "server errors (5xx)" in found and "statuses outside 2xx" in found
    assert "socket errors" in found and faulty["socket_errors"]["read"] > 0, faulty


def test_the_log_check_catches_a_traceback_and_an_error_record():
    """Planted fault: a traceback (plain or in a JSON log line) or an error record is found; the
    server's ordinary lines (info, waitress's queue warnings) are not."""
    ordinary = "\n".join([
        "Relance is serving on http://127.0.0.1:8000/ (Ctrl+C to stop)",
        '{"time": "t", "level": "info", "logger": "relance.worker", "message": "worker started"}',
        '{"time": "t", "level": "warning", "logger": "waitress.queue", "message": "Task queue depth is 1"}',
    ])
    assert loadrun.tracebacks(ordinary) == []
    planted = [
        '{"time": "t", "level": "error", "logger": "django.request", "message": "Internal Server Error: /api/v1/x", '
        '"error": "Traceback (most recent call last):\\n  File ..."}',
        "Traceback (most recent call last):",
        "django.db.utils.OperationalError: deadlock detected",
        "ERROR:waitress:Exception while serving /api/v1/messages",
    ]
    for line in planted:
        assert loadrun.tracebacks(ordinary + "\n" + line) == [line], line
