"""Bulk upsert of events (R-27; SPEC §7: 10,000 events in one request within 5 s).

Every item is checked on its own and every bad one is reported with its index and its field errors;
the good ones are applied in one transaction. Everything the items refer to (contacts, purposes,
sites, rules, templates, the events already known) is fetched in a few queries up front, events and
messages are bulk-written, and the schedule-time decision (R-21) is taken for the whole batch at
once (decisions.py).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import Purpose
from relance.consent.policy import Reason
from relance.contacts.models import Contact
from relance.contacts.services import ensure_data_key, index_for
from relance.contacts.validation import clean_external_ref
from relance.keystore.fields import seal_now, stored_values
from relance.messaging import outbox
from relance.messaging.models import Message

from . import decisions, planning, validation
from .models import Event, ReminderRule

MAX_ITEMS = 10_000
ITEM_FIELDS = {"external_id", "kind", "contact_id", "contact_external_ref", "purpose_id", "purpose_code",
               "starts_at", "ends_at", "site_id", "params"}
UPDATED_FIELDS = ["kind", "contact", "purpose", "site", "starts_at", "ends_at", "params", "external_id",
                  "data_key_id", "rule", "version", "updated_at"]


@dataclass
class BulkReport:
    received: int = 0
    created: int = 0
    rescheduled: int = 0
    updated: int = 0
    unchanged: int = 0
    steps: int = 0  # reminders scheduled
    past_steps: int = 0  # steps already past when the event arrived: not created
    cancelled_steps: int = 0  # pending reminders replaced by new ones (new time, new values)
    events: list[dict] = field(default_factory=list)  # {"index", "id", "outcome"} for every good item
    errors: list[dict] = field(default_factory=list)  # {"index", "fields"} for every bad item


@dataclass
class _Refs:
    """What the items name, fetched once: contacts, purposes, sites, rules, templates, known events."""

    contacts: dict = field(default_factory=dict)
    by_ref: dict = field(default_factory=dict)
    purposes: dict = field(default_factory=dict)
    by_code: dict = field(default_factory=dict)
    sites: dict = field(default_factory=dict)
    rules: dict = field(default_factory=dict)
    templates: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def _ref_index(org, value) -> str | None:
    try:
        cleaned = clean_external_ref(org, value)
    except ValidationError:
        return None
    return index_for(org, "external_ref", cleaned) if cleaned else None


def _event_index(org, value) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    return index_for(org, "event_external_id", text) if text else None


def _load(org, items: list[dict]) -> _Refs:
    from relance.accounts.models import Site

    refs = _Refs()
    ids = {u for u in (_uuid(i.get("contact_id")) for i in items if i.get("contact_id")) if u}
    ref_index = {i: _ref_index(org, item.get("contact_external_ref")) for i, item in enumerate(items)
                 if item.get("contact_external_ref")}
    contacts = Contact.objects.for_org(org).select_related("guardian")
    refs.contacts = {c.pk: c for c in contacts.filter(pk__in=list(ids))} if ids else {}
    wanted = {v for v in ref_index.values() if v}
    if wanted:
        found = contacts.filter(external_ref_index__in=list(wanted))
        refs.by_ref = {c.external_ref_index: refs.contacts.setdefault(c.pk, c) for c in found}
    refs.purposes = {p.pk: p for p in Purpose.objects.for_org(org)}
    refs.by_code = {p.code: p for p in refs.purposes.values()}
    site_ids = {i.get("site_id") for i in items if isinstance(i.get("site_id"), int)}
    refs.sites = {s.pk: s for s in Site.objects.for_org(org).filter(pk__in=list(site_ids))} if site_ids else {}
    refs.rules = {(r.event_kind, r.purpose_id): r for r in ReminderRule.objects.for_org(org).filter(active=True)}
    refs.templates = planning.templates_by_key(org, {r.purpose_id for r in refs.rules.values()})
    indexes = {_event_index(org, i.get("external_id")) for i in items} - {None}
    known = Event.objects.for_org(org).select_for_update().filter(external_id_index__in=list(indexes))
    refs.events = {e.external_id_index: e for e in known}
    return refs


def _resolve(item: dict, org, refs: _Refs, errors: dict):
    contact = purpose = site = None
    if bool(item.get("contact_id")) == bool(item.get("contact_external_ref")):
        errors["contact_id"] = [_("Give exactly one of contact_id or contact_external_ref.")]
    elif item.get("contact_id"):
        contact = refs.contacts.get(_uuid(item["contact_id"]))
        validation.check_contact(org, contact, errors, "contact_id")
    else:
        contact = refs.by_ref.get(_ref_index(org, item["contact_external_ref"]))
        validation.check_contact(org, contact, errors, "contact_external_ref")
    if (item.get("purpose_id") is None) == (item.get("purpose_code") is None):
        errors["purpose_id"] = [_("Give exactly one of purpose_id or purpose_code.")]
    else:
        name = "purpose_id" if item.get("purpose_id") is not None else "purpose_code"
        purpose = (refs.purposes if name == "purpose_id" else refs.by_code).get(item[name])
        validation.check_purpose(org, purpose, errors, name)
    if item.get("site_id") is not None:
        site = refs.sites.get(item["site_id"])
        if site is None:
            errors["site_id"] = [_("Unknown in your organisation.")]
    return contact, purpose, site


def _clean_item(org, item, refs: _Refs) -> tuple[dict | None, dict]:
    errors: dict = {}
    if not isinstance(item, dict):
        return None, {"__all__": [_("Give a JSON object.")]}
    for name in sorted(set(item) - ITEM_FIELDS):
        errors[name] = [_("This field is unknown or cannot be changed.")]
    values = {"external_id": validation.clean_external_id(item.get("external_id"), errors),
              "kind": validation.clean_kind(item.get("kind"), errors, "kind")}
    values["starts_at"], values["ends_at"] = validation.clean_times(
        item.get("kind"), item.get("starts_at"), item.get("ends_at"), errors)
    values["params"] = validation.clean_params(org, item.get("params"), errors)
    values["contact"], values["purpose"], values["site"] = _resolve(item, org, refs, errors)
    return (None if errors else values), errors


@dataclass
class _Work:
    new: list = field(default_factory=list)  # (index, event)
    changed: list = field(default_factory=list)  # (index, event, rescheduled)
    extras: dict = field(default_factory=dict)  # event id -> integrator params


def _new_event(org, values, index) -> Event:
    contact = values["contact"]
    event = Event(organisation=org, external_id_index=index, kind=values["kind"], contact=contact,
                  purpose=values["purpose"], site=values["site"], starts_at=values["starts_at"],
                  ends_at=values["ends_at"], data_key_id=contact.data_key_id)
    event.external_id = values["external_id"]
    event.params = json.dumps(values["params"], sort_keys=True)
    return event


def _change(event: Event, values: dict, changed: list[str]) -> bool:
    """Apply the values to a known event; True when its time changed (a reschedule)."""
    from .services import TIME_FIELDS

    contact = values["contact"]
    if contact.data_key_id != event.data_key_id:
        event.data_key_id = contact.data_key_id
        event.external_id = values["external_id"]
    event.kind, event.contact, event.purpose, event.site = (values["kind"], contact, values["purpose"],
                                                            values["site"])
    event.starts_at, event.ends_at = values["starts_at"], values["ends_at"]
    event.params = json.dumps(values["params"], sort_keys=True)
    event.version += 1
    event.updated_at = timezone.now()
    return bool(TIME_FIELDS & set(changed))


def _sort(org, items, refs: _Refs, report: BulkReport) -> _Work:
    """Check every item; new events to create, known ones to change, unchanged ones to leave."""
    from .services import changed_fields, closed_error

    work, seen = _Work(), {}
    for position, item in enumerate(items):
        values, errors = _clean_item(org, item, refs)
        index = _event_index(org, values["external_id"]) if values else None
        if values and index in seen:
            errors = {"external_id": [_("The same external_id is already at index %d of this request.") % seen[index]]}
        if errors:
            report.errors.append({"index": position, "fields": errors})
            continue
        seen[index] = position
        ensure_data_key(values["contact"])  # a query only for a contact that has no key yet
        event = refs.events.get(index)
        if event is None:
            event = _new_event(org, values, index)
            work.new.append((position, event))
        else:
            changed = changed_fields(event, values, values["contact"], values["purpose"], values["site"])
            if changed and event.status != Event.Status.SCHEDULED:
                report.errors.append({"index": position, "fields": closed_error(event).message_dict})
                continue
            if not changed:
                report.unchanged += 1
                report.events.append({"index": position, "id": str(event.pk), "outcome": "unchanged"})
                continue
            work.changed.append((position, event, _change(event, values, changed)))
        work.extras[event.pk] = values["params"]
    return work


def _write_events(org, work: _Work, refs: _Refs) -> None:
    for _position, event in work.new:
        event.rule = refs.rules.get((event.kind, event.purpose_id))
    outbox.insert_many(Event, [event for _p, event in work.new])
    changed = [event for _p, event, _r in work.changed]
    for event in changed:
        event.rule = refs.rules.get((event.kind, event.purpose_id))
        seal_now(event, "params", "external_id")
    with stored_values():
        Event.objects.for_org(org).bulk_update(changed, UPDATED_FIELDS, batch_size=500)


def _cancel_replaced(org, work: _Work) -> int:
    count = 0
    for why, flag in (("rescheduled", True), ("updated", False)):
        ids = [str(event.pk) for _p, event, rescheduled in work.changed if rescheduled is flag]
        if ids:
            pending = Message.objects.for_org(org).filter(source=planning.SOURCE, source_id__in=ids)
            count += outbox.close_pending(pending, Message.Status.CANCELLED, Reason.EVENT_CANCELLED, "R-27",
                                           {"why": why})
    return count


def _schedule(org, work: _Work, refs: _Refs, report: BulkReport, now) -> None:
    events = [event for _p, event in work.new] + [event for _p, event, _r in work.changed]
    messages = []
    for event in events:
        result = planning.plan(event, org=org, contact=event.contact, purpose=event.purpose, rule=event.rule,
                               site=event.site, templates=refs.templates, now=now, extra=work.extras[event.pk])
        messages += result.messages
        report.past_steps += result.past
    passes = decisions.sendable(org, messages, now)
    outbox.enqueue_many([m for m, ok in zip(messages, passes, strict=True) if ok], decided=True)
    outbox.enqueue_many([m for m, ok in zip(messages, passes, strict=True) if not ok])
    report.steps = len(messages)


def _apply(org, actor: Actor, items: list) -> BulkReport:
    now = timezone.now()
    report = BulkReport(received=len(items))
    refs = _load(org, [i if isinstance(i, dict) else {} for i in items])
    work = _sort(org, items, refs, report)
    _write_events(org, work, refs)
    report.cancelled_steps = _cancel_replaced(org, work)
    _schedule(org, work, refs, report, now)
    report.created = len(work.new)
    report.rescheduled = sum(1 for *_x, r in work.changed if r)
    report.updated = len(work.changed) - report.rescheduled
    report.events += [{"index": p, "id": str(e.pk), "outcome": "created"} for p, e in work.new]
    report.events += [{"index": p, "id": str(e.pk), "outcome": "rescheduled" if r else "updated"}
                      for p, e, r in work.changed]
    report.events.sort(key=lambda row: row["index"])
    _audit(org, actor, items, work, report)
    return report


def _audit(org, actor: Actor, items: list, work: _Work, report: BulkReport) -> None:
    by_ref = sum(1 for i in items if isinstance(i, dict) and i.get("contact_external_ref"))
    if by_ref:  # contacts found by their external reference: a lookup like contacts' own (R-65)
        audit.record(org, actor, "contact.lookup", target_type="contacts.contact",
                     details={"kind": "external_ref", "bulk": by_ref})
    if not (work.new or work.changed):
        return
    audit.record(org, actor, "event.bulk_upserted", target_type="reminders.event", details={
        "received": report.received, "created": report.created, "rescheduled": report.rescheduled,
        "updated": report.updated, "unchanged": report.unchanged, "rejected": len(report.errors),
        "steps": report.steps, "past_steps": report.past_steps, "cancelled_steps": report.cancelled_steps,
        "created_ids": [str(e.pk) for _p, e in work.new],
        "changed_ids": [str(e.pk) for _p, e, _r in work.changed]})


def bulk_upsert_events(org, *, actor: Actor, items: list) -> BulkReport:
    """Up to 10,000 events: each item as upsert_event() takes it, the contact given by `contact_id` or
    `contact_external_ref` and the purpose by `purpose_id` or `purpose_code`."""
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise ValidationError({"items": [_("Give a list of 1 to %d events; split larger sets into several "
                                           "requests.") % MAX_ITEMS]})
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                return _apply(org, actor, items)
        except IntegrityError:  # another request created one of these events meanwhile: read them again
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
