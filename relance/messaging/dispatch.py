"""One claimed batch, from decision to recorded result (the body of the worker's loop).

decide again (R-21, with the sending window R-22 and validity R-23) → move the sendable rows from
`claimed` to `sending` with a conditional UPDATE (a STOP or a cancellation that got there first wins,
R-33) → render → send outside any transaction → record every result in bulk. Temporary failures are
retried with exponential back-off and jitter, never past the message's validity; permanent ones fail
and count towards R-29.
"""

from __future__ import annotations

import json
import logging
import random
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.consent.models import Purpose
from relance.consent.policy import MessageFacts, Reason, decide
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.keystore.fields import seal_now, stored_values
from relance.providers.base import Outgoing, Receipt, Result

from . import render, replies, sending
from .facts import load_facts
from .models import Message, MessageEvent, Template
from .receipts import apply_early_receipts

log = logging.getLogger("relance.worker")


class Batch:
    """The messages one worker claimed, and what became of each."""

    def __init__(self, worker_name: str, messages: list[Message], now: datetime):
        self.worker_name = worker_name
        self.messages = messages
        self.now = now
        self.lines: list[tuple] = []  # timeline lines, see _line()
        self.settings_cache: dict[int, object] = {}
        self.window_cache: dict[tuple, datetime | None] = {}

    def sending_settings(self, org):
        if org.pk not in self.settings_cache:
            self.settings_cache[org.pk] = sending.settings_for(org)
        return self.settings_cache[org.pk]

    def not_before(self, org, message_class: str, urgent: bool) -> datetime | None:
        """The window (R-22) at the batch's `now`: the same for every message of one organisation and class."""
        key = (org.pk, message_class, urgent)
        if key not in self.window_cache:
            self.window_cache[key] = sending.not_before(org, message_class, self.sending_settings(org), self.now,
                                                        urgent=urgent)
        return self.window_cache[key]


# --- load ---------------------------------------------------------------------------------------
# A claimed message's columns the worker reads or writes (created_at is not read: one timestamp less to load).
CLAIM_COLUMNS = tuple(f for f in Message._meta.concrete_fields if f.name != "created_at")
# The contact's columns the decision, the render and the address need (contacts/models.py has more).
CONTACT_FIELDS = ("id", "organisation_id", "data_key_id", "first_name", "last_name", "phone", "email", "birth_date",
                  "minor", "phone_index", "language", "guardian_id", "status", "number_valid", "email_valid",
                  "import_batch_id")


def claim_returning(due_ids, worker_name: str, now: datetime) -> list[Message]:
    """PostgreSQL: mark `due_ids` (a queryset of ids locked FOR UPDATE SKIP LOCKED) claimed by this
    worker and return the rows, in one statement (inside the caller's transaction): WITH due AS
    MATERIALIZED (SELECT … FOR UPDATE SKIP LOCKED) UPDATE … FROM due RETURNING …"""
    inner, inner_params = due_ids.query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(Message._meta.db_table)
    columns = ", ".join(f"{table}.{quote(f.column)}" for f in CLAIM_COLUMNS)
    # The due rows are chosen and locked by the SELECT alone (MATERIALIZED: planned as it stands, on the
    # due index), then marked through the primary key.
    sql = (f"WITH due AS MATERIALIZED ({inner}) "  # noqa: S608
           f"UPDATE {table} SET {quote('status')} = %s, {quote('claimed_by')} = %s, {quote('claimed_at')} = %s "
           f"FROM due WHERE {table}.{quote('id')} = due.{quote('id')} RETURNING {columns}")
    return list(Message.unscoped.raw(sql, [*inner_params, Message.Status.CLAIMED, worker_name, now]))


def load_messages(ids: list, worker_name: str) -> list[Message]:
    """The messages of `ids` still claimed by this worker (a STOP or a cancellation may have closed some)."""
    return list(Message.unscoped.filter(id__in=ids, status=Message.Status.CLAIMED, claimed_by=worker_name)
                .defer("created_at"))


