"""Reminder rules and events (R-23, R-27): every write in one transaction with its audit event (ids
and codes only) and its outbox rows.

An event is found again by the keyed hash of the integrator's `external_id` (R-61); its reminders
are outbox messages (source "event", source_id = the event's id, step = the rule's step index).
Creating an event schedules the steps still to come; rescheduling it cancels its pending steps and
schedules the new ones; cancelling it, or completing it (item returned, visit done), cancels them,
all in the same transaction, so that a worker never sends a step that no longer applies (R-33:
a claimed message is only sent if it can still move from claimed to sending).
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import Purpose
from relance.consent.policy import Reason
from relance.contacts.services import ensure_data_key, index_for
from relance.messaging import outbox
from relance.messaging.models import Message, Template

from . import planning, validation
from .bulk import BulkReport, bulk_upsert_events
from .models import Event, ReminderRule

EXTERNAL_ID_INDEX = "event_external_id"
# Changes of these fields change what the pending reminders say or when they are due.
PLANNED_FIELDS = ("kind", "contact_id", "purpose_id", "site_id", "starts_at", "ends_at", "params")
TIME_FIELDS = {"starts_at", "ends_at"}

__all__ = ["create_rule", "update_rule", "deactivate_rule", "upsert_event", "cancel_event", "complete_event",
           "bulk_upsert_events", "BulkReport", "event_index", "active_rule"]


# --- rules ---------------------------------------------------------------------------------
def _template_codes(purpose: Purpose) -> set[tuple[str, str]]:
    rows = Template.objects.for_org(purpose.organisation_id).filter(purpose=purpose, status=Template.Status.ACTIVE)
    return set(rows.values_list("code", "channel"))


def _rule_errors_for_duplicate(org, kind: str, purpose: Purpose, exclude=None) -> dict:
    others = ReminderRule.objects.for_org(org).filter(event_kind=kind, purpose=purpose, active=True)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    if others.exists():
        return {"event_kind": [_("An active rule already exists for this kind of event and purpose: change it or "
                                 "deactivate it first.")]}
    return {}


@transaction.atomic
def create_rule(org, *, actor: Actor, purpose: Purpose, event_kind: str, name: str, steps: list) -> ReminderRule:
    """Steps relative to the event, e.g. e-mail at -2880 and -1440, then SMS at -120 (escalation, R-27)."""
    errors: dict = {}
    validation.check_purpose(org, purpose, errors)
    kind = validation.clean_kind(event_kind, errors)
    clean_name = validation.clean_name(name, errors)
    cleaned = validation.clean_steps(purpose, kind, steps, _template_codes(purpose), errors) if not errors else []
    errors = errors or _rule_errors_for_duplicate(org, kind, purpose)
    validation.raise_if(errors)
    rule = ReminderRule.objects.create(organisation=org, purpose=purpose, event_kind=kind, name=clean_name,
                                       steps=cleaned)
    audit.record(org, actor, "reminder_rule.created", target=rule, details=_rule_details(rule))
    return rule


def _rule_details(rule: ReminderRule) -> dict:
    return {"purpose": rule.purpose.code, "event_kind": rule.event_kind,
            "steps": [f"{s['offset_minutes']}:{s['channel']}:{s['template']}" for s in rule.steps]}


@transaction.atomic
def update_rule(rule: ReminderRule, *, actor: Actor, name=None, steps=None) -> ReminderRule:
    """New steps apply to events created or rescheduled from now on; pending reminders stay as planned."""
    rule = ReminderRule.objects.for_org(rule.organisation_id).select_for_update().select_related("purpose").get(pk=rule.pk)
    errors: dict = {}
    if not rule.active:
        validation.raise_if({"active": [_("This rule was deactivated: create a new one.")]})
    if name is not None:
        rule.name = validation.clean_name(name, errors)
    if steps is not None:
        rule.steps = validation.clean_steps(rule.purpose, rule.event_kind, steps, _template_codes(rule.purpose), errors)
    validation.raise_if(errors)
    rule.save()
    audit.record(rule.organisation, actor, "reminder_rule.updated", target=rule,
                 details={**_rule_details(rule), "fields": sorted(n for n, v in (("name", name), ("steps", steps))
                                                                  if v is not None)})
    return rule


@transaction.atomic
def deactivate_rule(rule: ReminderRule, *, actor: Actor) -> ReminderRule:
    """No new reminders from this rule; those already planned stay (cancel their events to stop them)."""
    rule = ReminderRule.objects.for_org(rule.organisation_id).select_for_update().get(pk=rule.pk)
    if rule.active:
        rule.active = False
        rule.save(update_fields=["active", "updated_at"])
        audit.record(rule.organisation, actor, "reminder_rule.deactivated", target=rule, details={})
    return rule


def active_rule(org, kind: str, purpose_id: int) -> ReminderRule | None:
    return ReminderRule.objects.for_org(org).filter(event_kind=kind, purpose_id=purpose_id, active=True).first()


# --- one event -----------------------------------------------------------------------------
def event_index(org, external_id: str) -> str:
    return index_for(org, EXTERNAL_ID_INDEX, external_id)


def _clean(org, *, external_id, kind, contact, purpose, starts_at, ends_at, site, params) -> dict:
    errors: dict = {}
    values = {"external_id": validation.clean_external_id(external_id, errors),
              "kind": validation.clean_kind(kind, errors, "kind")}
    values["starts_at"], values["ends_at"] = validation.clean_times(kind, starts_at, ends_at, errors)
    values["params"] = validation.clean_params(org, params, errors)
    validation.check_contact(org, contact, errors)
    validation.check_purpose(org, purpose, errors)
    validation.check_site(org, site, errors)
    validation.raise_if(errors)
    return values


def _schedule(event: Event, org, contact, purpose, site, extra: dict, now) -> planning.Plan:
    """Plan the event's future steps and write them in this transaction."""
    rule = active_rule(org, event.kind, purpose.pk)
    templates = planning.templates_by_key(org, [purpose.pk]) if rule else {}
    result = planning.plan(event, org=org, contact=contact, purpose=purpose, rule=rule, site=site,
                           templates=templates, now=now, extra=extra)
    if event.rule_id != (rule.pk if rule else None):
        event.rule = rule
        Event.objects.for_org(org).filter(pk=event.pk).update(rule=rule)
    outbox.enqueue_many(result.messages)
    return result


