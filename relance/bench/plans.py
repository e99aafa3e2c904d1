"""`relance bench plans`: the query plans of the hot paths (SPEC §7; issue 8, item 4).

The hot paths are the code the §7 figures go through: the worker's claim of due rows (SPEC §6, `FOR
UPDATE SKIP LOCKED`), the inputs of the decision taken again before sending (R-20, R-21), an inbound
STOP from its scope to the suppression in effect (R-31, R-33, R-34), a delivery receipt found by its
provider reference (R-29, R-66), the access export of one person (R-42) and one batch of the
retention purge (R-50, R-51).

Each path runs its real code (`PATHS`, below) inside a transaction that is rolled back, while every
statement sent on the main database is captured with its parameters (a connection execute wrapper:
CaptureQueriesContext's text, but with the parameters kept apart so that each statement can be
explained exactly as it was sent). The hot statements are picked out of what was captured by table
and shape (`Hot`) and explained:

- by tests/test_query_plans.py on a small seeded world, with `SET LOCAL enable_seqscan = off` (tiny
  tables would otherwise be read sequentially, legitimately): each hot statement must reach its
  index BY NAME, and no statement of the path may read a big table (`BIG_TABLES`) sequentially;
- by `relance bench plans` on whatever the bench database holds (the generator's 1,000,000 contacts
  and 10,000,000 messages), with `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` and representative
  parameters picked from the data (`pick_sample`): per path and statement, the indexes used,
  execution time, rows and the plan. On SQLite (`--allow-sqlite`) `EXPLAIN QUERY PLAN` instead,
  indicative only. Missing data ("no data") is reported, not fatal.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.consent.models import Purpose
from relance.contacts.models import Contact

from . import scenario
from .scenario import database

BIG_TABLES = ("messaging_message", "messaging_messageevent", "messaging_inboundmessage", "contacts_contact",
              "contacts_suppressionentry", "consent_consentevent", "consent_consentstate", "consent_information",
              "reminders_event")
DECIDE_CHUNK = 500  # contacts per load_facts() call, as a worker batch
PURGE_BATCH = 10_000  # run_purge's default batch


# --- what a path is ------------------------------------------------------------------------------
@dataclass
class Sample:
    """The parameters a path runs with: an organisation and the rows of it that the paths touch."""

    org: Organisation
    person: Contact | None = None  # a contact with messages (export, inbound)
    contacts: list[Contact] = field(default_factory=list)  # a worker batch's contacts (decide)
    purpose: Purpose | None = None
    phone: str = ""  # the person's number in clear (inbound)
    sender: str = ""  # the organisation's SMS sender (inbound)
    provider: str = ""
    provider_ref: str = ""  # a sent message's provider reference (receipt)
    now: datetime = field(default_factory=timezone.now)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Hot:
    """One hot statement of a path: recognised in the captured SQL by its table and a pattern, its plan
    must reach each of `indexes` (index names; "table(column)" names the index Django creates for a
    foreign key, found in the catalogue). `optional`: issued only when the data calls for it."""

    label: str
    table: str
    pattern: str
    indexes: tuple[str, ...]
    optional: bool = False

    def matching(self, sql: str) -> bool:
        return (f'"{self.table}"' in sql or f" {self.table} " in sql) and bool(re.search(self.pattern, sql, re.S))


@dataclass(frozen=True)
class Path:
    name: str
    rules: str
    run: Callable[[Sample], None]
    hot: tuple[Hot, ...]


@dataclass
class Statement:
    sql: str
    params: object


# --- the real code of each path -------------------------------------------------------------------
def _claim(sample: Sample) -> None:
    from relance.messaging.worker import Worker

    worker = Worker(name=f"plans-{uuid.uuid4().hex[:6]}", batch_size=500)
    try:
        worker.take_back_stale(sample.now)
        worker.claim(sample.now)
    finally:
        worker.close()


def _decide(sample: Sample) -> None:
    from relance.messaging.facts import load_facts

    if sample.purpose is None or not sample.contacts:
        return
    load_facts(sample.org, sample.contacts[:DECIDE_CHUNK], sample.purpose, "sms", sample.now)


def _inbound(sample: Sample) -> None:
    from relance.messaging import inbound
    from relance.providers.base import Inbound

    if not sample.sender:
        return
    inbound.receive(Inbound(sender=sample.phone or "+33600000000", to=sample.sender, text="STOP"), provider="plans",
                    now=sample.now)


def _receipt(sample: Sample) -> None:
    from relance.messaging.receipts import apply_receipt
    from relance.providers.base import Receipt

    apply_receipt(sample.provider or "null", Receipt(provider_ref=sample.provider_ref or "plans-no-such-ref",
                                                     status="delivered"))


def _export(sample: Sample) -> None:
    from relance.privacy import exports

    if sample.person is not None:
        exports.build_document(sample.person, language="fr")


def _purge(sample: Sample) -> None:
    from relance.privacy import retention
    from relance.privacy.models import DataCategory
    from relance.privacy.purge import messages

    cutoff = retention.policies_for(sample.org)[DataCategory.MESSAGE_METADATA].cutoff(sample.now)
    messages.delete_batch(sample.org, cutoff, PURGE_BATCH)


M, E, C = "messaging_message", "messaging_messageevent", "contacts_contact"
MSG_WHERE = r'WHERE \("messaging_message"\."organisation_id" = %s AND "messaging_message"\.'
PATHS = (
    Path("claim", "SPEC §6 (FOR UPDATE SKIP LOCKED), §7 dispatch", _claim, (
        Hot("due rows locked", M, r"FOR UPDATE.*SKIP LOCKED", ("message_due_idx",)),
        Hot("claimed rows marked", M, r'^UPDATE .*"claimed_by"', ("messaging_message_pkey",), optional=True),
        Hot("stale claims", M, r'"claimed_at" <', ("message_due_idx",)),
    )),
    Path("decide", "R-20, R-21 (decision again before sending), R-04, R-31", _decide, (
        Hot("suppression list", "contacts_suppressionentry", r'"phone_hash" IN',
            ("suppression_unique|suppression_hash_idx",)),
        Hot("ledger projection", "consent_consentstate", r'"contact_id" IN',
            ("consent_state_unique|consent_consentstate(contact_id)",)),
        Hot("information of the contacts", "consent_information", r'"contact_id" IN',
            ("information_contact_idx|consent_information(contact_id)",)),
        Hot("information of the import batches", "consent_information", r'"import_batch_id" IN',
            ("information_batch_idx",), optional=True),
        Hot("guardians", C, r'WHERE \("contacts_contact"\."organisation_id" = %s AND "contacts_contact"\."id" IN',
            ("contacts_contact_pkey",), optional=True),
    )),
    Path("inbound", "R-31 (scope, suppression), R-33 (STOP in effect), R-34 (STOP rate)", _inbound, (
        Hot("last message to the number", M, r'"phone_index" = .*ORDER BY "messaging_message"."sent_at" DESC',
            ("contact_phone_idx", "messaging_message(recipient_id)")),
        Hot("contacts with the number", C, r'^SELECT .* FROM "contacts_contact" WHERE .*"phone_index" = ',
            ("contact_phone_idx",)),
        Hot("number on the list", "contacts_suppressionentry", r'^SELECT .*"phone_hash" = ',
            ("suppression_unique|suppression_hash_idx",)),
        Hot("pending SMS suppressed", M, r'^SELECT .*"recipient_id" IN .*"status" IN', ("messaging_message(recipient_id)",),
            optional=True),
        Hot("SMS still being sent", M, r'^SELECT %s AS "a" FROM "messaging_message" .*"recipient_id" IN',
            ("messaging_message(recipient_id)|message_due_idx",), optional=True),  # few rows are 'sending'

        Hot("SMS sent in 24 h", M, r'^SELECT COUNT\(\*\) .*"sent_at" > ', ("message_sent_idx",)),
        Hot("STOPs in 24 h", "messaging_inboundmessage", r'^SELECT COUNT\(\*\) .*"received_at" > ',
            ("inbound_action_idx",)),
    )),
    Path("receipt", "R-29, R-66 (receipt found by its provider reference)", _receipt, (
        Hot("message by provider reference", M, r'"provider_ref" = ', ("message_provider_ref_idx",)),
    )),
    Path("export", "R-42 (access export), §7 export ≤ 500 ms", _export, (
        Hot("the person's messages", M, MSG_WHERE + r'"contact_id" = %s\)$',
            ("message_contact_idx|messaging_message(contact_id)",)),
        Hot("messages to the person's number", M, MSG_WHERE + r'"recipient_id" = %s AND NOT',
            ("messaging_message(recipient_id)",)),
        Hot("their timelines", E, r'"message_id" IN', ("message_event_idx|messaging_messageevent(message_id)",)),
        Hot("consent history", "consent_consentevent", r'"contact_id" = ',
            ("consent_event_subject_idx|consent_consentevent(contact_id)",)),
        Hot("consent states", "consent_consentstate", r'"contact_id" = ',
            ("consent_state_unique|consent_consentstate(contact_id)",)),
        Hot("replies", "messaging_inboundmessage", r'"contact_id" = ', ("messaging_inboundmessage(contact_id)",)),
        Hot("events", "reminders_event", r'"contact_id" = ', ("event_contact_idx|reminders_event(contact_id)",)),
        Hot("information", "consent_information", r'"contact_id" = ',
            ("information_contact_idx|consent_information(contact_id)",)),
        Hot("suppression entries", "contacts_suppressionentry", r'"phone_hash" = ', ("suppression_hash_idx",)),
    )),
    Path("purge", "R-50, R-51 (batched purge), §7 purge ≥ 100,000 rows/s", _purge, (
        Hot("expired messages picked and deleted with their timeline", M, r"WITH doomed AS",
            ("message_created_idx", "message_event_idx|messaging_messageevent(message_id)")),
        Hot("expired messages picked (the ORM's batch, SQLite)", M,
            r'^SELECT .*WHERE \("messaging_message"\."created_at" < ', ("message_created_idx",),
            optional=True),
    )),
)
BY_NAME = {path.name: path for path in PATHS}


# --- capture and explain --------------------------------------------------------------------------
class _Rollback(Exception):
    pass


@contextmanager
def rolled_back() -> Iterator[None]:
    """A transaction (or savepoint) that is always rolled back."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


