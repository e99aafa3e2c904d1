"""The outbox: messages are written in the transaction of whatever caused them (R-21, R-23).

`enqueue()` decides once at scheduling time (R-21) and writes the message with its validity and its
first timeline line; the worker decides again just before sending. Reasons that can still change
before the due time (consent given later, a window) leave the message scheduled with the schedule-
time decision on its timeline; reasons that cannot (erased, deceased, expired, event cancelled)
suppress it at once, with the reason kept: nothing is dropped silently (R-20).

`cancel_pending()` and `suppress_pending()` change pending messages in the caller's transaction;
a message a worker already claimed is covered too: the worker only sends rows it can still move
from `claimed` to `sending` (R-33).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from django.db import NotSupportedError, connections, models, router, transaction
from django.db.models import NOT_PROVIDED, AutoField
from django.utils import timezone

from relance.consent.decision import facts_for, recipient_for
from relance.consent.policy import OBLIGATORY_CLASSES, MessageFacts, Reason, decide
from relance.contacts import services as contacts
from relance.contacts.models import Contact

from .models import Message, MessageEvent

# Suppressions decided at scheduling that no later fact can undo.
FINAL_AT_SCHEDULE = {Reason.ERASED, Reason.DECEASED, Reason.EXPIRED, Reason.EVENT_CANCELLED}


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("enqueue() must run inside the transaction of what causes the message")


def line(message: Message, kind: str, *, at: datetime | None = None, reason: str = "", rule: str = "",
         detail: dict | None = None) -> MessageEvent:
    """One timeline line, not yet saved (callers bulk_create them)."""
    return MessageEvent(organisation_id=message.organisation_id, message=message, at=at or timezone.now(),
                        kind=kind, reason=str(reason or ""), rule=rule, detail=detail or {})


def build(contact: Contact, purpose, channel: str, *, template=None, due_at: datetime, source: str,
          source_id: str = "", step: int | None = None, valid_until: datetime | None = None,
          params: dict | None = None, event_ref: str = "", campaign=None, message_class: str | None = None,
          language: str | None = None, urgent_reason: str = "", sender: str = "") -> Message:
    """A Message ready to save, sealed with the contact's key."""
    contacts.ensure_data_key(contact)
    recipient = recipient_for(contact, purpose) if purpose is not None else contact
    message = Message(
        organisation_id=contact.organisation_id, contact=contact, recipient=recipient, purpose=purpose,
        template=template, channel=channel, message_class=message_class or purpose.message_class,
        language=language or (template.language if template else contact.language) or "fr",
        source=source, source_id=str(source_id or ""), step=step, event_ref=event_ref or "", campaign=campaign,
        due_at=due_at, valid_until=valid_until, urgent_reason=urgent_reason, sender=sender,
    )
    message.data_key_id = contact.data_key_id
    if params:
        message.params = json.dumps(params, default=str, sort_keys=True)
    return message


def _decide(message: Message, now: datetime):
    """decide() for a message about to be written; a consent request is judged as one (R-28)."""
    contact_f, purpose_f, consent_f = facts_for(message.contact, message.purpose, message.channel, now=now,
                                                event_ref=message.event_ref or None)
    if purpose_f.message_class != message.message_class:
        purpose_f = replace(purpose_f, message_class=message.message_class)
    org = message.contact.organisation
    facts = MessageFacts(channel=message.channel, country=org.country, organisation_paused=org.paused,
                         valid_until=message.valid_until, event_ref=message.event_ref or None)
    return decide(contact_f, purpose_f, consent_f, facts, now)


def _schedule_time_decision(message: Message, now: datetime) -> MessageEvent:
    if message.purpose is None:  # an automatic reply the person asked for (STOP acknowledgement, INFO)
        return line(message, "scheduled", at=now)
    decision = _decide(message, now)
    if decision.action == "suppress" and decision.reason in FINAL_AT_SCHEDULE:
        message.status, message.reason, message.rule, message.finished_at = (
            Message.Status.SUPPRESSED, decision.reason, decision.rule, now)
        return line(message, "suppressed", at=now, reason=decision.reason, rule=decision.rule)
    if decision.action == "suppress":
        return line(message, "scheduled", at=now, reason=decision.reason, rule=decision.rule,
                    detail={"note": "decided again before sending (R-21)"})
    return line(message, "scheduled", at=now)


def enqueue(contact: Contact, purpose, channel: str, **fields) -> Message:
    """Schedule one message in the caller's transaction; see build() for the fields."""
    _require_transaction()
    now = timezone.now()
    message = build(contact, purpose, channel, **fields)
    first = _schedule_time_decision(message, now)
    message.save()
    first.message = message
    first.save()
    return message


def enqueue_many(messages: Iterable[Message], *, decided: bool = False) -> list[Message]:
    """Bulk-write built messages (campaigns, bulk events). `decided=True` when the caller already
    resolved the audience against consent (the worker decides again anyway)."""
    _require_transaction()
    now = timezone.now()
    messages = list(messages)
    lines = [line(m, "scheduled", at=now) if decided else _schedule_time_decision(m, now) for m in messages]
    insert_many(Message, messages, batch_size=500)
    insert_many(MessageEvent, lines, batch_size=1000)
    return messages


