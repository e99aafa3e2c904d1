"""`relance bench generate`: a PostgreSQL database at the scale of SPEC §7, filled by COPY.

Default: 1,000,000 contacts across four organisations (a library network, an occupational-health
service, a medical secretariat, a telephone answering service), their consent ledgers, and
10,000,000 messages over the past year with their timelines.

What is real, and what stands in:
- Organisations, purposes (a service purpose each; a consent purpose for the library's newsletter
  and the secretariat's prevention campaigns), notices, templates and the import batches' information
  records (R-04) go through the services, as an administrator would create them.
- Contacts: every personal field (first and last name, phone, e-mail for most) is sealed with the
  contact's own data key (AES-256-GCM, bound to table, column and row, R-60), the data key wrapped by
  the organisation's scope key in the key store, and the keyed-hash indexes (phone, e-mail, last
  name) computed with the organisation's index key (R-61): the contacts open, search and export like
  any other. Written by COPY.
- Consent ledgers: each organisation's chain of events (given on a web form with its sealed evidence,
  on paper, withdrawn or objected by SMS keyword) with seq, prev_hash and hash computed as the service
  computes them, so `relance audit verify` walks them; their projection (ConsentState) and the chain
  head follow. Written by COPY.
- Messages: a year of finished reminders (85 % delivered; failed, suppressed by a rule, expired,
  cancelled), skewed over the contacts (a fifth of them receive half of the messages), plus 1 % still
  scheduled in the coming weeks; each with its timeline (scheduled, sent, final status). Their sealed
  columns (body, params) hold random bytes of a ciphertext's length: nothing reads old bodies but an
  access export, and the export benchmark measures a person whose rows are real.
  Python draws the rows and streams them by COPY into a staging table; one INSERT … SELECT per
  organisation then writes the outbox rows and another their timeline.

The secondary indexes of the filled tables are dropped before and rebuilt after (much faster than
maintaining them row by row), foreign-key triggers are off for the loading session
(`session_replication_role = replica`: the generator writes consistent rows), and the tables are
vacuumed and analysed at the end, as a database in steady state would be.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import random
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.core.management.base import CommandError
from django.db import connection, connections, router, transaction
from django.utils import timezone

from relance.accounts import services as accounts
from relance.audit import services as audit
from relance.audit.chain import GENESIS, row_digest
from relance.consent import ledger
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState, Purpose
from relance.contacts.models import Contact
from relance.contacts.services import name_key
from relance.keystore import services as keys
from relance.keystore.models import ScopeKey, SubjectKey
from relance.lib import crypto
from relance.messaging.models import Message, MessageEvent, SendingSettings, Template

from . import contact_rows, scenario
from .world import BENCH, NOTICE

SLUG_PREFIX = "bench-gen-"
DEFAULT_CONTACTS = 1_000_000
DEFAULT_MESSAGES = 10_000_000
COPY_CHUNK = 50_000
FILLER_BYTES = {"body": 190, "params": 120}  # a sealed SMS text and its parameters, in size

ARGUMENTS = [
    ("--orgs", {"type": int, "default": 4, "help": "generate: organisations (1 to 4 profiles, cycled beyond)"}),
    ("--seed", {"type": int, "default": 20261123, "help": "generate: random seed (the same seed, the same data)"}),
]


@dataclass(frozen=True)
class Profile:
    kind: str
    name: str
    share: float  # of the contacts and of the messages
    service: tuple[str, str, str, str]  # code, label fr, label en, legal basis
    marketing: tuple[str, str, str] | None = None  # consent purpose: code, label fr, label en
    email_share: float = 0.15


PROFILES = [
    Profile("library", "Réseau des médiathèques", 0.40,
            ("loans", "Prêts et réservations", "Loans and reservations", "public_task"),
            ("newsletter", "Agenda culturel", "Cultural events", ), 0.30),
    Profile("occupational_health", "Service de santé au travail", 0.25,
            ("appointments", "Convocations aux visites", "Medical visits", "legal_obligation")),
    Profile("health", "Secrétariat médical", 0.20,
            ("appointments", "Rappels de rendez-vous", "Appointment reminders", "legitimate_interest"),
            ("prevention", "Campagnes de prévention", "Prevention campaigns"), 0.10),
    Profile("answering_service", "Permanence téléphonique", 0.15,
            ("appointments", "Rappels pour les cabinets", "Reminders for practices", "legitimate_interest")),
]

# Status of a finished message (weights out of 100) and its timeline after creation (kind, seconds).
STATUSES = {"delivered": 85, "sent": 3, "failed": 3, "suppressed": 4, "expired": 2, "cancelled": 2, "scheduled": 1}
TIMELINES = {
    "delivered": [("scheduled", 0), ("sent", 60), ("delivered", 65)],
    "sent": [("scheduled", 0), ("sent", 60)],
    "failed": [("scheduled", 0), ("sent", 60), ("failed", 70)],
    "suppressed": [("scheduled", 0), ("suppressed", 60)],
    "expired": [("scheduled", 0), ("expired", 60)],
    "cancelled": [("scheduled", 0), ("cancelled", 30)],
    "scheduled": [("scheduled", 0)],
}
REASONS = {"failed": ("absent_subscriber", ""), "suppressed": ("objected", "R-20"), "expired": ("expired", "R-23"),
           "cancelled": ("event_cancelled", "")}
FIRST = ["Camille", "Louis", "Léa", "Hugo", "Chloé", "Jules", "Inès", "Noé", "Manon", "Adam", "Zoé", "Éloïse"]
LAST = ["Martin", "Bernard", "Dubois", "Le Bihan", "Lefèvre", "Garnier", "N'Diaye", "Rousseau", "Fontaine",
        "Nguyen", "Da Silva", "Chevalier", "Roux", "Morel", "Girard", "Bonnet"]


@dataclass
class Org:
    profile: Profile
    org: object
    service: Purpose
    marketing: Purpose | None
    templates: dict[tuple[int, str], Template]  # (purpose id, channel) → template
    contacts: int = 0
    contact_ids: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)
    data_keys: list[bytes] = field(default_factory=list)  # in memory for the ledger's sealed evidence
    consent_events: int = 0
    messages: int = 0


def run(command, options) -> dict:
    if connection.vendor != "postgresql":
        raise CommandError("The generator fills PostgreSQL by COPY: set DATABASE_URL (e.g. "
                           "DATABASE_URL=postgres://postgres@127.0.0.1:5432/relance_bench).")
    contacts = options.get("contacts") or DEFAULT_CONTACTS
    messages = options.get("rows") or DEFAULT_MESSAGES
    orgs = options.get("orgs") or 4
    if contacts < orgs or messages < 0 or orgs < 1:
        raise CommandError("--contacts must be at least --orgs, --rows at least 0, --orgs at least 1")
    return generate(contacts, messages, orgs, scenario.progress_for(command, "generate"), seed=options.get("seed") or 1)


def existing() -> dict | None:
    """The summary of a dataset generated earlier in this database (None: there is none)."""
    from relance.accounts.models import Organisation

    orgs = list(Organisation.objects.filter(slug__startswith=SLUG_PREFIX).order_by("pk"))
    if not orgs:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [Message._meta.db_table])
        estimate = cursor.fetchone()[0]
    return {"organisations": [o.slug for o in orgs],
            "contacts": Contact.unscoped.filter(organisation__in=orgs).count(), "messages_estimate": estimate}


def generate(contacts: int, messages: int, orgs: int, progress, *, seed: int = 1) -> dict:
    rng = random.Random(seed)  # noqa: S311 - made-up data, reproducible by its seed
    started = timezone.now()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    tag = uuid.uuid4().hex[:6]
    made = [organisation(PROFILES[n % len(PROFILES)], n, tag) for n in range(orgs)]
    shares = _shares([o.profile.share for o in made], contacts)
    timings["organisations"] = time.perf_counter() - t0
    progress(f"{orgs} organisations with their purposes, notices and templates ({timings['organisations']:.1f} s)")

    big = [Contact, ConsentEvent, ConsentState, Message, MessageEvent]
    with loading(big, progress) as dropped:
        t = time.perf_counter()
        for org, count in zip(made, shares, strict=True):
            add_contacts(org, count, rng, progress)
        timings["contacts"] = time.perf_counter() - t
        t = time.perf_counter()
        for org in made:
            add_ledger(org, rng, progress)
        timings["consent_ledgers"] = time.perf_counter() - t
        t = time.perf_counter()
        # Two at a time: Python draws one organisation's rows while PostgreSQL writes another's.
        counts = _shares([o.profile.share for o in made], messages)
        in_threads([(lambda o=o, c=c, n=n: add_messages(o, c, random.Random(seed + n), progress))  # noqa: S311
                    for n, (o, c) in enumerate(zip(made, counts, strict=True))], loading=True)
        timings["messages"] = time.perf_counter() - t
        t_index = time.perf_counter()
    timings["indexes"] = time.perf_counter() - t_index
    t = time.perf_counter()
    _vacuum(big, progress)
    timings["vacuum_analyze"] = time.perf_counter() - t
    for org in made:
        with transaction.atomic():
            audit.record(org.org, BENCH, "bench.generated", details={
                "contacts": org.contacts, "consent_events": org.consent_events, "messages": org.messages})
    total = time.perf_counter() - t0
    result = {
        "benchmark": "generate", "started_at": started.isoformat(), "database": scenario.database(),
        "seed": seed, "contacts": sum(o.contacts for o in made), "messages": sum(o.messages for o in made),
        "timeline_rows": MessageEvent.unscoped.filter(organisation__in=[o.org for o in made]).count(),
        "consent_events": sum(o.consent_events for o in made),
        "organisations": [{"slug": o.org.slug, "kind": o.profile.kind, "contacts": o.contacts,
                           "consent_events": o.consent_events, "messages": o.messages} for o in made],
        "indexes_rebuilt": dropped, "seconds": {k: round(v, 1) for k, v in timings.items()},
        "total_seconds": round(total, 1), "sizes_mb": _sizes(big),
    }
    progress(f"done in {total:.0f} s: {result['contacts']} contacts, {result['consent_events']} consent events, "
             f"{result['messages']} messages, {result['timeline_rows']} timeline rows")
    return result


def _shares(weights: list[float], total: int) -> list[int]:
    scale = sum(weights)
    counts = [int(total * w / scale) for w in weights]
    counts[0] += total - sum(counts)
    return counts


# --- organisations ---------------------------------------------------------------------------
def organisation(profile: Profile, n: int, tag: str) -> Org:
    slug = f"{SLUG_PREFIX}{profile.kind.replace('_', '-')}-{tag}{n}"[:50]
    org = accounts.create_organisation(actor=BENCH, name=f"{profile.name} (bench {n + 1})", slug=slug,
                                       kind=profile.kind, dpo_name="Bench Dpo", dpo_email="dpo@bench.invalid")
    SendingSettings.objects.for_org(org).create(organisation=org, sms_sender=f"GEN{tag}{n}"[:11],
                                                stop_mention="STOP au 36111")
    code, label_fr, label_en, basis = profile.service
    service = _purpose(org, code, label_fr, label_en, "service", basis)
    marketing = None
    if profile.marketing:
        mcode, mfr, men = profile.marketing
        marketing = _purpose(org, mcode, mfr, men, "promotional_noncommercial", "consent", channels=["sms", "email"])
    templates = {}
    for purpose in filter(None, (service, marketing)):
        for channel in ("sms", "email"):
            templates[(purpose.pk, channel)] = Template.objects.create(
                organisation=org, purpose=purpose, code=f"{purpose.code}-{channel}", channel=channel, language="fr",
                subject="Rappel" if channel == "email" else "",
                body="Bonjour {first_name}, rappel : {org} vous attend {date} à {time}. {stop}")
    return Org(profile, org, service, marketing, templates)


def _purpose(org, code, label_fr, label_en, message_class, basis, channels=("sms", "email")) -> Purpose:
    extra = {"consent_validity_days": 730} if basis == "consent" else {}
    if basis == "legitimate_interest":
        extra["balancing_test_ref"] = "LIA-2026-01 (bench)"
    purpose = consent.create_purpose(
        org, actor=BENCH, code=code, label_fr=label_fr, label_en=label_en, message_class=message_class,
        legal_basis=basis, data_categories=["identity", "contact"], recipients=["Staff", "Relance (processor)"],
        retention="12 months", retention_days=365, channels=list(channels), **extra)
    for language, text in NOTICE.items():
        consent.publish_notice(purpose, actor=BENCH, language=language, text=text)
    return consent.activate_purpose(purpose, actor=BENCH)


# --- loading ---------------------------------------------------------------------------------
@contextmanager
def loading(models, progress):
    """Secondary indexes dropped during the load and rebuilt after; FK triggers off for this session."""
    tables = [m._meta.db_table for m in models]
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT i.indexname, i.indexdef FROM pg_indexes i
            JOIN pg_class c ON c.relname = i.indexname
            WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid)""", [tables])
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute("SET session_replication_role = replica")
    progress(f"{len(indexes)} secondary indexes dropped for the load")
    try:
        yield [name for name, _ in indexes]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")

        def rebuild(name: str, definition: str) -> None:
            t = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute("SET maintenance_work_mem = '512MB'")
                cursor.execute(definition)
            progress(f"index {name} rebuilt ({time.perf_counter() - t:.1f} s)")

        # Two builds at a time (two cores), the biggest tables' first.
        order = {table: rank for rank, table in enumerate(tables)}
        indexes.sort(key=lambda item: order.get(item[1].split(" ON ", 1)[1].split()[0].split(".")[-1], 0), reverse=True)
        in_threads([(lambda n=name, d=definition: rebuild(n, d)) for name, definition in indexes])