def capture(path: Path, sample: Sample, errors: list[str] | None = None) -> list[Statement]:
    """Run the path's real code in a rolled-back transaction; every statement sent on the main database.
    With `errors`, an exception stops the path but is noted there, and what was captured is kept
    (the bench: data the generator sealed with a filler cannot be decrypted)."""
    captured: list[Statement] = []

    def wrapper(execute, sql, params, many, context):
        if not many:
            captured.append(Statement(sql, params))
        return execute(sql, params, many, context)

    try:
        with rolled_back(), connection.execute_wrapper(wrapper):
            path.run(sample)
    except Exception as exc:
        if errors is None:
            raise
        errors.append(f"{type(exc).__name__}: {exc}"[:300])
    return captured


def pick(hot: Hot, statements: list[Statement]) -> list[Statement]:
    return [s for s in statements if hot.matching(s.sql)]


def explain(statement: Statement, *, analyze: bool = False, seqscan: bool = True):
    """The plan of one statement (PostgreSQL: the JSON document's top node with its timings; SQLite:
    the rows of EXPLAIN QUERY PLAN), in a rolled-back transaction (ANALYZE executes it)."""
    with rolled_back(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.params)
            return [row[-1] for row in cursor.fetchall()]
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        options = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
        cursor.execute(f"EXPLAIN ({options}) " + statement.sql, statement.params)
        document = cursor.fetchone()[0]
    return (json.loads(document) if isinstance(document, str) else document)[0]


