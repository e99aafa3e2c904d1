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
import time
import uuid
from datetime import timedelta

from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.models import Purpose
from relance.contacts.models import Contact
from relance.keystore.fields import seal_now, stored_values
from relance.messaging.models import InboundMessage, Message, MessageEvent, Template
from relance.privacy import exports
from relance.privacy.models import AccessExport
from relance.reminders import services as reminders
from relance.reminders.models import Event

from . import scenario
from . import world as bench_world
from .fill import Spread, fill_messages
from .scenario import database, latency_stats

RUNS = 20
FILLER = os.urandom(120)
STATUSES = ["delivered"] * 16 + ["failed", "suppressed", "expired", "sent"]
PERSON = {"messages": 50, "consent_events": 10, "events": 5, "replies": 3}
GOAL_MS = 500


ARGUMENTS = [("--org", {"default": "", "help": "export/purge: measure in this existing organisation (e.g. one of "
                                                 "`relance bench generate`'s) instead of building one"})]


def run(command, options) -> dict:
    contacts = options.get("contacts") or 20_000
    rows = options.get("rows") or 200_000
    scenario.require_postgresql("export", options)
    progress = scenario.progress_for(command, "export")
    if options.get("org"):
        return measure_in(scenario.organisation(options["org"]), progress)
    return measure(contacts, rows, progress, keep=options.get("keep", False))


def measure(contacts: int, rows: int, progress, *, keep: bool = False, runs: int | None = None) -> dict:
    started = timezone.now()
    t0 = time.perf_counter()
    world = bench_world.build(contacts, progress, tag=f"export-{uuid.uuid4().hex[:6]}", messages=False)
    fill_messages(world, rows, spread(), progress)
    person = make_person(world)
    result = _measure(world, person, started, time.perf_counter() - t0, runs, progress)
    result["contacts"] = contacts + 1
    if not keep:
        clean_up(world.org, progress)
    return result


def measure_in(org, progress, runs: int | None = None) -> dict:
    """In an organisation that exists (the generator's): one more person among its contacts and messages,
    kept afterwards (its few rows change nothing; the ledger that names it is append-only anyway)."""
    started = timezone.now()
    t0 = time.perf_counter()
    purpose = Purpose.objects.for_org(org).filter(message_class="service", status="active").order_by("pk").first()
    template = Template.objects.for_org(org).filter(purpose=purpose, channel="sms").first()
    someone = Contact.objects.for_org(org).only("id", "import_batch_id").first()
    if purpose is None or template is None or someone is None:
        raise CommandError(f"{org.slug} has no active service purpose with an SMS template and contacts: run "
                           "`relance bench generate` first, or leave --org out.")
    world = bench_world.World(org, purpose, template, 0, 0, [someone])
    person = make_person(world)
    result = _measure(world, person, started, time.perf_counter() - t0, runs, progress)
    result["contacts"] = Contact.objects.for_org(org).count()
    result["database_rows"] = scenario.estimated_rows([Contact, Message, MessageEvent])
    result["person_kept"] = True
    return result


def _measure(world, person, started, setup: float, runs: int | None, progress) -> dict:
    runs = runs or RUNS
    progress(f"measuring {runs} exports of one contact in {world.org.slug}")
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
        "benchmark": "export", "started_at": started.isoformat(), "database": database(),
        "messages": Message.objects.for_org(world.org).count(), "person": {**PERSON, "items": export.items},
        "setup_seconds": round(setup, 1), "runs": runs, "create_export_ms": latency_stats(export_ms, 1),
        "render_pdf_ms": latency_stats(pdf_ms, 1), "pdf_bytes": len(pdf), "json_bytes": len(json.dumps(document)),
        "queries_per_export": len(queries), "messages_plan": messages_plan(world.org, person),
        "goal_ms": GOAL_MS, "organisation": world.org.slug,
        "samples_ms": {"create_export": [round(ms, 1) for ms in export_ms]},
    }
    progress(f"create_export p50 {result['create_export_ms']['p50']} ms, p95 {result['create_export_ms']['p95']} ms; "
             f"render_pdf p50 {result['render_pdf_ms']['p50']} ms")
    return result


# --- the crowd -----------------------------------------------------------------------------------
def spread() -> Spread:
    """Message n goes to contact (n * 7919) mod people, a fixed scatter (each contact ~rows/people
    messages, interleaved in time with everyone else's, as in a real outbox), over the last 180 days."""
    return Spread(origin=timezone.now(), step=-1.0, wrap=15_552_000, scatter=7919, statuses=STATUSES, filler=FILLER)


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