def insert_many(model, objs: list, *, batch_size: int = 500) -> list:
    """`bulk_create(objs)` for new rows, written with COPY on PostgreSQL (SPEC §7: the bulk upsert of
    10,000 events writes 30,000 messages and their timeline lines; a multi-row INSERT spends most of its
    time composing and parsing the statement). Every value is the one bulk_create would write: each
    field's `pre_save()` (sealing, auto_now) then `get_db_prep_save()`. Rows without a primary key get
    theirs from the database (not read back, as nothing reads them). Elsewhere: bulk_create."""
    objs = list(objs)
    if not objs:
        return objs
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    fields = [f for f in opts.concrete_fields if not f.generated]
    for obj in objs:
        if obj.pk is None:
            obj.pk = opts.pk.get_pk_value_on_save(obj)
    without_pk = [obj.pk is None for obj in objs]
    if (connection.vendor != "postgresql" or any(f.db_default is not NOT_PROVIDED for f in fields)
            or (any(without_pk) and not (all(without_pk) and isinstance(opts.pk, AutoField)))):
        return model._base_manager.db_manager(connection.alias).bulk_create(objs, batch_size=batch_size)
    if all(without_pk):
        fields = [f for f in fields if f is not opts.pk]
    relations = [f for f in opts.concrete_fields if f.is_relation]
    for obj in objs:
        if opts.private_fields or not all(_related_saved(obj, f) for f in relations):
            obj._prepare_related_fields_for_save(operation_name="bulk_create")
    quote = connection.ops.quote_name
    sql = f"COPY {quote(opts.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    plain = [(f, f.attname, _plain_type(f)) for f in fields]
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        with connection.wrap_database_errors, cursor.copy(sql) as copy:
            for obj in objs:
                row = []
                for field, attname, kind in plain:
                    value = getattr(obj, attname) if kind else field.pre_save(obj, True)
                    if not (kind and (value is None or kind(value))):
                        value = field.get_db_prep_save(value, connection=connection)
                        if hasattr(value, "resolve_expression"):
                            raise NotSupportedError("insert_many() takes plain values, not expressions")
                    row.append(value)
                copy.write_row(row)
    for obj in objs:
        obj._state.adding, obj._state.db = False, connection.alias
    return objs


def _related_saved(obj, field) -> bool:
    """True when `_prepare_related_fields_for_save()` has nothing to do for this relation: no related
    object cached, or a saved one whose key the row already holds (the usual case, checked cheaply)."""
    related = field.get_cached_value(obj, default=None)
    if related is None:
        return True
    value = getattr(obj, field.attname)
    return (related._is_pk_set() and value not in field.empty_values
            and getattr(related, field.target_field.attname) == value)


# Values that get_db_prep_save() returns unchanged on PostgreSQL, by the exact class of the field: for
# these, insert_many() skips the call (a million calls for 30,000 messages). Anything else goes through it.
_AS_IS = {
    models.CharField: lambda v: isinstance(v, str),
    models.TextField: lambda v: isinstance(v, str),
    models.UUIDField: lambda v: type(v) is uuid.UUID,
    models.BooleanField: lambda v: type(v) is bool,
    models.DateTimeField: lambda v: type(v) is datetime and v.utcoffset() is not None,
    **dict.fromkeys((models.IntegerField, models.SmallIntegerField, models.BigIntegerField,
                     models.PositiveIntegerField, models.PositiveSmallIntegerField, models.AutoField,
                     models.BigAutoField), lambda v: type(v) is int),
}


def _plain_type(field):
    """The test a value passes to go to the database as it is, or None when pre_save() matters."""
    if type(field).pre_save is not models.Field.pre_save and not (
            isinstance(field, models.DateTimeField) and not (field.auto_now or field.auto_now_add)):
        return None
    if isinstance(field, models.ForeignKey):
        return _AS_IS.get(type(field.target_field)) if type(field) is models.ForeignKey else None
    return _AS_IS.get(type(field))


def close_pending(pending, status: str, reason: str, rule: str, detail: dict | None = None) -> int:
    """Move pending messages (scheduled or claimed) to a final status, with their timeline line."""
    now = timezone.now()
    ids = list(pending.filter(status__in=Message.PENDING).values_list("id", "organisation_id"))
    if not ids:
        return 0
    changed = Message.unscoped.filter(id__in=[i for i, _ in ids], status__in=Message.PENDING).update(
        status=status, reason=str(reason), rule=rule, finished_at=now)
    MessageEvent.objects.bulk_create([
        MessageEvent(organisation_id=org_id, message_id=mid, at=now, kind=status, reason=str(reason), rule=rule,
                     detail=detail or {}) for mid, org_id in ids], batch_size=1000)
    return changed


def cancel_pending(org, *, source: str, source_id: str, reason: str = Reason.EVENT_CANCELLED,
                   rule: str = "R-27", steps: Iterable[int] | None = None) -> int:
    """Cancel the pending messages of an event or a campaign (R-27), in the caller's transaction."""
    _require_transaction()
    pending = Message.objects.for_org(org).filter(source=source, source_id=str(source_id))
    if steps is not None:
        pending = pending.filter(step__in=list(steps))
    return close_pending(pending, Message.Status.CANCELLED, reason, rule)


def suppress_pending(org, *, recipient_ids: Iterable, channel: str, reason: str, rule: str,
                     purpose_ids: Iterable[int] | None = None) -> int:
    """R-33: suppress the pending messages to these recipients, including those a worker claimed."""
    _require_transaction()
    # Answers the person is owed (rights requests, breach notices, the STOP acknowledgement) still go.
    pending = (Message.objects.for_org(org).filter(recipient_id__in=list(recipient_ids), channel=channel)
               .exclude(purpose__isnull=True).exclude(message_class__in=list(OBLIGATORY_CLASSES)))
    if purpose_ids is not None:
        pending = pending.filter(purpose_id__in=list(purpose_ids))
    return close_pending(pending, Message.Status.SUPPRESSED, reason, rule)