def load_batch(ids: list, worker_name: str) -> list[Message]:
    """The claimed messages with their contact, recipient, organisation, purpose and template."""
    return load_related(load_messages(ids, worker_name))


def load_related(messages: list[Message]) -> list[Message]:
    """Contacts, recipients, organisations, purposes and templates, each row read once and shared
    (select_related would build one copy of each per message)."""
    if not messages:
        return []
    contacts = _by_pk(Contact.unscoped.only(*CONTACT_FIELDS),
                      {m.contact_id for m in messages} | {m.recipient_id for m in messages})
    orgs = _by_pk(Organisation.objects, {c.organisation_id for c in contacts.values()})
    purposes = _by_pk(Purpose.unscoped, {m.purpose_id for m in messages if m.purpose_id})
    templates = _by_pk(Template.unscoped, {m.template_id for m in messages if m.template_id})
    for contact in contacts.values():
        _attach(contact, "organisation", orgs[contact.organisation_id])
    for purpose in purposes.values():
        _attach(purpose, "organisation", orgs[purpose.organisation_id])
    for message in messages:
        _attach(message, "contact", contacts[message.contact_id])
        _attach(message, "recipient", contacts[message.recipient_id])
        _attach(message, "purpose", purposes.get(message.purpose_id))
        _attach(message, "template", templates.get(message.template_id))
    return messages


def _by_pk(manager, pks: set) -> dict:
    return {row.pk: row for row in manager.filter(pk__in=pks)} if pks else {}


def _attach(instance, name: str, value) -> None:
    """What select_related does: the related object in the instance's cache (no query on access)."""
    type(instance)._meta.get_field(name).set_cached_value(instance, value)


# --- decide -------------------------------------------------------------------------------------
def decisions_for(batch: Batch) -> dict:
    """decide() again just before sending (R-21), with the window (R-22) and validity (R-23), for the
    whole batch: the facts are read with `facts.load_facts()` per (purpose, channel), a few queries
    for hundreds of messages, exactly the facts `facts_for()` reads one contact at a time."""
    decisions = {}
    groups: dict[tuple, list[Message]] = defaultdict(list)
    for message in batch.messages:
        if message.purpose is None:  # an answer the person asked for (STOP acknowledgement, INFO)
            decisions[message.pk] = _reply_decision(message, batch.now)
        else:
            groups[(message.purpose_id, message.channel)].append(message)
    for messages in groups.values():
        purpose, channel = messages[0].purpose, messages[0].channel
        for round_ in _rounds(messages):
            # A contact appears once per round: its event_ref (R-13, per-event consent) is its message's.
            found = load_facts(messages[0].contact.organisation, [m.contact for m in round_], purpose, channel, batch.now,
                               event_refs={m.contact_id: m.event_ref for m in round_ if m.event_ref})
            for message in round_:
                decisions[message.pk] = _decide(message, found[message.contact_id], batch)
    return decisions


def _rounds(messages: list[Message]) -> list[list[Message]]:
    rounds: list[list[Message]] = []
    seen: dict = defaultdict(int)
    for message in messages:
        n = seen[message.contact_id]
        seen[message.contact_id] += 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(message)
    return rounds


def _decide(message: Message, facts, batch: Batch):
    contact_f, purpose_f, consent_f = facts
    org = message.contact.organisation
    if purpose_f.message_class != message.message_class:  # a consent request for this purpose
        purpose_f = replace(purpose_f, message_class=message.message_class)
    nb = batch.not_before(org, message.message_class, bool(message.urgent_reason))
    message_f = MessageFacts(channel=message.channel, country=org.country, organisation_paused=org.paused,
                             valid_until=message.valid_until, event_ref=message.event_ref or None, not_before=nb)
    return decide(contact_f, purpose_f, consent_f, message_f, batch.now)


def _reply_decision(message: Message, now: datetime):
    from relance.consent.policy import send, suppress

    if message.valid_until is not None and message.valid_until <= now:
        return suppress(Reason.EXPIRED, "R-23")
    return send("R-32")