def cancel_steps(event: Event, why: str) -> int:
    """Cancel the event's pending reminders in the caller's transaction; `why` goes on their timeline."""
    # cancel_pending() takes no detail; the timeline says whether it was a cancellation, a new time
    # or a returned item, so that the staff reading it know why the step did not go.
    pending = Message.objects.for_org(event.organisation_id).filter(source=planning.SOURCE, source_id=str(event.pk))
    return outbox.close_pending(pending, Message.Status.CANCELLED, Reason.EVENT_CANCELLED, "R-27", {"why": why})


def _plan_details(result: planning.Plan) -> dict:
    details = {"steps": len(result.messages), "past_steps": result.past}
    if result.missing_template:
        details["missing_template"] = result.missing_template
    return details


@transaction.atomic
def upsert_event(org, *, actor: Actor, external_id, kind, contact, purpose, starts_at, ends_at=None, site=None,
                 params=None) -> tuple[Event, bool]:
    """Create the event or bring it up to date; `event.plan` tells what was scheduled (a Plan, or None
    when nothing changed)."""
    values = _clean(org, external_id=external_id, kind=kind, contact=contact, purpose=purpose, starts_at=starts_at,
                    ends_at=ends_at, site=site, params=params)
    index = event_index(org, values["external_id"])
    existing = Event.objects.for_org(org).select_for_update().filter(external_id_index=index).first()
    if existing is None:
        try:
            with transaction.atomic():
                return _create(org, actor, index, values, contact, purpose, site), True
        except IntegrityError:  # created meanwhile by a concurrent request: update it instead
            existing = Event.objects.for_org(org).select_for_update().get(external_id_index=index)
    return _update(existing, actor, values, contact, purpose, site), False