def in_threads(jobs, *, workers: int = 2, loading: bool = False) -> None:
    """Run the jobs two at a time, each thread on its own database connection (closed after)."""
    from concurrent.futures import ThreadPoolExecutor

    def job(function):
        try:
            if loading:
                with connection.cursor() as cursor:
                    cursor.execute("SET session_replication_role = replica")
            function()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(job, function) for function in jobs]:
            future.result()


def _copy(model, columns: list[str], lines: io.StringIO, alias: str = "default") -> None:
    conn = connections[alias]
    conn.ensure_connection()
    with conn.connection.cursor() as cursor, cursor.copy(
            f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(lines.getvalue())


_hex, _ts = contact_rows.hexed, contact_rows.stamp


# --- contacts --------------------------------------------------------------------------------
CONTACT_COLUMNS = ["id", "organisation_id", "data_key_id", "first_name", "last_name", "phone", "email", "phone_index",
                   "email_index", "last_name_index", "guardian_relation", "language", "status", "number_valid",
                   "permanent_failures", "email_valid", "source", "import_batch_id", "created_at", "updated_at"]


def add_contacts(org: Org, count: int, rng: random.Random, progress) -> None:
    """`count` contacts of org, imported in batches of 100,000 (each batch informed, R-04). Their rows are
    sealed in two worker processes (contact_rows.make) while this one writes the previous chunk by COPY."""
    scope = org.org.crypto_scope()
    version, wrap_key = keys.scope_key(scope, ScopeKey.WRAP)
    _, index_key = keys.scope_key(scope, ScopeKey.INDEX)
    keys_alias = router.db_for_write(SubjectKey)
    now = timezone.now()
    notice = consent.current_notice(org.service, "fr")
    batches = {}
    for start in range(0, count, 100_000):
        batches[start] = uuid.uuid4()
        consent.record_information(org.service, notice, actor=BENCH, method="import", import_batch_id=batches[start],
                                   source=f"bench import {start // 100_000 + 1}")
    seed = rng.randrange(2**31)
    last_names = tuple((last, name_key(last)) for last in LAST)
    chunks = [contact_rows.Chunk(org.org.pk, scope, version, wrap_key, index_key, Contact._meta.db_table,
                                 str(batches[start - start % 100_000]), start, min(count, start + COPY_CHUNK),
                                 seed + start, now, tuple(FIRST), last_names)
              for start in range(0, count, COPY_CHUNK)]
    context = multiprocessing.get_context("spawn")  # no inherited database connection in the workers
    with ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        for rows in pool.map(contact_rows.make, chunks):
            _copy(SubjectKey, ["id", "scope", "wrap_version", "wrapped", "created_at"], io.StringIO(rows.keys),
                  keys_alias)
            _copy(Contact, CONTACT_COLUMNS, io.StringIO(rows.contacts))
            org.contact_ids += rows.contact_ids
            org.key_ids += rows.key_ids
            org.data_keys += rows.data_keys
            org.contacts = len(org.contact_ids)
            progress(f"{org.org.slug}: contacts {org.contacts}/{count}")


# --- consent ledger ---------------------------------------------------------------------------
LEDGER_COLUMNS = ["id", "organisation_id", "seq", "contact_id", "purpose_id", "channel", "action", "expressed_by",
                  "method", "notice_id", "notice_version", "notice_sha256", "language", "occurred_at", "recorded_at",
                  "valid_until", "event_ref", "evidence", "actor_kind", "actor_id", "prev_hash", "hash",
                  "data_key_id", "guardian_id", "staff_user_id"]
STATE_COLUMNS = ["organisation_id", "contact_id", "purpose_id", "channel", "status", "valid_until", "event_ref",
                 "last_event_id", "last_occurred_at", "last_seq", "guardian_status", "guardian_seq", "updated_at"]


def add_ledger(org: Org, rng: random.Random, progress) -> None:
    """The organisation's consent events in occurred_at order, chained as the service chains them."""
    now = timezone.now()
    wanted = []  # (occurred_at, contact index, purpose, action, method)
    for i in range(org.contacts):
        if org.marketing is not None and rng.random() < 0.55:
            given = now - timedelta(days=rng.uniform(20, 700))
            wanted.append((given, i, org.marketing, "given", "web_form" if rng.random() < 0.7 else "paper_form"))
            if rng.random() < 0.08:
                wanted.append((given + timedelta(days=rng.uniform(1, 15)), i, org.marketing, "withdrawn",
                               "sms_keyword"))
        if rng.random() < 0.015:
            wanted.append((now - timedelta(days=rng.uniform(1, 700)), i, org.service, "objected", "sms_keyword"))
    wanted.sort(key=lambda w: w[0])
    notices = {p.pk: consent.current_notice(p, "fr") for p in filter(None, (org.service, org.marketing))}
    table, column = ConsentEvent._meta.db_table, "evidence"
    with transaction.atomic():
        head = audit.lock_chain(ledger.chain_name(org.org.pk))
        seq, prev = head.last_seq, head.last_hash or head.base_hash or GENESIS
        rows, states = io.StringIO(), {}
        for occurred, i, purpose, action, method in wanted:
            seq += 1
            contact_id, key_id = org.contact_ids[i], org.key_ids[i]
            giving = action == "given"
            notice = notices[purpose.pk] if giving else None
            event = ConsentEvent(
                id=uuid.uuid4(), organisation_id=org.org.pk, seq=seq, contact_id=contact_id, purpose_id=purpose.pk,
                channel="sms", action=action, expressed_by="subject", method=method, notice=notice,
                notice_version=notice.version if notice else None, notice_sha256=notice.sha256 if notice else "",
                language="fr", occurred_at=occurred, recorded_at=occurred + timedelta(seconds=2),
                valid_until=occurred + timedelta(days=730) if giving else None, event_ref="", actor_kind="system",
                actor_id="bench", prev_hash=prev, data_key_id=key_id)
            evidence = None
            if method == "web_form":
                evidence = crypto.seal(org.data_keys[i], json.dumps({"ip": "192.0.2.0/24", "user_agent": "Firefox"}).encode(),
                                       crypto.field_aad(table, column, str(event.pk)))
                event.__dict__["evidence"] = evidence
            event.hash = row_digest(ledger.hashed_fields(event))
            prev = event.hash
            rows.write("\t".join([
                str(event.pk), str(org.org.pk), str(seq), contact_id, str(purpose.pk), "sms", action, "subject", method,
                str(notice.pk) if notice else "\\N", str(notice.version) if notice else "\\N",
                notice.sha256 if notice else "", "fr", _ts(occurred), _ts(event.recorded_at),
                _ts(event.valid_until), "", _hex(evidence), "system", "bench", event.prev_hash, event.hash, key_id,
                "\\N", "\\N"]) + "\n")
            states[(contact_id, purpose.pk)] = (event, purpose)
        _copy(ConsentEvent, LEDGER_COLUMNS, rows)
        head.last_seq, head.last_hash = seq, prev
        head.save(update_fields=["last_seq", "last_hash"])
        lines = io.StringIO()
        for (contact_id, purpose_id), (event, purpose) in states.items():
            status = ledger.status_after(event.action, purpose.consent_based)
            lines.write("\t".join([
                str(org.org.pk), contact_id, str(purpose_id), "sms", status,
                _ts(event.valid_until if status == "given" else None), "", str(event.pk), _ts(event.occurred_at),
                str(event.seq), "none", "0", _ts(now)]) + "\n")
        _copy(ConsentState, STATE_COLUMNS, lines)
    org.consent_events = len(wanted)
    progress(f"{org.org.slug}: consent ledger of {len(wanted)} events, {len(states)} states")


# --- messages --------------------------------------------------------------------------------
STAGING = "bench_gen_staging_{}"


def add_messages(org: Org, count: int, rng: random.Random, progress) -> None:
    """A year of the organisation's outbox: drawn in Python, COPY into a staging table, then written."""
    if not count:
        return
    now = timezone.now()
    year_ago = now - timedelta(days=365)
    step = 365 * 86400 / count
    people = org.contacts
    # A fifth of the contacts receive about half of the messages (weights 4 and 1).
    frequent = max(1, people // 5)
    cum = [4.0 * (i + 1) if i < frequent else 4.0 * frequent + (i + 1 - frequent) for i in range(people)]
    status_names = list(STATUSES)
    status_cum, acc = [], 0
    for name in status_names:
        acc += STATUSES[name]
        status_cum.append(acc)
    purposes = [org.service] + ([org.marketing] if org.marketing else [])
    staging = STAGING.format(org.org.pk)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(f"""CREATE UNLOGGED TABLE {staging} (n bigint, contact_id uuid, data_key_id uuid, status text,
                           created double precision, segments smallint, channel text, purpose_id bigint)""")
    origin = year_ago.timestamp()
    email_share = org.profile.email_share
    for start in range(0, count, COPY_CHUNK * 4):
        end = min(count, start + COPY_CHUNK * 4)
        picks = rng.choices(range(people), cum_weights=cum, k=end - start)
        statuses = rng.choices(status_names, cum_weights=status_cum, k=end - start)
        lines = io.StringIO()
        for k, n in enumerate(range(start, end)):
            i, status = picks[k], statuses[k]
            created = origin + n * step
            if status == "scheduled":
                created = now.timestamp() + 86400 * (2 + (n % 28))
            purpose = purposes[1] if len(purposes) > 1 and n % 10 == 0 else purposes[0]
            channel = "email" if rng.random() < email_share else "sms"
            lines.write(f"{n}\t{org.contact_ids[i]}\t{org.key_ids[i]}\t{status}\t{created:.3f}\t{1 + n % 3}\t"
                        f"{channel}\t{purpose.pk}\n")
        conn = connection.connection
        with conn.cursor() as cursor, cursor.copy(f"COPY {staging} FROM STDIN") as copy:
            copy.write(lines.getvalue())
        progress(f"{org.org.slug}: messages drawn {end}/{count}")
    t = time.perf_counter()
    _write_messages(org, staging)
    org.messages = count
    progress(f"{org.org.slug}: {count} messages and their timelines written ({time.perf_counter() - t:.0f} s)")


def _write_messages(org: Org, staging: str) -> None:
    prefix = uuid.uuid4().hex[:20]
    id_expr = (f"('{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-' || lpad(to_hex(s.n), 12, '0'))::uuid")
    templates = "CASE " + " ".join(
        f"WHEN s.purpose_id = {purpose_id} AND s.channel = '{channel}' THEN {template.pk}"
        for (purpose_id, channel), template in org.templates.items()) + " END"
    classes = "CASE WHEN s.purpose_id = %(service)s THEN 'service' ELSE 'promotional_noncommercial' END"
    reason = "CASE s.status " + " ".join(f"WHEN '{s}' THEN '{r}'" for s, (r, _) in REASONS.items()) + " ELSE '' END"
    rule = "CASE s.status " + " ".join(f"WHEN '{s}' THEN '{r}'" for s, (_, r) in REASONS.items()) + " ELSE '' END"
    sent = "s.status IN ('delivered', 'sent', 'failed')"
    final = "s.status NOT IN ('scheduled', 'sent')"
    created = "LEAST(to_timestamp(s.created) - interval '2 days', now())"
    filler = {name: os.urandom(size) for name, size in FILLER_BYTES.items()}
    # The SQL is made of this module's constants and database ids only, no input.
    with connection.cursor() as cursor:
        cursor.execute(f"""
            INSERT INTO {Message._meta.db_table} (id, organisation_id, contact_id, recipient_id, purpose_id, template_id,
                channel, message_class, language, source, source_id, step, event_ref, status, reason, rule, due_at,
                urgent_reason, attempts, claimed_by, sender, provider, provider_ref, encoding, segments, params, body,
                created_at, sent_at, finished_at, data_key_id)
            SELECT {id_expr}, %(org)s, s.contact_id, s.contact_id, s.purpose_id, {templates}, s.channel, {classes},
                'fr', CASE WHEN s.n %% 10 = 0 THEN 'campaign' ELSE 'event' END, 'gen-' || s.n, 1 + s.n %% 3, '',
                s.status, {reason}, {rule}, to_timestamp(s.created), '',
                CASE WHEN {sent} THEN 1 ELSE 0 END, '', CASE WHEN s.channel = 'sms' THEN %(sender)s ELSE '' END,
                CASE WHEN {sent} THEN 'smpp' ELSE '' END, CASE WHEN {sent} THEN 'gen-' || s.n ELSE '' END,
                CASE WHEN s.channel = 'sms' THEN 'gsm7' ELSE '' END,
                CASE WHEN s.channel = 'sms' THEN s.segments END, %(params)s,
                CASE WHEN s.status = 'scheduled' THEN NULL ELSE %(body)s::bytea END,
                {created},
                CASE WHEN {sent} THEN to_timestamp(s.created) + interval '60 seconds' END,
                CASE WHEN {final} THEN to_timestamp(s.created) + interval '70 seconds' END, s.data_key_id
            FROM {staging} s""",  # noqa: S608 - this module's constants and database ids, no input
                       {"org": org.org.pk, "service": org.service.pk, "sender": f"GEN{org.org.pk}",
                        "params": filler["params"], "body": filler["body"]})
        kinds = ", ".join(f"('{status}', '{kind}', {after}, {rank})" for status, lines in TIMELINES.items()
                          for rank, (kind, after) in enumerate(lines))
        cursor.execute(f"""
            INSERT INTO {MessageEvent._meta.db_table} (organisation_id, message_id, at, kind, reason, rule, detail)
            SELECT %(org)s, {id_expr},
                   CASE WHEN k.rank = 0 THEN {created} ELSE to_timestamp(s.created) + make_interval(secs => k.after) END,
                   k.kind, CASE WHEN k.kind = s.status THEN {reason} ELSE '' END,
                   CASE WHEN k.kind = s.status THEN {rule} ELSE '' END, '{{}}'::jsonb
            FROM {staging} s JOIN (VALUES {kinds}) AS k(status, kind, after, rank) ON k.status = s.status""",  # noqa: S608
                       {"org": org.org.pk})
        cursor.execute(f"DROP TABLE {staging}")


def _vacuum(models, progress) -> None:
    t = time.perf_counter()

    def vacuum(table: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {table}")

    in_threads([(lambda table=m._meta.db_table: vacuum(table)) for m in reversed(models)])
    progress(f"vacuum and analyse ({time.perf_counter() - t:.0f} s)")


def _sizes(models) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname = ANY(%s)",
                       [[m._meta.db_table for m in models]])
        return {name: round(size / 2**20) for name, size in cursor.fetchall()}
