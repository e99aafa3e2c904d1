"""`relance bench purge` (SPEC §7: ≥ 100,000 message rows/s purged).

Builds a bench organisation with `--contacts` contacts (sealed, their own keys) and `--rows` finished
messages (default 1,000,000), each with a three-line timeline (scheduled, sent, delivered or the
failure), all created 765 to 400 days ago in creation order (as an outbox fills: oldest rows first on disk), so
every one is past the default metadata retention.
On PostgreSQL the rows are written by `INSERT … SELECT generate_series` in chunks (the bench
measures the purge, not the filling). The sealed columns hold a 160-byte filler standing in for a
ciphertext: the purge never reads them. Then `run_purge(categories=["message_metadata"])` runs and
the result gives rows/s (messages + timeline rows), messages/s and the statistics rows written;
the statistics are checked to add up to the messages purged (R-51).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from relance.messaging.models import Message, MessageEvent
from relance.privacy.models import MessageStat
from relance.privacy.purge import TIMELINE, run_purge

from . import scenario
from . import world as bench_world
from .fill import Spread, fill_messages
from .scenario import database

FILLER = os.urandom(160)
STATUSES = ["delivered"] * 17 + ["failed", "suppressed", "expired"]  # 85 % delivered
OLDEST_DAYS, SPREAD_DAYS = 400, 365


ARGUMENTS = [("--days-later", {"type": int, "default": 73, "help": "purge --org: purge as it would run this many "
                                                                   "days from now (the oldest days of messages expire)"})]


def run(command, options) -> dict:
    rows = options.get("rows") or 1_000_000
    contacts = options.get("contacts") or 1000
    batch = int(str(options.get("batch") or 10_000).split(",")[0])
    scenario.require_postgresql("purge", options)
    progress = scenario.progress_for(command, "purge")
    if options.get("org"):
        return measure_in(scenario.organisation(options["org"]), options.get("days_later") or 73, batch, progress)
    return measure(rows, contacts, batch, progress, keep=options.get("keep", False))


def measure_in(org, days_later: int, batch: int, progress) -> dict:
    """The message-metadata purge of an existing organisation (the generator's) as it would run
    `days_later` days from now: the messages older than the retention by then go, in a table that
    holds every other organisation's messages too."""
    started = timezone.now()
    before = scenario.estimated_rows([Message, MessageEvent])
    progress(f"purging {org.slug}'s message metadata as of {days_later} days from now, batch {batch}")
    t = time.perf_counter()
    report = run_purge(org, actor=bench_world.BENCH, trigger="command", categories=["message_metadata"],
                       batch=batch, now=started + timedelta(days=days_later),
                       progress=lambda _category, done: progress(f"  {done} messages purged"))
    seconds = time.perf_counter() - t
    purged, events = report.counts["message_metadata"], report.counts.get(TIMELINE, 0)
    result = {
        "benchmark": "purge", "started_at": started.isoformat(), "database": database(), "batch": batch,
        "organisation": org.slug, "days_later": days_later, "table_rows_before": before,
        "purged_messages": purged, "purged_timeline_rows": events, "seconds": round(seconds, 3),
        "rows_per_second": round((purged + events) / seconds) if seconds else None,
        "messages_per_second": round(purged / seconds) if seconds else None,
        "stats_rows_written": report.stats_rows,
        "report": str(report.pk), "goal_rows_per_second": 100_000,
    }
    progress(f"{result['rows_per_second']} rows/s ({result['messages_per_second']} messages/s)")
    return result


def measure(rows: int, contacts: int, batch: int, progress, *, keep: bool = False) -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"purge-{uuid.uuid4().hex[:6]}", messages=False)
    fill_messages(world, rows, spread(rows), progress)
    setup = time.perf_counter() - t0
    timeline = MessageEvent.objects.for_org(world.org).count()
    progress(f"purging {rows} messages and {timeline} timeline rows, batch {batch}")
    t1 = time.perf_counter()
    report = run_purge(world.org, actor=bench_world.BENCH, trigger="command", categories=["message_metadata"],
                       batch=batch, progress=lambda _category, done: progress(f"  {done} messages purged"))
    seconds = time.perf_counter() - t1
    purged, events = report.counts["message_metadata"], report.counts.get(TIMELINE, 0)
    counted = MessageStat.objects.for_org(world.org).aggregate(n=Sum("count"))["n"] or 0
    result = {
        "benchmark": "purge", "started_at": started.isoformat(), "database": database(), "batch": batch,
        "contacts": contacts, "messages": rows, "timeline_rows": timeline, "setup_seconds": round(setup, 1),
        "purged_messages": purged, "purged_timeline_rows": events, "seconds": round(seconds, 3),
        "rows_per_second": round((purged + events) / seconds) if seconds else None,
        "messages_per_second": round(purged / seconds) if seconds else None,
        "stats_rows": MessageStat.objects.for_org(world.org).count(), "stats_count_matches": counted == purged,
        "left": Message.objects.for_org(world.org).count(), "report": str(report.pk), "organisation": world.org.slug,
        "goal_rows_per_second": 100_000,
    }
    progress(f"{result['rows_per_second']} rows/s ({result['messages_per_second']} messages/s)")
    if not keep:
        bench_world.clean_up(world.org, progress)
    return result


def spread(rows: int) -> Spread:
    """The rows span SPREAD_DAYS, oldest first as an outbox fills, all older than OLDEST_DAYS."""
    return Spread(origin=timezone.now() - timedelta(days=OLDEST_DAYS + SPREAD_DAYS),
                  step=SPREAD_DAYS * 86400 / max(rows, 1), statuses=STATUSES, filler=FILLER, segments=3)