def _create(org, actor, index, values, contact, purpose, site) -> Event:
    ensure_data_key(contact)
    event = Event(organisation=org, external_id_index=index, kind=values["kind"], contact=contact, purpose=purpose,
                  site=site, starts_at=values["starts_at"], ends_at=values["ends_at"])
    event.data_key_id = contact.data_key_id  # erasing the person makes the event's sealed values unreadable
    event.external_id = values["external_id"]
    event.params = json.dumps(values["params"], sort_keys=True)
    event.save()
    event.plan = _schedule(event, org, contact, purpose, site, values["params"], timezone.now())
    audit.record(org, actor, "event.created", target=event,
                 details={"kind": event.kind, "contact": str(contact.pk), "purpose": purpose.code,
                          **_plan_details(event.plan)})
    return event


def changed_fields(event: Event, values: dict, contact, purpose, site) -> list[str]:
    new = {"kind": values["kind"], "contact_id": contact.pk, "purpose_id": purpose.pk,
           "site_id": site.pk if site else None, "starts_at": values["starts_at"], "ends_at": values["ends_at"],
           "params": values["params"]}
    old = {name: getattr(event, name) for name in PLANNED_FIELDS if name != "params"}
    old["params"] = planning.event_params(event)
    return [name for name in PLANNED_FIELDS if old[name] != new[name]]


def closed_error(event: Event) -> ValidationError:
    message = (_("This event was cancelled: it cannot change. Send the new event with a new external_id.")
               if event.status == Event.Status.CANCELLED else
               _("This event is completed: it cannot change. Send the new event with a new external_id."))
    return ValidationError({"external_id": [message]})


def _update(event: Event, actor, values, contact, purpose, site) -> Event:
    changed = changed_fields(event, values, contact, purpose, site)
    event.plan = None
    if not changed:
        return event
    if event.status != Event.Status.SCHEDULED:
        raise closed_error(event)
    if contact.data_key_id is None or contact.data_key_id != event.data_key_id:
        ensure_data_key(contact)
        event.data_key_id = contact.data_key_id
        event.external_id = values["external_id"]  # sealed again with the new person's key
    event.kind, event.contact, event.purpose, event.site = values["kind"], contact, purpose, site
    event.starts_at, event.ends_at = values["starts_at"], values["ends_at"]
    event.params = json.dumps(values["params"], sort_keys=True)
    event.version += 1
    event.save()
    rescheduled = bool(TIME_FIELDS & set(changed))
    cancelled = cancel_steps(event, "rescheduled" if rescheduled else "updated")
    event.plan = _schedule(event, event.organisation, contact, purpose, site, values["params"], timezone.now())
    audit.record(event.organisation, actor, "event.rescheduled" if rescheduled else "event.updated", target=event,
                 details={"fields": sorted(changed), "cancelled_steps": cancelled, **_plan_details(event.plan)})
    return event


def _locked(event: Event) -> Event:
    return Event.objects.for_org(event.organisation_id).select_for_update().select_related("organisation").get(
        pk=event.pk)


@transaction.atomic
def cancel_event(event: Event, *, actor: Actor) -> Event:
    """The appointment is cancelled: its pending reminders are cancelled at once (R-27)."""
    event = _locked(event)
    if event.status == Event.Status.CANCELLED:
        return event
    if event.status == Event.Status.COMPLETED:
        raise ValidationError({"status": [_("This event is already completed: there is nothing to cancel.")]})
    return _close(event, actor, Event.Status.CANCELLED, "cancelled", "event.cancelled")


@transaction.atomic
def complete_event(event: Event, *, actor: Actor) -> Event:
    """The item was returned or the visit took place: the reminders still pending are cancelled."""
    event = _locked(event)
    if event.status == Event.Status.COMPLETED:
        return event
    if event.status == Event.Status.CANCELLED:
        raise ValidationError({"status": [_("This event was cancelled: it cannot be completed.")]})
    return _close(event, actor, Event.Status.COMPLETED, "completed", "event.completed")


def _close(event: Event, actor, status: str, why: str, action: str) -> Event:
    event.status = status
    event.save(update_fields=["status", "updated_at"])
    cancelled = cancel_steps(event, why)
    audit.record(event.organisation, actor, action, target=event, details={"cancelled_steps": cancelled})
    return event