def nodes(plan) -> Iterator[dict]:
    """Every node of a PostgreSQL JSON plan (the document or one of its nodes)."""
    node = plan.get("Plan", plan)
    yield node
    for child in node.get("Plans", ()):
        yield from nodes(child)


def indexes_used(plan) -> list[str]:
    if isinstance(plan, list):  # SQLite
        return sorted({m for line in plan for m in re.findall(r"USING (?:COVERING )?INDEX (\w+)", line)}
                      | ({"rowid"} if any("INTEGER PRIMARY KEY" in line for line in plan) else set()))
    return sorted({node["Index Name"] for node in nodes(plan) if "Index Name" in node})


def seq_scans(plan) -> list[str]:
    """The big tables the plan reads from end to end."""
    if isinstance(plan, list):
        found = {m for line in plan for m in re.findall(r"^SCAN (\w+)(?! USING)", line) if " USING " not in line}
    else:
        found = {node.get("Relation Name", "") for node in nodes(plan) if node["Node Type"] == "Seq Scan"}
    return sorted(t for t in found if t in BIG_TABLES)


def plan_text(plan) -> str:
    if isinstance(plan, list):
        return "\n".join(plan)
    lines = []

    def walk(node, depth):
        name = node["Node Type"]
        where = node.get("Index Name") or node.get("Relation Name") or ""
        actual = f" rows={node['Actual Rows']} loops={node['Actual Loops']}" if "Actual Rows" in node else ""
        lines.append(f"{'  ' * depth}{name}{' on ' + where if where else ''}{actual}")
        for key in ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Join Filter"):
            if key in node:
                lines.append(f"{'  ' * depth}  {key}: {node[key]}")
        for child in node.get("Plans", ()):
            walk(child, depth + 1)

    walk(plan.get("Plan", plan), 0)
    return "\n".join(lines)


