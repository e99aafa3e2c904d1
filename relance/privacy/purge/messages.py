"""Purging messages (R-50, R-51): content cleared, then rows deleted after being counted.

Only finished messages are touched (`FINISHED`): a scheduled or sending message is never purged.
`message_metadata` folds each batch into `MessageStat` (day in the organisation's time zone,
purpose code, channel, class, status, reason → count, segments) in the transaction that deletes it,
so the statistics and the deletions cannot disagree. On PostgreSQL one statement does a whole batch
(select, delete the timeline, delete the messages, upsert the statistics), which is what makes the
SPEC §7 rate reachable; elsewhere the same steps run through the ORM.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection, router, transaction
from django.db.models import F, Q

from relance.accounts.models import Organisation
from relance.consent.models import Purpose
from relance.messaging.models import Message, MessageEvent

from ..models import MessageStat

FINISHED = (*Message.FINAL, Message.Status.SENT)
IN_CHUNK = 500  # ids per IN (...) on SQLite


def finished(org, cutoff: datetime, contact_ids=None):
    rows = Message.unscoped.filter(organisation=org, created_at__lt=cutoff, status__in=FINISHED)
    if contact_ids is not None:
        rows = rows.filter(Q(contact_id__in=contact_ids) | Q(recipient_id__in=contact_ids))
    return rows


# --- message_content ---------------------------------------------------------------------------
def with_content(org, cutoff: datetime):
    return finished(org, cutoff).filter(Q(body__isnull=False) | Q(params__isnull=False))


def clear_content_batch(org, cutoff: datetime, limit: int) -> int:
    """Clear the text and placeholder values of up to `limit` finished messages (rows stay)."""
    with transaction.atomic():
        ids = list(with_content(org, cutoff).order_by("created_at").values_list("pk", flat=True)[:limit])
        cleared = 0
        for start in range(0, len(ids), IN_CHUNK):
            cleared += Message.unscoped.filter(pk__in=ids[start:start + IN_CHUNK]).update(body=None, params=None)
        return cleared


# --- message_metadata --------------------------------------------------------------------------
def timeline_count(org, cutoff: datetime) -> int:
    return MessageEvent.unscoped.filter(organisation=org, message__in=finished(org, cutoff)).count()


def delete_batch(org, cutoff: datetime, limit: int, contact_ids=None) -> tuple[int, int, int]:
    """Fold up to `limit` finished messages into the statistics and delete them with their timeline.
    Returns (messages, timeline rows, statistics rows written)."""
    if connection.vendor == "postgresql" and contact_ids is None:
        return _delete_batch_pg(org, cutoff, limit)
    return _delete_batch_orm(org, cutoff, limit, contact_ids)


_PG_BATCH = """
WITH doomed AS (
    SELECT array_agg(id) AS ids FROM (
        SELECT id FROM {message} WHERE organisation_id = %(org)s AND created_at < %(cutoff)s
          AND status = ANY(%(statuses)s) ORDER BY created_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS picked
), timeline AS (
    DELETE FROM {event} WHERE message_id = ANY((SELECT ids FROM doomed)::uuid[]) RETURNING 1
), gone AS (
    DELETE FROM {message} WHERE id = ANY((SELECT ids FROM doomed)::uuid[])
    RETURNING created_at, purpose_id, channel, message_class, status, reason, segments
), folded AS (
    INSERT INTO {stat} AS s (organisation_id, day, purpose_code, channel, message_class, status, reason, count, segments)
    SELECT %(org)s, (g.created_at AT TIME ZONE %(tz)s)::date, COALESCE(p.code, ''), g.channel, g.message_class,
           g.status, g.reason, count(*), COALESCE(sum(g.segments), 0)
    FROM gone g LEFT JOIN {purpose} p ON p.id = g.purpose_id
    GROUP BY 2, 3, 4, 5, 6, 7
    ON CONFLICT (organisation_id, day, purpose_code, channel, message_class, status, reason)
    DO UPDATE SET count = s.count + EXCLUDED.count, segments = s.segments + EXCLUDED.segments
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM timeline), (SELECT count(*) FROM folded)
"""


def _delete_batch_pg(org, cutoff: datetime, limit: int) -> tuple[int, int, int]:
    sql = _PG_BATCH.format(message=Message._meta.db_table, event=MessageEvent._meta.db_table,
                           stat=MessageStat._meta.db_table, purpose=Purpose._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {"org": org.pk, "cutoff": cutoff, "statuses": list(map(str, FINISHED)),
                             "limit": limit, "tz": org.time_zone})
        messages, timeline, stats = cursor.fetchone()
    return messages, timeline, stats


def _delete_batch_orm(org, cutoff: datetime, limit: int, contact_ids) -> tuple[int, int, int]:
    zone = ZoneInfo(org.time_zone)
    using = router.db_for_write(Message)
    with transaction.atomic():
        _serialise(org)
        rows = list(finished(org, cutoff, contact_ids).order_by("created_at").values_list(
            "pk", "created_at", "purpose__code", "channel", "message_class", "status", "reason", "segments")[:limit])
        ids = [row[0] for row in rows]
        messages = timeline = 0
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start:start + IN_CHUNK]
            timeline += MessageEvent.unscoped.filter(message_id__in=chunk)._raw_delete(using)
            messages += Message.unscoped.filter(pk__in=chunk)._raw_delete(using)
        stats = _fold(org, rows, zone)
    return messages, timeline, stats


def _serialise(org) -> None:
    """Two purges of one organisation add to the same statistics rows one after the other (PostgreSQL;
    SQLite serialises writers anyway). NO KEY: new rows pointing at the organisation are not blocked."""
    if connection.vendor == "postgresql":
        list(Organisation.objects.select_for_update(no_key=True).filter(pk=org.pk).values_list("pk"))


def _fold(org, rows, zone: ZoneInfo) -> int:
    """Add the deleted rows to the statistics (the caller's transaction); returns the rows written."""
    totals = defaultdict(lambda: [0, 0])
    for _pk, created_at, code, channel, message_class, status, reason, segments in rows:
        key = (created_at.astimezone(zone).date(), code or "", channel, message_class, status, reason or "")
        totals[key][0] += 1
        totals[key][1] += segments or 0
    for (day, code, channel, message_class, status, reason), (count, segments) in totals.items():
        key = {"organisation": org, "day": day, "purpose_code": code, "channel": channel,
               "message_class": message_class, "status": status, "reason": reason}
        if not MessageStat.unscoped.filter(**key).update(count=F("count") + count, segments=F("segments") + segments):
            MessageStat.unscoped.create(**key, count=count, segments=segments)
    return len(totals)