def apply_decisions(batch: Batch) -> list[Message]:
    """Suppress or defer what must not go now; return the messages that may be sent. The writes are
    grouped: one conditional UPDATE per distinct outcome (deferred until T, suppressed for reason R)."""
    sendable = []
    closing: dict[tuple, list[Message]] = defaultdict(list)
    decisions = decisions_for(batch)
    for message in batch.messages:
        decision = decisions[message.pk]
        if decision.action == "send":
            sendable.append(message)
        elif decision.action == "defer":
            closing[("deferred", decision.until, "window", decision.rule)].append(message)
        else:
            status = Message.Status.EXPIRED if decision.reason == Reason.EXPIRED else Message.Status.SUPPRESSED
            closing[(status, None, str(decision.reason), decision.rule)].append(message)
    for (kind, until, reason, rule), messages in closing.items():
        if kind == "deferred":
            changes = {"status": Message.Status.SCHEDULED, "due_at": until, "claimed_by": "", "claimed_at": None,
                       "reason": reason, "rule": rule}
            detail = {"until": until.isoformat()}
        else:
            changes, detail = {"status": kind, "reason": reason, "rule": rule, "finished_at": batch.now}, None
        for message in _save_claimed(messages, changes, batch):
            batch.lines.append(_line(message, kind, batch.now, reason=reason, rule=rule, detail=detail))
    return sendable


def _save_claimed(messages: list[Message], changes: dict, batch: Batch) -> list[Message]:
    """Write a decision only to the rows still ours and still claimed (a STOP may have closed some):
    lock them, then update exactly those. Returns the messages changed."""
    with transaction.atomic():
        mine = Message.unscoped.filter(pk__in=[m.pk for m in messages], status=Message.Status.CLAIMED,
                                       claimed_by=batch.worker_name)
        if connection.features.has_select_for_update:
            mine = mine.select_for_update(of=("self",))
        ours = set(mine.values_list("id", flat=True))
        if ours:
            Message.unscoped.filter(pk__in=ours).update(**changes)
    changed = [m for m in messages if m.pk in ours]
    for message in changed:
        for name, value in changes.items():
            setattr(message, name, value)
    return changed


# --- the R-33 gate ------------------------------------------------------------------------------
def begin_sending(messages: list[Message], batch: Batch) -> list[Message]:
    """claimed → sending, only for rows nobody closed meanwhile; the rest are not sent."""
    if not messages:
        return []
    ids = [m.pk for m in messages]
    if connection.vendor == "postgresql":
        # One statement: the rows it moved are exactly the ones we may send (RETURNING).
        quote = connection.ops.quote_name
        table = quote(Message._meta.db_table)
        sql = (f"UPDATE {table} SET {quote('status')} = %s, {quote('attempts')} = {quote('attempts')} + 1 "  # noqa: S608
               f"WHERE {quote('id')} = ANY(%b::uuid[]) AND {quote('status')} = %s AND {quote('claimed_by')} = %s "
               f"RETURNING {quote('id')}")
        with _binary_cursor() as cursor:
            cursor.execute(sql, [Message.Status.SENDING, ids, Message.Status.CLAIMED, batch.worker_name])
            ours = {row[0] for row in cursor.fetchall()}
    else:
        with transaction.atomic():
            Message.unscoped.filter(id__in=ids, status=Message.Status.CLAIMED, claimed_by=batch.worker_name).update(
                status=Message.Status.SENDING, attempts=F("attempts") + 1)
            ours = set(Message.unscoped.filter(id__in=ids, status=Message.Status.SENDING,
                                               claimed_by=batch.worker_name).values_list("id", flat=True))
    kept = [m for m in messages if m.pk in ours]
    for message in kept:
        message.attempts += 1
    return kept


# --- render -------------------------------------------------------------------------------------
def render_one(message: Message, batch: Batch) -> render.Rendered:
    org = message.contact.organisation
    sending_settings = batch.sending_settings(org)
    if message.source == Message.Source.REPLY:
        params = json.loads(message.params or "{}")
        text = replies.reply_text(params.get("reply", ""), org, sending_settings, message.language, params,
                                  contact=message.contact)
        return render.rendered(text, message.channel)
    return render.render_message(message, org=org, sending=sending_settings,
                                 link=lambda: replies.preference_link(message.contact))


