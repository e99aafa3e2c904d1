"""Finished outbox rows for the benchmarks, fast: one INSERT … SELECT per chunk on PostgreSQL (each
message with its three timeline rows: scheduled, sent, final status), the same rows through the ORM
on SQLite (indicative figures, and the benchmarks' own tests).

`Spread` says how the rows are laid out: message n goes to contact `(n * scatter) mod people` at
`origin + (n mod wrap) * step` seconds, with status `statuses[n mod len]` and `1 + n mod segments`
segments. Body and params hold opaque bytes standing for sealed text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F

from relance.messaging.models import Message, MessageEvent

CHUNK = 100_000
NO_WRAP = 2**31 - 1


@dataclass(frozen=True)
class Spread:
    origin: datetime
    step: float  # seconds between messages n and n + 1 (negative: going back in time)
    statuses: list[str]
    filler: bytes
    wrap: int = NO_WRAP
    scatter: int = 1
    segments: int = 2


_PG_FILL = """
WITH made AS (
    INSERT INTO {message} (id, organisation_id, contact_id, recipient_id, purpose_id, template_id, channel, message_class,
        language, source, source_id, step, event_ref, status, reason, rule, due_at, urgent_reason, attempts,
        claimed_by, sender, provider, provider_ref, encoding, segments, params, body, created_at, sent_at,
        finished_at, data_key_id)
    SELECT gen_random_uuid(), %(org)s, c.id, c.id, %(purpose)s, %(template)s, 'sms', 'service', 'fr', 'event',
        'bench-' || n, 1, '', s.status, CASE WHEN s.status IN ('delivered', 'sent') THEN '' ELSE s.status END, '',
        t.at, '', 1, '', 'BENCH', 'null', 'ref-' || n, 'gsm7', 1 + n %% %(segments)s, %(filler)s, %(filler)s, t.at,
        t.at, t.at, c.key
    FROM generate_series(%(first)s::int, %(last)s::int) AS n
    CROSS JOIN LATERAL (SELECT (%(ids)s::uuid[])[1 + (n::bigint * %(scatter)s) %% %(people)s] AS id,
                               (%(keys)s::uuid[])[1 + (n::bigint * %(scatter)s) %% %(people)s] AS key) AS c
    CROSS JOIN LATERAL (SELECT (%(statuses)s::text[])[1 + n %% %(nstatuses)s] AS status) AS s
    CROSS JOIN LATERAL (SELECT %(origin)s + make_interval(secs => (n %% %(wrap)s)::float8 * %(step)s) AS at) AS t
    RETURNING id, created_at, status
)
INSERT INTO {event} (organisation_id, message_id, at, kind, reason, rule, detail)
SELECT %(org)s, made.id, made.created_at + k.after, CASE WHEN k.kind = 'final' THEN made.status ELSE k.kind END, '', '',
       '{{}}'::jsonb
FROM made CROSS JOIN (VALUES ('scheduled', interval '0'), ('sent', interval '1 second'),
                             ('final', interval '5 seconds')) AS k(kind, after)
"""


def fill_messages(world, rows: int, spread: Spread, progress) -> None:
    """`rows` finished messages of world.org (its purpose and template) spread over world.people."""
    people = [(c.pk, c.data_key_id) for c in world.people]
    for start in range(0, rows, CHUNK):
        count = min(CHUNK, rows - start)
        with transaction.atomic():
            (_fill_pg if connection.vendor == "postgresql" else _fill_orm)(world, people, spread, start, count)
        progress(f"filled {start + count}/{rows} messages")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Message._meta.db_table}; ANALYZE {MessageEvent._meta.db_table}")


def _fill_pg(world, people, spread: Spread, start: int, count: int) -> None:
    sql = _PG_FILL.format(message=Message._meta.db_table, event=MessageEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "org": world.org.pk, "purpose": world.purpose.pk, "template": world.template.pk, "first": start,
            "last": start + count - 1, "ids": [p[0] for p in people], "keys": [p[1] for p in people],
            "people": len(people), "statuses": spread.statuses, "nstatuses": len(spread.statuses),
            "filler": spread.filler, "segments": spread.segments, "scatter": spread.scatter, "wrap": spread.wrap,
            "origin": spread.origin, "step": spread.step})


def _fill_orm(world, people, spread: Spread, start: int, count: int) -> None:
    messages, lines = [], []
    for n in range(start, start + count):
        contact_id, key_id = people[(n * spread.scatter) % len(people)]
        status = spread.statuses[n % len(spread.statuses)]
        at = spread.origin + timedelta(seconds=(n % spread.wrap) * spread.step)
        message = Message(organisation=world.org, contact_id=contact_id, recipient_id=contact_id, purpose=world.purpose,
                          template=world.template, channel="sms", message_class="service", source="event",
                          source_id=f"bench-{n}", step=1, status=status,
                          reason="" if status in ("delivered", "sent") else status, due_at=at, sender="BENCH",
                          provider="null", provider_ref=f"ref-{n}", encoding="gsm7", segments=1 + n % spread.segments,
                          sent_at=at, finished_at=at, data_key_id=key_id)
        message.body = message.params = spread.filler
        messages.append(message)
        lines += [MessageEvent(organisation=world.org, message=message, at=at + timedelta(seconds=offset), kind=kind)
                  for kind, offset in (("scheduled", 0), ("sent", 1), (status, 5))]
    Message.objects.bulk_create(messages)
    MessageEvent.objects.bulk_create(lines)
    # created_at is auto_now_add: the past dates are set afterwards (due_at holds them)
    Message.unscoped.filter(pk__in=[m.pk for m in messages]).update(created_at=F("due_at"))