def resolve(requirement: str) -> str:
    """Index names ("a|b": either will do); "table(column)" becomes the name of that column's own index
    (the one Django creates for a foreign key), found in the catalogue."""
    return "|".join(_resolve_one(name) for name in requirement.split("|"))


def _resolve_one(name: str) -> str:
    found = re.fullmatch(r"(\w+)\((\w+)\)", name)
    if not found:
        return name
    table, column = found.groups()
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    names = sorted(n for n, c in constraints.items() if c["index"] and not c["primary_key"] and c["columns"] == [column])
    return names[0] if names else name


def satisfied(requirement: str, used: list[str]) -> bool:
    return any(name in used for name in requirement.split("|"))


# --- the checks ------------------------------------------------------------------------------------
@dataclass
class Finding:
    path: str
    label: str
    sql: str
    expected: list[str]
    used: list[str]
    seq_scans: list[str]
    plan: str

    @property
    def missing(self) -> list[str]:
        return [name for name in self.expected if not satisfied(name, self.used)]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.seq_scans

    def describe(self) -> str:
        return (f"[{self.path}] {self.label}: expected {self.expected}, used {self.used}, "
                f"sequential scans of {self.seq_scans}\n{self.sql}\n{self.plan}")


def check(path: Path, statements: list[Statement]) -> tuple[list[Finding], list[str]]:
    """Explain the path's hot statements with sequential scans disabled (PostgreSQL). Returns the
    findings (one per hot statement captured, plus every other statement reading a big table
    sequentially) and the labels of required hot statements that were not captured at all."""
    findings, absent, seen = [], [], set()
    for hot in path.hot:
        picked = pick(hot, statements)
        if not picked and not hot.optional:
            absent.append(hot.label)
        for statement in picked:
            seen.add(id(statement))
            plan = explain(statement, seqscan=False)
            finding = Finding(path.name, hot.label, statement.sql, [resolve(n) for n in hot.indexes],
                              indexes_used(plan), seq_scans(plan), plan_text(plan))
            if finding.missing and not finding.seq_scans:
                finding = _served_without_the_others(finding, statement)
            findings.append(finding)
    for statement in statements:
        if id(statement) in seen or not any(f'"{t}"' in statement.sql for t in BIG_TABLES):
            continue
        if not re.match(r"\s*(SELECT|UPDATE|DELETE|WITH)", statement.sql, re.I):
            continue
        plan = explain(statement, seqscan=False)
        findings.append(Finding(path.name, "other statement", statement.sql, [], indexes_used(plan),
                                seq_scans(plan), plan_text(plan)))
    return findings, absent