def address_of(message: Message) -> str:
    recipient = message.recipient
    return (recipient.phone if message.channel == "sms" else recipient.email) or ""


def sender_of(message: Message, batch: Batch) -> str:
    org = message.contact.organisation
    sending_settings = batch.sending_settings(org)
    if message.channel == "sms":
        return sending.sms_sender(org, sending_settings)
    return sending_settings.email_from or settings.DEFAULT_FROM_EMAIL


def prepare(messages: list[Message], batch: Batch) -> tuple[list[tuple[Message, Outgoing]], list[tuple]]:
    """Outgoing items for the provider, and results for what could not even be prepared."""
    ready, failed = [], []
    for message in messages:
        to = address_of(message)
        if not to:
            failed.append((message, Result.failed(str(message.pk), "no_address"), ""))
            continue
        try:
            rendered = render_one(message, batch)
        except render.RenderError as exc:
            log.warning("message not rendered", extra={"message_id": str(message.pk), "error": str(exc)[:120]})
            failed.append((message, Result.failed(str(message.pk), "render_error"), ""))
            continue
        message.body, message.encoding, message.segments = rendered.text, rendered.encoding, rendered.segments or None
        message.sender = sender_of(message, batch)
        ready.append((message, Outgoing(ref=str(message.pk), channel=message.channel, to=to, body=rendered.text,
                                        sender=message.sender, subject=rendered.subject,
                                        encoding=rendered.encoding or "", segments=rendered.segments or 1,
                                        valid_until=message.valid_until)))
    return ready, failed


# --- send ---------------------------------------------------------------------------------------
def send_all(ready: list[tuple[Message, Outgoing]], router) -> list[tuple]:
    """Hand each organisation's messages of a channel to the router (providers/routing.py: its
    accounts by priority, failover, shared rate limits); every message gets a result."""
    groups: dict[tuple, list[tuple[Message, Outgoing]]] = defaultdict(list)
    for message, out in ready:
        groups[(message.organisation_id, message.channel)].append((message, out))
    results = []
    for (org_id, channel), items in groups.items():
        by_ref = {out.ref: message for message, out in items}
        for answer in router.send(org_id, channel, [out for _, out in items]):
            results.append((by_ref[answer.outgoing.ref], answer.result, answer.provider))
    return results


# --- record -------------------------------------------------------------------------------------
def backoff(attempts: int, now: datetime) -> datetime:
    base = max(1, settings.RELANCE_RETRY_BASE_SECONDS)
    delay = min(base * (2 ** max(0, attempts - 1)), 6 * 3600)
    return now + timedelta(seconds=delay * random.uniform(0.5, 1.5))  # noqa: S311 (jitter, not a secret)


