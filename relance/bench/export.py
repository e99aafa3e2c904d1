"""`relance bench export` (SPEC §7: an access export of one contact among 1,000,000 contacts and
10,000,000 messages in ≤ 500 ms).

Builds a bench organisation with `--contacts` contacts (default 20,000; sealed, their own keys) and
`--rows` messages spread over them (default 200,000), each with a three-line timeline. On PostgreSQL
the messages are written by `INSERT … SELECT generate_series` (the bench measures the export, not the
filling); their sealed columns hold a filler standing in for ciphertext (only the measured person's
messages are ever decrypted). Then one more person gets real data through the services: 50 messages
with their text sealed with their key, 10 consent events, 5 events, 3 replies. Measured over
`RUNS` runs: `create_export` (the JSON document built, sealed, stored and audited) and `render_pdf`
(p50/p95/max), with the number of queries of one export and the plan of its messages query.
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
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relance.consent import services as consent
from relance.keystore.fields import seal_now, stored_values
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.privacy import exports
from relance.privacy.models import AccessExport
from relance.reminders import services as reminders
from relance.reminders.models import Event

from . import machine
from . import world as bench_world
from .dispatch import database
from .stop import percentile

RUNS = 20
FILL_CHUNK = 100_000
FILLER = os.urandom(120)
STATUSES = ["delivered"] * 16 + ["failed", "suppressed", "expired", "sent"]
PERSON = {"messages": 50, "consent_events": 10, "events": 5, "replies": 3}
GOAL_MS = 500


def run(command, options) -> None:
    contacts = options.get("contacts") or 20_000
    rows = options.get("rows") or 200_000
    if connection.vendor == "sqlite" and not options.get("allow_sqlite"):
        raise CommandError("The export benchmark measures PostgreSQL: set DATABASE_URL (e.g. "
                           "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench) or pass --allow-sqlite.")

    def progress(text: str) -> None:
        command.stderr.write(f"[bench export] {text}")
        sys.stderr.flush()

    result = measure(contacts, rows, progress, keep=options.get("keep", False))
    result["machine"] = machine.describe()
    path = options.get("json_path") or f"bench/results/export-{connection.vendor}.json"
    text = json.dumps(result, indent=2, sort_keys=True)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text + "\n")
    progress(f"written {path}")
    command.stdout.write(text)


def _stats(ms: list[float]) -> dict:
    return {"p50": round(percentile(ms, 50), 1), "p95": round(percentile(ms, 95), 1), "max": round(max(ms), 1),
            "mean": round(sum(ms) / len(ms), 1)}


def measure(contacts: int, rows: int, progress, *, keep: bool = False, runs: int | None = None) -> dict:
    runs = runs or RUNS
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"export-{uuid.uuid4().hex[:6]}", messages=False)
    fill(world, rows, progress)
    person = make_person(world)
    setup = time.perf_counter() - t0
    progress(f"measuring {runs} exports of one contact among {contacts} contacts and {rows} messages")
    export_ms, pdf_ms = [], []
    for _run in range(runs):
        t1 = time.perf_counter()
        export = exports.create_export(person, actor=bench_world.BENCH)
        export_ms.append((time.perf_counter() - t1) * 1000)
        document = json.loads(export.document)
        t2 = time.perf_counter()
        pdf = exports.render_pdf(document)
        pdf_ms.append((time.perf_counter() - t2) * 1000)
    with CaptureQueriesContext(connection) as queries:
        exports.create_export(person, actor=bench_world.BENCH)
    result = {
        "benchmark": "export", "started_at": started.isoformat(), "database": database(), "contacts": contacts + 1,
        "messages": Message.objects.for_org(world.org).count(), "person": {**PERSON, "items": export.items},
        "setup_seconds": round(setup, 1), "runs": runs, "create_export_ms": _stats(export_ms),
        "render_pdf_ms": _stats(pdf_ms), "pdf_bytes": len(pdf), "json_bytes": len(json.dumps(document)),
        "queries_per_export": len(queries), "messages_plan": messages_plan(world.org, person),
        "goal_ms": GOAL_MS, "organisation": world.org.slug,
    }
    progress(f"create_export p50 {result['create_export_ms']['p50']} ms, p95 {result['create_export_ms']['p95']} ms; "
             f"render_pdf p50 {result['render_pdf_ms']['p50']} ms")
    if not keep:
        clean_up(world.org, progress)
    return result


# --- the crowd -----------------------------------------------------------------------------------
def fill(world, rows: int, progress) -> None:
    people = [(c.pk, c.data_key_id) for c in world.people]
    for start in range(0, rows, FILL_CHUNK):
        count = min(FILL_CHUNK, rows - start)
        with transaction.atomic():
            (_fill_pg if connection.vendor == "postgresql" else _fill_orm)(world, people, start, count)
        progress(f"filled {start + count}/{rows} messages")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Message._meta.db_table}; ANALYZE {MessageEvent._meta.db_table}")


# Contact of message n: (n * 7919) mod people, a fixed scatter (each contact ~rows/people messages,
# interleaved in time with everyone else's, as in a real outbox).
_PG_FILL = """
WITH made AS (
    INSERT INTO {message} (id, organisation_id, contact_id, recipient_id, purpose_id, template_id, channel, message_class,
        language, source, source_id, step, event_ref, status, reason, rule, due_at, urgent_reason, attempts,
        claimed_by, sender, provider, provider_ref, encoding, segments, params, body, created_at, sent_at,
        finished_at, data_key_id)
    SELECT gen_random_uuid(), %(org)s, c.id, c.id, %(purpose)s, %(template)s, 'sms', 'service', 'fr', 'event',
        'bench-' || n, 1, '', s.status, CASE WHEN s.status IN ('delivered', 'sent') THEN '' ELSE s.status END, '',
        t.at, '', 1, '', 'BENCH', 'null', 'ref-' || n, 'gsm7', 1 + n %% 2, %(filler)s, %(filler)s, t.at, t.at, t.at,
        c.key
    FROM generate_series(%(first)s::int, %(last)s::int) AS n
    CROSS JOIN LATERAL (SELECT (%(ids)s::uuid[])[1 + (n::bigint * 7919) %% %(people)s] AS id,
                               (%(keys)s::uuid[])[1 + (n::bigint * 7919) %% %(people)s] AS key) AS c
    CROSS JOIN LATERAL (SELECT (%(statuses)s::text[])[1 + n %% %(nstatuses)s] AS status) AS s
    CROSS JOIN LATERAL (SELECT %(now)s - make_interval(secs => (n %% 15552000)::float8) AS at) AS t
    RETURNING id, created_at, status
)
INSERT INTO {event} (organisation_id, message_id, at, kind, reason, rule, detail)
SELECT %(org)s, made.id, made.created_at + k.after, CASE WHEN k.kind = 'final' THEN made.status ELSE k.kind END, '', '',
       '{{}}'::jsonb
