"""`relance bench stop` (SPEC §7, R-33): from an inbound STOP to the suppression in effect.

For each of N numbers: reminders to that number are made due, a worker sending concurrently (a
thread with its own connection, the null provider recording every call), then after a random short
delay the STOP is posted to the inbound webhook over HTTP (waitress on a free port, in this
process). Measured: the time from the request to its 2xx (p50/p95/p99). Checked: the suppression
entry exists when the 2xx arrives, and no provider call to that number starts after it (zero sends
after the STOP, R-33).

`client=True` (tests, SQLite in memory): Django's test client, and the worker rounds run in this
thread just before and after each STOP instead of in a thread.
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.request
from collections import defaultdict

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from relance.contacts.models import SuppressionEntry
from relance.messaging import outbox
from relance.messaging.models import Message
from relance.messaging.worker import Worker
from relance.providers.null import NullProvider

from . import world as bench_world
from .scenario import database

PER_NUMBER = 3  # reminders due to each number when its STOP comes in
PATH = "/api/v1/webhooks/locmem/inbound"
HEADER = "X-Relance-Webhook-Secret"


class RecordingProvider(NullProvider):
    """The null provider, noting when each number was handed over (monotonic clock of this process)."""

    def __init__(self, calls: dict):
        self.calls = calls

    def send(self, batch):
        at = time.monotonic()
        for item in batch:
            self.calls[item.to].append((at, item.ref))
        return super().send(batch)


class WorkerThread(threading.Thread):
    def __init__(self, calls: dict, batch_size: int):
        super().__init__(name="bench-worker", daemon=True)
        self.stopping = threading.Event()
        self.worker = Worker("bench-stop-worker", batch_size=batch_size, provider_for=lambda ch: RecordingProvider(calls),
                             simulate_receipts=False)
        self.error = None

    def run(self):
        try:
            self.worker.run(self.stopping, idle=0.005)
        except Exception as exc:  # reported by the bench, not lost in a thread
            self.error = exc
        finally:
            connection.close()


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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def run(stops: int, *, batch_size: int, client: bool, progress, keep: bool = False) -> dict:
    started = timezone.now()
    progress(f"building {stops} contacts")
    world = bench_world.build(stops, progress, messages=False)
    sender = bench_world.sender_of(world.org)
    calls: dict[str, list[float]] = defaultdict(list)
    poster = ClientPoster() if client else HttpPoster()
    thread = None
    inline = Worker("bench-stop-inline", batch_size=batch_size, provider_for=lambda ch: RecordingProvider(calls),
                    simulate_receipts=False) if client else None
    if not client:
        thread = WorkerThread(calls, batch_size)
        thread.start()
    latencies, answers, statuses, not_in_effect = [], {}, defaultdict(int), 0
    rng = random.Random(7)  # noqa: S311 (spacing requests, not a secret)
    try:
        for n, contact in enumerate(world.people):
            _due(world, contact, n)
            if inline is not None:
                inline.run_once()  # these leave before the STOP...
                _due(world, contact, n)  # ...these are due when it comes in: they must never leave
            else:
                time.sleep(rng.uniform(0, 0.02))  # the STOP lands while the reminders are due, claimed or sending
            phone = contact.phone
            t0 = time.monotonic()
            status = poster.post({"sender": phone, "to": sender, "text": "STOP"})
            t1 = time.monotonic()
            statuses[status] += 1
            latencies.append(t1 - t0)
            answers[phone] = t1
            if not SuppressionEntry.objects.for_org(world.org).filter(phone_hash=contact.phone_index).exists():
                not_in_effect += 1
            if inline is not None:
                inline.run_once()
            if (n + 1) % 100 == 0:
                progress(f"STOP {n + 1}/{stops}, p50 so far {percentile(latencies, 50) * 1000:.1f} ms")
        if thread is not None:
            time.sleep(1)  # let the worker take everything still due: anything it sends now would be a violation
    finally:
        if thread is not None:
            thread.stopping.set()
            thread.join(timeout=30)
        poster.close()
    # The STOP acknowledgement is owed to the person: it goes after the STOP, and is not a violation.
    refs = [ref for made in calls.values() for _at, ref in made]
    replies = {str(pk) for pk in Message.objects.for_org(world.org).filter(
        pk__in=refs, source=Message.Source.REPLY).values_list("pk", flat=True)}
    after = [ref for phone, answered in answers.items() for at, ref in calls.get(phone, [])
             if at > answered and ref not in replies]
    violations = len(after)
    counts = bench_world.statuses(world.org)
    if not keep:
        bench_world.clean_up(world.org, progress)
    ms = [value * 1000 for value in latencies]
    return {
        "benchmark": "stop", "started_at": started.isoformat(), "finished_at": timezone.now().isoformat(),
        "database": database(), "transport": "django test client" if client else "HTTP (waitress, in process)",
        "worker": "inline rounds" if client else "thread, concurrent", "stops": stops,
        "reminders_per_number": PER_NUMBER, "http_statuses": {str(k): v for k, v in statuses.items()},
        "latency_ms": {"p50": round(percentile(ms, 50), 2), "p95": round(percentile(ms, 95), 2),
                       "p99": round(percentile(ms, 99), 2), "max": round(max(ms), 2), "mean": round(sum(ms) / len(ms), 2)},
        "sent_before_stop": len(refs) - len(replies) - violations, "acknowledgements_sent": len(replies),
        "sends_after_stop": violations, "suppression_missing_at_2xx": not_in_effect,
        "message_statuses": counts, "worker_error": repr(thread.error) if thread is not None and thread.error else None,
        "organisation": world.org.slug,
    }