def record(results: list[tuple], batch: Batch) -> dict[str, int]:
    """Write each result, only on rows still `sending` under this worker's name: a batch that outlived
    its lease was taken back (`requeued`, reconcile) and may be another worker's by now; its late
    result must not overwrite that worker's (docs/delivery.md). Such results are dropped, with their
    timeline lines, and counted in the log."""
    now = timezone.now()
    counts = {"sent": 0, "retry": 0, "failed": 0}
    sent, retried, failed, deferred, expired = [], [], [], [], []
    first_line = len(batch.lines)
    for message, result, provider in results:
        message.provider = provider
        if result.status == Result.SENT:
            message.status, message.provider_ref, message.sent_at, message.reason = (
                Message.Status.SENT, result.provider_ref[:100], now, "")
            sent.append(message)
            detail = {"provider": provider}
            if result.detail.get("parts"):  # a multipart SMS: every part's reference, for its receipts
                detail["parts"] = result.detail["parts"]
            batch.lines.append(_line(message, "sent", now, detail=detail))
        elif result.status == Result.RETRY and result.detail.get("deferred"):
            # It never reached a provider (rate limit, every account down): no attempt spent.
            message.attempts -= 1
            message.status, message.due_at, message.reason = Message.Status.SCHEDULED, _soon(now), result.error[:40]
            message.claimed_by, message.claimed_at = "", None
            deferred.append(message)
        elif result.status == Result.RETRY and _may_retry(message, now):
            message.status, message.due_at, message.reason = (
                Message.Status.SCHEDULED, backoff(message.attempts, now), result.error[:40])
            message.claimed_by, message.claimed_at = "", None
            retried.append(message)
            detail = {"attempt": message.attempts, "next": message.due_at.isoformat(), "provider": provider}
            if result.detail.get("reconcile"):  # it may have left: a duplicate is possible (docs/delivery.md)
                detail["reconcile"] = True
            batch.lines.append(_line(message, "retry", now, reason=result.error[:40], detail=detail))
        elif result.status == Result.RETRY and message.attempts < settings.RELANCE_MAX_ATTEMPTS:
            # Its next attempt would come after its validity: expired, not failed (no provider refused it).
            message.status, message.reason, message.rule, message.finished_at = (
                Message.Status.EXPIRED, "expired", "R-23", now)
            expired.append(message)
            detail = {"attempt": message.attempts, "provider": provider, "error": result.error[:40]}
            if result.detail.get("reconcile"):
                detail["reconcile"] = True
            batch.lines.append(_line(message, "expired", now, reason="expired", rule="R-23", detail=detail))
        else:
            reason = result.error if result.status == Result.FAILED else "max_attempts"
            message.status, message.reason, message.finished_at = Message.Status.FAILED, reason[:40], now
            failed.append((message, result.status == Result.FAILED))
            batch.lines.append(_line(message, "failed", now, reason=reason[:40], rule="R-29"))
    owner = batch.worker_name
    written = _write(sent, ["status", "provider", "provider_ref", "sent_at", "reason", "body", "encoding", "segments",
                            "sender"], owner=owner)
    written |= _write(retried, ["status", "due_at", "reason", "claimed_by", "claimed_at", "provider"], owner=owner)
    written |= _write(deferred, ["status", "due_at", "reason", "claimed_by", "claimed_at", "attempts"], owner=owner)
    written |= _write([m for m, _ in failed], ["status", "reason", "finished_at", "provider"], owner=owner)
    written |= _write(expired, ["status", "reason", "rule", "finished_at", "provider"], owner=owner)
    late = {message.pk for message, _result, _provider in results} - written
    if late:
        log.warning("late results dropped: their claims were taken back", extra={"worker": owner, "count": len(late)})
        batch.lines[first_line:] = [line for line in batch.lines[first_line:] if line[1] not in late]
        sent = [m for m in sent if m.pk not in late]
        retried = [m for m in retried if m.pk not in late]
        deferred = [m for m in deferred if m.pk not in late]
        failed = [(m, permanent) for m, permanent in failed if m.pk not in late]
    _insert_lines(batch.lines)
    batch.lines = []
    if sent:
        apply_early_receipts(sent)
    for message, permanent in failed:
        if permanent and message.channel == "sms":
            contacts.record_delivery_failure(message.recipient, permanent=True)
    counts.update(sent=len(sent), retry=len(retried) + len(deferred), failed=len(failed))
    return counts


def _soon(now: datetime) -> datetime:
    """When a deferred message is due again: soon, with jitter so workers do not all come back at once."""
    return now + timedelta(seconds=random.uniform(1.0, 3.0))  # noqa: S311 (jitter, not a secret)


def _may_retry(message: Message, now: datetime) -> bool:
    if message.attempts >= settings.RELANCE_MAX_ATTEMPTS:
        return False
    return message.valid_until is None or backoff(message.attempts, now) < message.valid_until