FROM made CROSS JOIN (VALUES ('scheduled', interval '0'), ('sent', interval '1 second'),
                             ('final', interval '5 seconds')) AS k(kind, after)
"""


def _fill_pg(world, people, start: int, count: int) -> None:
    sql = _PG_FILL.format(message=Message._meta.db_table, event=MessageEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, {
            "org": world.org.pk, "purpose": world.purpose.pk, "template": world.template.pk, "first": start,
            "last": start + count - 1, "ids": [p[0] for p in people], "keys": [p[1] for p in people],
            "people": len(people), "statuses": STATUSES, "nstatuses": len(STATUSES), "filler": FILLER,
            "now": timezone.now()})


def _fill_orm(world, people, start: int, count: int) -> None:
    """The same rows through the ORM (SQLite: indicative figures, and the bench's own test)."""
    now, messages, lines = timezone.now(), [], []
    for n in range(start, start + count):
        contact_id, key_id = people[(n * 7919) % len(people)]
        status = STATUSES[n % len(STATUSES)]
        at = now - timedelta(seconds=n % 15_552_000)
        message = Message(organisation=world.org, contact_id=contact_id, recipient_id=contact_id, purpose=world.purpose,
                          template=world.template, channel="sms", message_class="service", source="event",
                          source_id=f"bench-{n}", step=1, status=status, due_at=at, sender="BENCH", provider="null",
                          provider_ref=f"ref-{n}", encoding="gsm7", segments=1, sent_at=at, finished_at=at,
                          data_key_id=key_id)
        message.body = message.params = FILLER
        messages.append(message)
        lines += [MessageEvent(organisation=world.org, message=message, at=at + timedelta(seconds=offset), kind=kind)
                  for kind, offset in (("scheduled", 0), ("sent", 1), (status, 5))]
    Message.objects.bulk_create(messages)
    MessageEvent.objects.bulk_create(lines)
    Message.unscoped.filter(pk__in=[m.pk for m in messages]).update(created_at=F("due_at"))


# --- the person measured -------------------------------------------------------------------------
def make_person(world):
    """One more contact with real data through the services: messages with their text sealed with
    the person's key, consent events, events and replies (PERSON)."""
    person = bench_world.create_contacts(world.org, 1, world.people[0].import_batch_id, lambda _text: None)[0]
    now = timezone.now()
    with transaction.atomic():
        _messages(world, person, now)
        _consent(world, person)
        for n in range(PERSON["events"]):
            reminders.upsert_event(world.org, actor=bench_world.BENCH, external_id=f"bench-loan-{person.pk}-{n}",
                                   kind="loan_due", contact=person, purpose=world.purpose,
                                   starts_at=now + timedelta(days=n + 1), params={"place": "Médiathèque"})
        InboundMessage.objects.bulk_create([
            InboundMessage(organisation=world.org, contact=person, phone_hash=person.phone_index, to="BENCH",
                           provider="null", keyword=keyword, action=action, received_at=now - timedelta(days=n))
            for n, (keyword, action) in enumerate([("INFO", "info"), ("STOP", "stop"), ("OUI", "start")])])
    return person


def _messages(world, person, now) -> None:
    built = bench_world.due_messages(world.purpose, world.template, [person] * PERSON["messages"])
    for n, message in enumerate(built):
        message.status, message.sent_at, message.finished_at = "delivered", now - timedelta(days=n), now
        message.provider, message.provider_ref, message.segments, message.encoding = "null", f"p-{n}", 1, "gsm7"
        message.body = f"Bonjour {person.first_name}, votre document est à rendre le {n + 1}/12. STOP au 36111"
        seal_now(message, "body", "params")
    with stored_values():
        Message.objects.bulk_create(built)
    MessageEvent.objects.bulk_create([MessageEvent(organisation=world.org, message=m, at=now, kind=kind)
                                      for m in built for kind in ("scheduled", "sent", "delivered")])


def _consent(world, person) -> None:
    notice = consent.current_notice(world.purpose, "fr")
    consent.record_information(world.purpose, notice, actor=bench_world.BENCH, method="web_form", contact=person)
    for n in range(PERSON["consent_events"]):
        consent.record_consent(person, world.purpose, "sms" if n % 4 < 2 else "email",
                               "objected" if n % 2 == 0 else "restored",
                               actor=bench_world.BENCH, expressed_by="subject", method="api")


def messages_plan(org, person) -> str:
    """How the database finds the person's messages (an index scan, not a sequential one)."""
    try:
        return Message.objects.for_org(org).filter(contact_id=person.pk).explain()
    except Exception as exc:  # noqa: BLE001 (EXPLAIN is informative only)
        return f"unavailable: {exc}"


def clean_up(org, progress) -> None:
    with transaction.atomic():
        AccessExport.objects.for_org(org).delete()
        Event.objects.for_org(org).delete()
        InboundMessage.objects.for_org(org).delete()
    bench_world.clean_up(org, progress)
