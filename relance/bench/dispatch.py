"""`relance bench dispatch` (SPEC §7): messages per second from due row to provider call and recorded
status, every rule of §3.3 applied, against a bare claim-and-mark loop on the same rows.

Workers run as child processes (`relance bench dispatch --worker-only`): each starts Django, opens
its own connection, waits for "go" on its standard input, runs `Worker.run_once()` until nothing is
due and prints what it did as JSON. Timing starts at "go", so process start-up is not counted.
`in_process=True` runs one worker in this process instead (SQLite test databases live in memory).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from django.db import connection, connections, router, transaction
from django.utils import timezone

from relance.keystore import services as keys
from relance.messaging.models import Message
from relance.messaging.worker import Worker
from relance.providers.null import NullProvider

from . import world as bench_world
from .scenario import database

BARE_BATCH = 500


BIG_OUTBOX = 1_000_000


def settle() -> None:
    """VACUUM ANALYZE the outbox and ANALYZE the tables the worker reads, after a bulk fill or a
    requeue, as autovacuum would on a living database. With the statistics of empty tables the
    planner reads every due row and sorts them for each claim (a bitmap scan: ~100 ms per claim of
    500 among 10,000 due rows, instead of ~1 ms walking the due index) and scans whole tables for
    500 contacts. Every measure starts from the same settled tables."""
    from relance.consent.models import ConsentState, Information
    from relance.contacts.models import Contact, SuppressionEntry
    from relance.keystore.models import SubjectKey
    from relance.messaging.models import MessageEvent

    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        # In a big outbox (the generator's ten million rows) the bench's rows are a sliver: autovacuum would
        # not vacuum it for them (its threshold is a fifth of the table), and a VACUUM would scan all of its
        # indexes each time (minutes). Its statistics are refreshed, as autoanalyze would.
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [Message._meta.db_table])
        rows = (cursor.fetchone() or [0])[0]
        vacuum = "ANALYZE" if rows > BIG_OUTBOX else "VACUUM ANALYZE"
        cursor.execute(f"{vacuum} {quote(Message._meta.db_table)}")  # noqa: S608 (names from the models)
        for model in (Contact, ConsentState, Information, SuppressionEntry, MessageEvent):
            cursor.execute(f"ANALYZE {quote(model._meta.db_table)}")  # noqa: S608
    keys_db = connections[router.db_for_read(SubjectKey)]
    with keys_db.cursor() as cursor:
        cursor.execute(f"ANALYZE {keys_db.ops.quote_name(SubjectKey._meta.db_table)}")  # noqa: S608


# --- the bare loop ------------------------------------------------------------------------------
def bare_loop(org) -> dict:
    """Claim 500 due rows with FOR UPDATE SKIP LOCKED and mark them sent: nothing else."""
    skip_locked = connection.features.has_select_for_update_skip_locked
    done, started = 0, time.perf_counter()
    while True:
        now = timezone.now()
        with transaction.atomic():
            due = Message.unscoped.filter(status=Message.Status.SCHEDULED, due_at__lte=now).order_by("due_at")
            if skip_locked:
                due = due.select_for_update(skip_locked=True)
            ids = list(due.values_list("id", flat=True)[:BARE_BATCH])
            if not ids:
                break
            done += Message.unscoped.filter(id__in=ids).update(status=Message.Status.SENT, sent_at=now)
    elapsed = time.perf_counter() - started
    return {"messages": done, "seconds": round(elapsed, 3), "per_second": round(done / elapsed, 1) if elapsed else None}


# --- one worker, in this process (the child's body, and the SQLite path) --------------------------
def drain(batch_size: int, name: str | None = None, profile: str | None = None) -> dict:
    """Run one worker until nothing is due; its counts and wall-clock times."""
    keys.clear_caches()  # a fresh worker: its keys are unwrapped by the worker, not left by the set-up
    worker = Worker(name, batch_size=batch_size, provider_for=lambda channel: NullProvider(), simulate_receipts=False)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started, rounds = time.time(), 0
    try:
        while worker.run_once():
            rounds += 1
    finally:
        worker.close()
    ended = time.time()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return {"worker": worker.name, "started": started, "ended": ended, "rounds": rounds, **worker.totals}


def child_main(batch_size: int, profile: str | None = None) -> None:
    """--worker-only: wait for "go", drain, print the result as one JSON line."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    if sys.stdin.readline().strip() != "go":
        return
    sys.stdout.write(json.dumps(drain(batch_size, profile=profile)) + "\n")
    sys.stdout.flush()


def _spawn(batch_size: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "relance.cli", "bench", "dispatch", "--worker-only", "--batch", str(batch_size)]
    # Our own interpreter and command line, no outside input.
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=os.environ.copy())  # noqa: S603


def run_workers(count: int, batch_size: int) -> dict:
    """`count` worker processes on the same due rows; throughput from the first start to the last end."""
    children = [_spawn(batch_size) for _ in range(count)]
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a bench worker did not start; run it alone to see why: relance bench dispatch --worker-only")
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, _ = child.communicate(timeout=3600)
        if child.returncode:
            raise RuntimeError(f"a bench worker failed (exit {child.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return summarise(results)


def summarise(results: list[dict]) -> dict:
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)
    sent = sum(r["sent"] for r in results)
    return {"processes": len(results), "sent": sent, "claimed": sum(r["claimed"] for r in results),
            "retry": sum(r["retry"] for r in results), "failed": sum(r["failed"] for r in results),
            "seconds": round(elapsed, 3), "per_second": round(sent / elapsed, 1) if elapsed else None,
            "per_worker": [{k: r[k] for k in ("claimed", "sent", "rounds")} for r in results]}


# --- the whole bench ------------------------------------------------------------------------------
def run(messages: int, batches: list[int], workers: int, *, in_process: bool, progress, keep: bool = False) -> dict:
    started = timezone.now()
    progress(f"building {messages} due messages")
    t0 = time.perf_counter()
    world = bench_world.build(messages, progress)
    result = {"benchmark": "dispatch", "started_at": started.isoformat(), "database": database(),
              "messages": messages, "setup_seconds": round(time.perf_counter() - t0, 1), "runs": []}
    try:
        settle()
        progress("bare claim-and-mark loop")
        result["bare_loop"] = bare_loop(world.org)
        for batch_size in batches:
            run = {"batch": batch_size}
            for count in sorted({1, workers}):
                bench_world.requeue(world.org)
                settle()
                progress(f"worker x{count}, batch {batch_size}")
                run[f"workers_{count}"] = (summarise([drain(batch_size)]) if in_process and count == 1
                                           else run_workers(count, batch_size))
                run[f"workers_{count}"]["statuses"] = bench_world.statuses(world.org)
                progress(f"  {run[f'workers_{count}']['per_second']} messages/s")
            one = run["workers_1"]["per_second"] or 0
            run["ratio_to_bare_loop"] = round(one / result["bare_loop"]["per_second"], 3) if one else None
            if workers > 1:
                run["scaling"] = round((run[f"workers_{workers}"]["per_second"] or 0) / one, 2) if one else None
            result["runs"].append(run)
    finally:
        if not keep:
            bench_world.clean_up(world.org, progress)
    result["organisation"] = world.org.slug
    result["finished_at"] = timezone.now().isoformat()
    return result