def _served_without_the_others(finding: Finding, statement: Statement, rounds: int = 4) -> Finding:
    """Whether the statement CAN use its expected index when the planner preferred another one: on a
    small seeded world two indexes may cost the same, and which one wins depends on statistics. The
    indexes it chose instead (not primary keys or unique ones: they are constraints) are dropped, in a
    transaction rolled back, and the statement explained again; if no index is left that can serve it,
    the plan scans the table, and the finding says so."""
    used, text = finding.used, finding.plan
    with rolled_back(), connection.cursor() as cursor:
        for _round in range(rounds):
            others = [name for name in used if not any(satisfied(e, [name]) for e in finding.expected)]
            cursor.execute("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                           "WHERE c.relname = ANY(%s) AND NOT i.indisunique", [others])
            droppable = [row[0] for row in cursor.fetchall()]
            if not droppable:
                break
            for name in droppable:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")  # noqa: S608 (catalogue names)
            plan = explain(statement, seqscan=False)
            used = indexes_used(plan)
            text += f"\n-- with {', '.join(droppable)} dropped (rolled back):\n" + plan_text(plan)
            retry = Finding(finding.path, finding.label, finding.sql, finding.expected, used, seq_scans(plan), text)
            if not retry.missing or retry.seq_scans:
                return retry
    return Finding(finding.path, finding.label, finding.sql, finding.expected, used, finding.seq_scans, text)


# --- a small world (tests) and the bench database's own samples ---------------------------------
def seed(contacts: int = 1000, rows: int = 20_000, ballast: int = 3000, progress=lambda _text: None) -> Sample:
    """A bench organisation where every hot statement is issued and the planner has a reason to choose:
    `contacts` contacts with a due message each, `rows` finished messages old enough to purge (three
    timeline rows each), a guardian, a suppressed number, and about `ballast` rows of every other big
    table, cloned in SQL from one real row made through the services. (On a handful of rows every
    index costs the same and the planner picks any: the plans would say nothing about scale.)"""
    from relance.consent import services as consent
    from relance.consent.models import ConsentEvent, ConsentState, Information
    from relance.contacts import services as contacts_services
    from relance.contacts.models import SuppressionEntry
    from relance.messaging.models import InboundMessage, Message, MessageEvent
    from relance.reminders import services as reminders
    from relance.reminders.models import Event

    from . import world as bench_world
    from .fill import Spread, fill_messages
    from .world import BENCH

    world = bench_world.build(contacts, progress, tag=f"plans-{uuid.uuid4().hex[:6]}")
    org, purpose, people = world.org, world.purpose, world.people
    person = people[0]
    # The old rows go to the others: their filler stands for ciphertext, the person's own data is real.
    others = people[5:]
    # Spread over the last 800 days as an outbox fills: old enough to purge, and a month's worth recent.
    days = 800
    fill_messages(replace(world, people=others), rows,
                  Spread(origin=timezone.now() - timedelta(days=days), step=days * 86400 / rows,
                         statuses=["delivered", "failed", "sent"], filler=b"\0" * 32), progress)
    Contact.objects.for_org(org).filter(pk=people[1].pk).update(guardian=people[2])
    people[1].guardian_id = people[2].pk
    contacts_services.suppress_hash(org, people[3].phone_index, actor=BENCH, reason="stop")
    event = consent.record_consent(person, purpose, "sms", "objected", actor=BENCH, expressed_by="subject",
                                   method="api")
    consent.record_information(purpose, consent.current_notice(purpose, "fr"), actor=BENCH, method="web_form",
                               contact=person)
    reminders.upsert_event(org, actor=BENCH, external_id=f"plans-{person.pk}", kind="loan_due", contact=person,
                           purpose=purpose, starts_at=timezone.now() + timedelta(days=3))
    reply = InboundMessage.objects.create(organisation=org, contact=person, phone_hash=person.phone_index,
                                          to="PLANS", provider="null", keyword="INFO", action="info",
                                          received_at=timezone.now())
    ids = [c.pk for c in others]
    hex64 = "md5(n::text || %(salt)s) || md5(%(salt)s || n::text)"
    _clone(ConsentEvent, event.pk, ballast, ids, {"id": "gen_random_uuid()", "seq": "src.seq + 1000 + n",
                                                  "contact_id": "c.id"})
    _clone(ConsentState, ConsentState.objects.for_org(org).get(contact=person).pk, len(ids), ids,
           {"contact_id": "c.id"})
    _clone(Information, Information.objects.for_org(org).get(contact=person).pk, len(ids), ids, {"contact_id": "c.id"})
    _clone(SuppressionEntry, SuppressionEntry.objects.for_org(org).get().pk, ballast, ids, {"phone_hash": hex64})
    _clone(InboundMessage, reply.pk, ballast, ids, {"id": "gen_random_uuid()", "contact_id": "c.id",
                                                     "phone_hash": hex64,
                                                     "received_at": "src.received_at - make_interval(mins => n)"})
    _clone(Event, Event.objects.for_org(org).get(contact=person).pk, ballast, ids,
           {"id": "gen_random_uuid()", "contact_id": "c.id", "external_id_index": hex64})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            if connection.in_atomic_block:
                # The seeded rows are this transaction's: an autovacuum ANALYZE of a table meanwhile would
                # see it empty and overwrite the statistics below (the plans then flip between indexes):
                # The lock autovacuum takes, held until the transaction ends (row reads and writes go on).
                for model in (Contact, Message, MessageEvent, ConsentState, ConsentEvent, Information,
                              SuppressionEntry, InboundMessage, Event):
                    cursor.execute(f"LOCK TABLE {connection.ops.quote_name(model._meta.db_table)} "  # noqa: S608
                                   "IN SHARE UPDATE EXCLUSIVE MODE")
            cursor.execute("ANALYZE")
    # A worker's batch is a small part of an organisation's contacts (500 of 1,000,000): so here.
    return sample_for(org, person, people[:20], purpose)


def _clone(model, pk, count: int, contact_ids: list, overrides: dict[str, str]) -> None:
    """`count` copies of one row of `model`, with some columns computed (`n`: the copy's number,
    `c.id`: a contact of `contact_ids` in turn); copies that would break a unique constraint are skipped."""
    table = model._meta.db_table
    columns = [f.column for f in model._meta.concrete_fields
               if not (f.primary_key and f.get_internal_type() in ("AutoField", "BigAutoField"))]
    values = ", ".join(overrides.get(column, f'src."{column}"') for column in columns)
    names = ", ".join(f'"{column}"' for column in columns)
    sql = (f'INSERT INTO "{table}" ({names}) SELECT {values} FROM "{table}" src '  # noqa: S608 (names from the models)
           "CROSS JOIN generate_series(1, %(count)s) AS n "
           "CROSS JOIN LATERAL (SELECT (%(ids)s::uuid[])[1 + n %% %(people)s] AS id) AS c "
           f'WHERE src."{model._meta.pk.column}" = %(pk)s ON CONFLICT DO NOTHING')
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql, {"count": count, "ids": contact_ids, "people": len(contact_ids), "pk": pk,
                                 "salt": table})


