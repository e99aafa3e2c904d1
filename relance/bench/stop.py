"""`relance bench stop` (SPEC §7, R-33): from an inbound STOP to the suppression in effect.

For each of N numbers: reminders to that number are made due, a worker sending concurrently, then
after a random short delay the STOP is posted to the inbound webhook over HTTP (waitress on a free
port, in this process, a new TCP connection per request). Measured: the time from the request to
its 2xx (p50/p95/p99). Checked: the suppression entry exists when the 2xx arrives, and no provider
call to that contact starts after it (zero sends after the STOP, R-33).

The worker runs in a process of its own, as `relance worker` does in production: a worker thread in
the webhook's process would hold the interpreter lock while it renders and seals, and the STOP
latency measured would be the two sharing one lock. The null provider it uses notes when each call
starts (CLOCK_MONOTONIC, the same clock in both processes on Linux) and the message it carries; the
child reports them when told to stop.

`client=True` (tests, SQLite in memory): Django's test client, and the worker rounds run in this
thread just before and after each STOP instead of in a process.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.request
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relance.contacts.models import SuppressionEntry
from relance.messaging import outbox
from relance.messaging.models import Message
from relance.messaging.worker import Worker
from relance.providers.null import NullProvider

from . import world as bench_world
from .scenario import database, latency_stats, percentile

PER_NUMBER = 3  # reminders due to each number when its STOP comes in
PATH = "/api/v1/webhooks/locmem/inbound"
HEADER = "X-Relance-Webhook-Secret"


class RecordingProvider(NullProvider):
    """The null provider, noting when each message was handed over (monotonic clock) and which."""

    def __init__(self, calls: list):
        self.calls = calls

    def send(self, batch):
        at = time.monotonic()
        self.calls.extend((at, item.ref) for item in batch)
        return super().send(batch)


def child_main(batch_size: int) -> None:
    """The worker process: "ready", then send until a line arrives on stdin, then one "call <at> <ref>"
    line per provider call (refs are message ids, no personal data)."""
    stopping = threading.Event()
    calls: list = []
    worker = Worker("bench-stop-worker", batch_size=batch_size, provider_for=lambda ch: RecordingProvider(calls),
                    simulate_receipts=False)

    def wait_for_stop():
        sys.stdin.readline()
        stopping.set()

    threading.Thread(target=wait_for_stop, daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    try:
        worker.run(stopping, idle=0.005)
    finally:
        worker.close()
    sys.stdout.write("".join(f"call {at!r} {ref}\n" for at, ref in calls))
    sys.stdout.flush()


CHILD = ("import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'relance.settings'); django.setup(); "
         "from relance.bench.stop import child_main; child_main(int(sys.argv[1]))")


class WorkerProcess:
    """`child_main` in a process of its own (our interpreter, our environment, no outside input)."""

    def __init__(self, batch_size: int):
        self.error = None
        self.process = subprocess.Popen([sys.executable, "-c", CHILD, str(batch_size)], stdin=subprocess.PIPE,  # noqa: S603
                                        stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        if self.process.stdout.readline().strip() != "ready":
            self.process.kill()
            raise RuntimeError("the bench worker process did not start")

    def stop(self) -> list[tuple[float, str]]:
        try:
            out, _err = self.process.communicate("stop\n", timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _err = self.process.communicate()
            self.error = "worker process did not stop"
        if self.process.returncode and self.error is None:
            self.error = f"worker process exit {self.process.returncode}"
        calls = []
        for line in out.splitlines():
            if line.startswith("call "):
                _word, at, ref = line.split()
                calls.append((float(at), ref))
        return calls


class HttpPoster:
    """The webhook over real HTTP: waitress serving the WSGI application on a free local port.
    (relance.ops.server.serve installs signal handlers, which only the main thread may do.)"""

    def __init__(self):
        from waitress.server import create_server

        from relance.wsgi import application

        self.server = create_server(application, host="127.0.0.1", port=0, threads=4, ident="relance-bench")
        self.url = f"http://127.0.0.1:{self.server.effective_port}{PATH}"
        self.thread = threading.Thread(target=self._run, name="bench-http", daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.server.run()
        except (OSError, ValueError):  # closed
            pass

    def post(self, body: dict) -> int:
        request = urllib.request.Request(self.url, data=json.dumps(body).encode(), method="POST", headers={  # noqa: S310
            "Content-Type": "application/json", HEADER: settings.RELANCE_WEBHOOK_SECRET})
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (our own local server)
            answer.read()
            return answer.status

    def close(self):
        self.server.close()
        self.thread.join(timeout=5)


class ClientPoster:
    def __init__(self):
        from django.test import Client

        self.client = Client()

    def post(self, body: dict) -> int:
        return self.client.post(PATH, data=json.dumps(body), content_type="application/json",
                                headers={HEADER: settings.RELANCE_WEBHOOK_SECRET}).status_code

    def close(self):
        pass


def _due(world, contact, n: int) -> None:
    with transaction.atomic():
        outbox.enqueue_many(bench_world.due_messages(world.purpose, world.template, [contact] * PER_NUMBER,
                                                     first=n * PER_NUMBER), decided=True)


def run(stops: int, *, batch_size: int, client: bool, progress, keep: bool = False) -> dict:
    started = timezone.now()
    progress(f"building {stops} contacts")
    world = bench_world.build(stops, progress, messages=False)
    sender = bench_world.sender_of(world.org)
    calls: list[tuple[float, str]] = []
    poster = ClientPoster() if client else HttpPoster()
    child = None
    inline = Worker("bench-stop-inline", batch_size=batch_size, provider_for=lambda ch: RecordingProvider(calls),
                    simulate_receipts=False) if client else None
    latencies, answers, statuses, not_in_effect = [], {}, defaultdict(int), 0
    rng = random.Random(7)  # noqa: S311 (spacing requests, not a secret)
    try:
        if not client:
            child = WorkerProcess(batch_size)
        for n, contact in enumerate(world.people):
            _due(world, contact, n)
            if inline is not None:
                inline.run_once()  # these leave before the STOP...
                _due(world, contact, n)  # ...these are due when it comes in: they must never leave
            else:
                time.sleep(rng.uniform(0, 0.02))  # the STOP lands while the reminders are due, claimed or sending
            t0 = time.monotonic()
            status = poster.post({"sender": contact.phone, "to": sender, "text": "STOP"})
            t1 = time.monotonic()
            statuses[status] += 1
            latencies.append(t1 - t0)
            answers[contact.pk] = t1
            if not SuppressionEntry.objects.for_org(world.org).filter(phone_hash=contact.phone_index).exists():
                not_in_effect += 1
            if inline is not None:
                inline.run_once()
            if (n + 1) % 100 == 0:
                progress(f"STOP {n + 1}/{stops}, p50 so far {percentile(latencies, 50) * 1000:.1f} ms")
        if child is not None:
            time.sleep(1)  # let the worker take everything still due: anything it sends now would be a violation
    finally:
        if child is not None:
            calls += child.stop()
        poster.close()
    # The STOP acknowledgement is owed to the person: it goes after the STOP, and is not a violation.
    sent = {str(pk): (recipient, source) for pk, recipient, source in Message.objects.for_org(world.org).filter(
        pk__in=[ref for _at, ref in calls]).values_list("pk", "recipient_id", "source")}
    replies = {ref for ref, (_recipient, source) in sent.items() if source == Message.Source.REPLY}
    after = [ref for at, ref in calls if ref not in replies and ref in sent and sent[ref][0] in answers
             and at > answers[sent[ref][0]]]
    violations = len(after)
    counts = bench_world.statuses(world.org)
    if not keep:
        bench_world.clean_up(world.org, progress)
    ms = [value * 1000 for value in latencies]
    return {
        "benchmark": "stop", "started_at": started.isoformat(), "finished_at": timezone.now().isoformat(),
        "database": database(), "transport": "django test client" if client else "HTTP (waitress, in process)",
        "worker": "inline rounds" if client else "a process of its own, concurrent", "stops": stops,
        "reminders_per_number": PER_NUMBER, "http_statuses": {str(k): v for k, v in statuses.items()},
        "latency_ms": latency_stats(ms),
        "sent_before_stop": len(calls) - len(replies) - violations, "acknowledgements_sent": len(replies),
        "sends_after_stop": violations, "suppression_missing_at_2xx": not_in_effect,
        "message_statuses": counts, "worker_error": child.error if child is not None else None,
        "organisation": world.org.slug,
        "samples_ms": {"stop": [round(value, 2) for value in ms]},  # the distribution (relance bench report)
    }