def _write(messages: list[Message], fields: list[str], *, owner: str) -> set:
    """Write these fields of these rows by primary key, where the row is still `sending` under `owner`;
    returns the ids written. bulk_update()'s CASE WHEN expressions cost more to build than to run:
    PostgreSQL gets one UPDATE … FROM unnest(arrays) … RETURNING, SQLite one UPDATE per row."""
    if not messages:
        return set()
    if "body" in fields:
        for message in messages:
            seal_now(message, "body")
    meta = Message._meta
    columns = [meta.get_field(name) for name in fields]
    quote = connection.ops.quote_name
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    if connection.vendor == "postgresql":
        # One statement for the whole batch: the values travel as one binary array per column.
        with stored_values():
            arrays = [[m.pk for m in messages]] + [_column(f, messages) for f in columns]
        casts = ", ".join(f"%b::{f.db_type(connection)}[]" for f in [meta.pk, *columns])
        names = ", ".join(quote(f.column) for f in [meta.pk, *columns])
        sets = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
        owned = f"{table}.{quote('status')} = %s AND {table}.{quote('claimed_by')} = %s"
        sql = (f"UPDATE {table} SET {sets} FROM unnest({casts}) AS v({names}) "  # noqa: S608
               f"WHERE {table}.{pk} = v.{pk} AND {owned} RETURNING {table}.{pk}")
        with _binary_cursor() as cursor:
            cursor.execute(sql, [*arrays, Message.Status.SENDING, owner])
            return {row[0] for row in cursor.fetchall()}
    with stored_values():
        rows = [[meta.pk.get_db_prep_value(m.pk, connection)]
                + [f.get_db_prep_save(f.value_from_object(m), connection) for f in columns] for m in messages]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    sql = (f"UPDATE {table} SET {sets} WHERE {pk} = %s "  # noqa: S608 (names from the model, values as parameters)
           f"AND {quote('status')} = %s AND {quote('claimed_by')} = %s")
    written = set()
    with connection.cursor() as cursor:
        for message, row in zip(messages, rows, strict=True):
            cursor.execute(sql, [*row[1:], row[0], Message.Status.SENDING, owner])
            if cursor.rowcount:
                written.add(message.pk)
    return written


# Fields whose Python value is already what PostgreSQL stores (aware datetimes: the worker's own
# timezone.now() and values read back from the database); any other goes through get_db_prep_save().
_PLAIN = {"CharField", "PositiveSmallIntegerField", "IntegerField", "DateTimeField", "UUIDField", "BinaryField"}


def _column(field, messages: list[Message]) -> list:
    if field.get_internal_type() in _PLAIN:
        return [field.value_from_object(m) for m in messages]
    return [field.get_db_prep_save(field.value_from_object(m), connection) for m in messages]


def _binary_cursor():
    """A psycopg cursor binding parameters on the server, in binary, on Django's connection (its
    transaction): Django's client-side binding quotes every array element as text, ~5x slower for
    the batch's arrays."""
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


LINE_FIELDS = ("organisation_id", "message_id", "at", "kind", "reason", "rule", "detail")


def _line(message: Message, kind: str, at: datetime, *, reason: str = "", rule: str = "", detail: dict | None = None):
    """One timeline line as a row of LINE_FIELDS (what outbox.line() builds as a model instance)."""
    return (message.organisation_id, message.pk, at, kind, str(reason or ""), rule, detail or {})


def _insert_lines(lines: list[tuple]) -> None:
    """The batch's timeline: PostgreSQL gets one COPY, other databases bulk_create()."""
    if not lines:
        return
    if connection.vendor != "postgresql":
        MessageEvent.objects.bulk_create([MessageEvent(**dict(zip(LINE_FIELDS, row, strict=True))) for row in lines],
                                         batch_size=1000)
        return
    meta = MessageEvent._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in LINE_FIELDS)
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:  # noqa: S608 (names from the model)
        for row in lines:
            copy.write_row((*row[:6], json.dumps(row[6])))


def simulate_receipts(results: list[tuple]) -> None:
    """The console provider has no network to report back: the demo gets its receipts here, through
    the same path as a real provider's (messaging/receipts.py)."""
    from .receipts import apply_receipt

    for _message, result, provider in results:
        if result.status == Result.SENT:
            apply_receipt(provider, Receipt(provider_ref=result.provider_ref, status="delivered"))