def sample_for(org, person, people, purpose) -> Sample:
    from relance.messaging.models import Message
    from relance.messaging.sending import settings_for, sms_sender

    sample = Sample(org=org, person=person, contacts=list(people), purpose=purpose)
    sample.sender = sms_sender(org, settings_for(org)) or ""
    try:
        sample.phone = (person.phone or "") if person is not None else ""
    except Exception:  # noqa: BLE001 (a key the generator did not keep: a number of nobody, same statements)
        sample.notes.append("the person's number is unreadable: a number of nobody is used")
    sent = (Message.objects.for_org(org).exclude(provider_ref="").values_list("provider", "provider_ref").first())
    if sent:
        sample.provider, sample.provider_ref = sent
    else:
        sample.notes.append("no message with a provider reference: an unknown one is looked up")
    return sample


def pick_sample() -> Sample | None:
    """Representative parameters from whatever the database holds: the organisation of an arbitrary
    message (its first by primary key, a random one for UUIDs), that message's contact as the person,
    a worker batch's worth of that organisation's contacts and the message's purpose."""
    from relance.messaging.models import Message

    row = (Message.unscoped.exclude(purpose__isnull=True).order_by("pk")
           .values_list("organisation_id", "contact_id", "purpose_id").first())
    if row is None:
        return None
    # The export benchmark's person, when it ran before: real sealed texts (the generator's bodies are
    # filler standing for ciphertext, which the export would refuse to open).
    from relance.privacy.models import AccessExport

    exported = AccessExport.unscoped.order_by("-created_at").values_list("organisation_id", "contact_id").first()
    if exported is not None:
        with_purpose = (Message.unscoped.filter(organisation_id=exported[0], contact_id=exported[1])
                        .exclude(purpose__isnull=True).values_list("purpose_id", flat=True).first())
        if with_purpose is not None:
            row = (exported[0], exported[1], with_purpose)
    org = Organisation.objects.get(pk=row[0])
    person = Contact.objects.for_org(org).get(pk=row[1])
    people = list(Contact.objects.for_org(org).order_by()[:DECIDE_CHUNK])
    purpose = Purpose.objects.for_org(org).get(pk=row[2])
    return sample_for(org, person, people, purpose)


