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

import json
import os
import sys
import time
import uuid
from datetime import timedelta

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from relance.messaging.models import Message, MessageEvent
from relance.privacy.models import MessageStat
from relance.privacy.purge import TIMELINE, run_purge

from . import machine
from . import world as bench_world
from .dispatch import database

FILL_CHUNK = 100_000
FILLER = os.urandom(160)
STATUSES = ["delivered"] * 17 + ["failed", "suppressed", "expired"]  # 85 % delivered
OLDEST_DAYS, SPREAD_DAYS = 400, 365


def run(command, options) -> None:
    rows = options.get("rows") or 1_000_000
    contacts = options.get("contacts") or 1000
    batch = int(str(options.get("batch") or 10_000).split(",")[0])
    if connection.vendor == "sqlite" and not options.get("allow_sqlite"):
        raise CommandError("The purge benchmark measures PostgreSQL: set DATABASE_URL (e.g. "
                           "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench) or pass --allow-sqlite.")

    def progress(text: str) -> None:
        command.stderr.write(f"[bench purge] {text}")
        sys.stderr.flush()

    result = measure(rows, contacts, batch, progress, keep=options.get("keep", False))
    result["machine"] = machine.describe()
    path = options.get("json_path") or f"bench/results/purge-{connection.vendor}.json"
    text = json.dumps(result, indent=2, sort_keys=True)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text + "\n")
    progress(f"written {path}")
    command.stdout.write(text)


def measure(rows: int, contacts: int, batch: int, progress, *, keep: bool = False) -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"purge-{uuid.uuid4().hex[:6]}", messages=False)
    fill(world, rows, progress)
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


def fill(world, rows: int, progress) -> None:
    template = world.template
    people = [(c.pk, c.data_key_id) for c in world.people]
    for start in range(0, rows, FILL_CHUNK):
        count = min(FILL_CHUNK, rows - start)
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _fill_pg(world, template, people, start, count, rows)
            else:
                _fill_orm(world, template, people, start, count, rows)
        progress(f"filled {start + count}/{rows} messages")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Message._meta.db_table}; ANALYZE {MessageEvent._meta.db_table}")


_PG_FILL = """
WITH made AS (
    INSERT INTO {message} (id, organisation_id, contact_id, recipient_id, purpose_id, template_id, channel, message_class,
        language, source, source_id, step, event_ref, status, reason, rule, due_at, urgent_reason, attempts,
        claimed_by, sender, provider, provider_ref, encoding, segments, params, body, created_at, sent_at,
        finished_at, data_key_id)
    SELECT gen_random_uuid(), %(org)s, c.id, c.id, %(purpose)s, %(template)s, 'sms', 'service', 'fr', 'event',
        'bench-' || n, 1, '', s.status, CASE WHEN s.status = 'delivered' THEN '' ELSE s.status END, '', t.at, '', 1,
        '', 'BENCH', 'null', 'ref-' || n, 'gsm7', 1 + n %% 3, %(filler)s, %(filler)s, t.at, t.at, t.at, c.key
    FROM generate_series(%(first)s::int, %(last)s::int) AS n
    CROSS JOIN LATERAL (SELECT (%(ids)s::uuid[])[1 + n %% %(people)s] AS id,
                               (%(keys)s::uuid[])[1 + n %% %(people)s] AS key) AS c
    CROSS JOIN LATERAL (SELECT (%(statuses)s::text[])[1 + n %% %(nstatuses)s] AS status) AS s
    CROSS JOIN LATERAL (SELECT %(start)s + make_interval(secs => n * %(step)s) AS at) AS t
    RETURNING id, created_at, status
)
INSERT INTO {event} (organisation_id, message_id, at, kind, reason, rule, detail)
SELECT %(org)s, made.id, made.created_at + k.after, CASE WHEN k.kind = 'final' THEN made.status ELSE k.kind END, '', '',
       '{{}}'::jsonb
FROM made CROSS JOIN (VALUES ('scheduled', interval '0'), ('sent', interval '1 second'),
                             ('final', interval '5 seconds')) AS k(kind, after)
"""


def _start():
    return timezone.now() - timedelta(days=OLDEST_DAYS + SPREAD_DAYS)


def _step(rows_total: int) -> float:
    """Seconds between two messages: the rows span SPREAD_DAYS, oldest first, as an outbox fills."""
    return SPREAD_DAYS * 86400 / max(rows_total, 1)


def _fill_pg(world, template, people, start: int, count: int, rows_total: int) -> None:
    sql = _PG_FILL.format(message=Message._meta.db_table, event=MessageEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "org": world.org.pk, "purpose": world.purpose.pk, "template": template.pk, "first": start,
            "last": start + count - 1, "ids": [p[0] for p in people], "keys": [p[1] for p in people],
            "people": len(people), "statuses": STATUSES, "nstatuses": len(STATUSES), "filler": FILLER,
            "start": _start(), "step": _step(rows_total)})


def _fill_orm(world, template, people, start: int, count: int, rows_total: int) -> None:
    """The same rows through the ORM (SQLite: indicative figures, and the bench's own tests)."""
    origin, step, messages, lines = _start(), _step(rows_total), [], []
    for n in range(start, start + count):
        contact_id, key_id = people[n % len(people)]
        status = STATUSES[n % len(STATUSES)]
        at = origin + timedelta(seconds=n * step)
        message = Message(organisation=world.org, contact_id=contact_id, recipient_id=contact_id, purpose=world.purpose,
                          template=template, channel="sms", message_class="service", source="event",
                          source_id=f"bench-{n}", step=1, status=status, reason="" if status == "delivered" else status,
                          due_at=at, sender="BENCH", provider="null", provider_ref=f"ref-{n}", encoding="gsm7",
                          segments=1 + n % 3, sent_at=at, finished_at=at, data_key_id=key_id)
        message.body = message.params = FILLER
        messages.append(message)
        lines += [MessageEvent(organisation=world.org, message=message, at=at + timedelta(seconds=offset), kind=kind)
                  for kind, offset in (("scheduled", 0), ("sent", 1), (status, 5))]
    Message.objects.bulk_create(messages)
    MessageEvent.objects.bulk_create(lines)
    # created_at is auto_now_add: the past dates are set afterwards (due_at holds them)
    Message.unscoped.filter(pk__in=[m.pk for m in messages]).update(created_at=F("due_at"))