# --- relance bench plans --------------------------------------------------------------------------
def measure(sample: Sample | None, progress) -> dict:
    paths = {}
    for path in PATHS:
        if sample is None:
            paths[path.name] = {"rules": path.rules, "status": "no data"}
            continue
        progress(f"{path.name}: running its code and explaining its hot statements")
        t0 = time.perf_counter()
        errors: list[str] = []
        statements = capture(path, sample, errors)
        seconds = time.perf_counter() - t0
        items = []
        for hot in path.hot:
            picked = pick(hot, statements)
            if not picked:
                items.append({"label": hot.label, "status": "not issued (no data for it)" if hot.optional
                              else "not issued"})
            for statement in picked[:3]:
                items.append(_analysed(hot, statement))
        paths[path.name] = {"rules": path.rules, "statements_captured": len(statements),
                            "path_seconds": round(seconds, 3), "path_error": errors[0] if errors else None,
                            "hot": items,
                            "ok": all(i.get("expected_indexes_used", True) and not i.get("seq_scans") for i in items)}
    return paths


def _analysed(hot: Hot, statement: Statement) -> dict:
    expected = [resolve(n) for n in hot.indexes]
    try:
        plan = explain(statement, analyze=True)
    except Exception as exc:  # noqa: BLE001 (reported, the other statements still explained)
        return {"label": hot.label, "status": f"explain failed: {type(exc).__name__}: {exc}"[:300]}
    used = indexes_used(plan)
    item = {"label": hot.label, "status": "explained", "expected_indexes": expected, "indexes_used": used,
            "expected_indexes_used": all(satisfied(n, used) for n in expected), "seq_scans": seq_scans(plan),
            "plan": plan_text(plan), "sql": statement.sql[:2000]}
    if isinstance(plan, dict):
        top = plan["Plan"]
        item.update({"execution_ms": plan.get("Execution Time"), "planning_ms": plan.get("Planning Time"),
                     "rows": top.get("Actual Rows"), "shared_hit": top.get("Shared Hit Blocks"),
                     "shared_read": top.get("Shared Read Blocks")})
    return item


def run(command, options) -> dict:
    scenario.require_postgresql("plans", options)
    progress = scenario.progress_for(command, "plans")
    started = timezone.now()
    sample = pick_sample()
    if sample is None:
        progress("no data: the database holds no message with a purpose")
    counts = {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("messaging_message", "contacts_contact", "messaging_messageevent"):
                cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [table])
                counts[table] = (cursor.fetchone() or [None])[0]
    result = {"benchmark": "plans", "started_at": started.isoformat(), "database": database(),
              "estimated_rows": counts,
              "sample": None if sample is None else {"organisation": sample.org.slug, "contacts": len(sample.contacts),
                                                      "notes": sample.notes},
              "paths": measure(sample, progress)}
    result["all_ok"] = all(p.get("ok", True) for p in result["paths"].values())
    return result
