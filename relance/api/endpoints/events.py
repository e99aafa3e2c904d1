"""Events and reminder rules (R-23, R-27), and consent requests by SMS (R-28).

An integrator upserts events by its own `external_id`: 201 when created, 200 when it was known
(changed or not). `POST /events/bulk` takes up to 10,000 events, applies the good ones and lists
every bad one with its index and field errors. The contact is named by `contact_id` or by
`contact_external_ref`, the purpose by `purpose_id` or `purpose_code`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.accounts.models import Site
from relance.consent.models import Notice, Purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import consent_requests
from relance.messaging.models import Message
from relance.reminders import services
from relance.reminders.models import Event, ReminderRule

from ..auth import actor, needs
from ..schemas import PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["events"])

WRITE, READ = "events:write", "events:read"
Kind = Literal["appointment", "convocation", "loan_due", "reserved_item", "closure"]
Channel = Literal["sms", "email"]
ExternalId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ParamValue = Annotated[str, StringConstraints(max_length=300)]
MAX_BULK = 10_000


def _events(org):
    return Event.objects.for_org(org)


def _rules(org):
    return ReminderRule.objects.for_org(org)


def _contacts(org):
    return Contact.objects.for_org(org)


class EventIn(Strict):
    external_id: ExternalId = Field(..., description="Your identifier of the event (kept sealed, found by keyed hash)")
    kind: Kind
    contact_id: UUID | None = Field(None, description="The person, or give contact_external_ref")
    contact_external_ref: Ref | None = None
    purpose_id: int | None = Field(None, description="The purpose, or give purpose_code")
    purpose_code: Ref | None = None
    starts_at: datetime = Field(..., description="The appointment, the due date, the start of a hold (with offset)")
    ends_at: datetime | None = Field(None, description="The end of a hold: required for reserved_item (R-23)")
    site_id: int | None = None
    params: dict[str, ParamValue] | None = Field(
        None, description="place, callback, link, count (item_title and reason: not for health organisations, R-24)")


class BulkIn(Strict):
    items: list[dict[str, Any]] = Field(..., min_length=1, max_length=MAX_BULK,
                                        description="Events shaped like POST /events; each is checked on its own")


class EventOut(Schema):
    id: UUID
    external_id: str
    kind: str
    status: str
    contact_id: UUID
    purpose_id: int
    site_id: int | None
    rule_id: int | None
    starts_at: datetime
    ends_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class UpsertOut(EventOut):
    scheduled_steps: int = Field(..., description="Reminders scheduled by this request")
    past_steps: int = Field(..., description="Steps already past when the event arrived: not scheduled")


class StepMessageOut(Schema):
    id: UUID
    step: int | None
    channel: str
    due_at: datetime
    status: str
    reason: str


class EventDetail(EventOut):
    messages: list[StepMessageOut]


class BulkError(Schema):
    index: int
    fields: dict[str, list[str]]


class BulkRow(Schema):
    index: int
    id: UUID
    outcome: str = Field(..., description="created, rescheduled, updated or unchanged")


class BulkOut(Schema):
    received: int
    created: int
    rescheduled: int
    updated: int
    unchanged: int
    rejected: int
    steps: int
    past_steps: int
    cancelled_steps: int
    events: list[BulkRow]
    errors: list[BulkError]


class StepIn(Strict):
    offset_minutes: int = Field(..., description="Minutes from the event's start; negative before it")
    channel: Channel
    template: Ref = Field(..., description="A template code of the purpose for this channel")


class RuleIn(Strict):
    purpose_id: int
    event_kind: Kind
    name: ExternalId
    steps: list[StepIn] = Field(..., min_length=1, max_length=10)


class RulePatch(Strict):
    name: ExternalId | None = None
    steps: list[StepIn] | None = Field(None, min_length=1, max_length=10)
    active: Literal[False] | None = Field(None, description="false deactivates the rule (for good)")


class RuleOut(Schema):
    id: int
    purpose_id: int
    event_kind: str
    name: str
    steps: list[dict]
    active: bool
    created_at: datetime
    updated_at: datetime


class RulePage(PageOut):
    items: list[RuleOut]


class ConsentRequestIn(Strict):
    purpose_id: int
    channel: Channel = "sms"
    event_ref: Ref | None = Field(None, description="The event a per-event consent is asked for (R-13)")


class ConsentRequestOut(Schema):
    message_id: UUID
    status: str
    due_at: datetime
    notice_id: int
    notice_link: str


# --- helpers -------------------------------------------------------------------------------
def _event_out(event: Event) -> dict:
    names = ("id", "external_id", "kind", "status", "contact_id", "purpose_id", "site_id", "rule_id", "starts_at",
             "ends_at", "version", "created_at", "updated_at")
    return {name: getattr(event, name) for name in names}


def _contact(request, payload: EventIn) -> Contact | None:
    org = request.organisation
    if (payload.contact_id is None) == (payload.contact_external_ref is None):
        raise ValidationError({"contact_id": [_("Give exactly one of contact_id or contact_external_ref.")]})
    if payload.contact_id is not None:
        return _contacts(org).filter(pk=payload.contact_id).first()
    return contacts.find_by_external_ref(org, payload.contact_external_ref, actor=actor(request))


def _purpose(org, purpose_id, purpose_code) -> Purpose | None:
    if (purpose_id is None) == (purpose_code is None):
        raise ValidationError({"purpose_id": [_("Give exactly one of purpose_id or purpose_code.")]})
    found = Purpose.objects.for_org(org)
    return (found.filter(pk=purpose_id) if purpose_id is not None else found.filter(code=purpose_code)).first()


def _rename(exc: ValidationError, payload: EventIn) -> ValidationError:
    contact = "contact_id" if payload.contact_id is not None else "contact_external_ref"
    purpose = "purpose_id" if payload.purpose_id is not None else "purpose_code"
    names = {"contact": contact, "purpose": purpose, "site": "site_id"}
    return ValidationError({names.get(k, k): v for k, v in exc.message_dict.items()})


def owned_event(request, event_id: UUID) -> Event:
    return _events(request.organisation).get(pk=event_id)


# --- events --------------------------------------------------------------------------------
@router.post("/events", response={200: UpsertOut, 201: UpsertOut}, **needs(WRITE))
def upsert_event(request, payload: EventIn):
    """Create or update one event by your `external_id`; its reminders follow at once (R-27). A new
    time cancels the pending reminders and schedules new ones; the same event sent again changes nothing."""
    org = request.organisation
    contact, purpose = _contact(request, payload), _purpose(org, payload.purpose_id, payload.purpose_code)
    site = Site.objects.for_org(org).filter(pk=payload.site_id).first() if payload.site_id is not None else None
    if payload.site_id is not None and site is None:
        raise ValidationError({"site_id": [_("Unknown in your organisation.")]})
    try:
        event, created = services.upsert_event(
            org, actor=actor(request), external_id=payload.external_id, kind=payload.kind, contact=contact,
            purpose=purpose, starts_at=payload.starts_at, ends_at=payload.ends_at, site=site, params=payload.params)
    except ValidationError as exc:
        raise _rename(exc, payload)
    plan = event.plan
    body = {**_event_out(event), "scheduled_steps": len(plan.messages) if plan else 0,
            "past_steps": plan.past if plan else 0}
    return Status(201 if created else 200, body)


@router.post("/events/bulk", response=BulkOut, **needs(WRITE))
def bulk_upsert_events(request, payload: BulkIn):
    """Up to 10,000 events in one request, each shaped like POST /events. Good items are applied, every
    bad one is listed in `errors` with its index and field messages (nothing else is refused)."""
    report = services.bulk_upsert_events(request.organisation, actor=actor(request), items=payload.items)
    return {**{name: getattr(report, name) for name in ("received", "created", "rescheduled", "updated",
                                                         "unchanged", "steps", "past_steps", "cancelled_steps",
                                                         "events", "errors")},
            "rejected": len(report.errors)}


@router.get("/events/{uuid:event_id}", response=EventDetail, **needs_owned(READ, "event_id", _events))
def get_event(request, event_id: UUID):
    """The event and its reminders: step, channel, due time, status and, if not sent, why."""
    event = owned_event(request, event_id)
    rows = (Message.objects.for_org(request.organisation).filter(source="event", source_id=str(event.pk))
            .order_by("step", "created_at"))
    return {**_event_out(event), "messages": list(rows)}


@router.post("/events/{uuid:event_id}/cancel", response=EventOut, **needs_owned(WRITE, "event_id", _events))
def cancel_event(request, event_id: UUID):
    """Cancel the event: its pending reminders are cancelled at once (R-27)."""
    return _event_out(services.cancel_event(owned_event(request, event_id), actor=actor(request)))


@router.post("/events/{uuid:event_id}/complete", response=EventOut, **needs_owned(WRITE, "event_id", _events))
def complete_event(request, event_id: UUID):
    """The item was returned or the visit took place: the pending reminders are cancelled."""
    return _event_out(services.complete_event(owned_event(request, event_id), actor=actor(request)))


# --- rules ---------------------------------------------------------------------------------
@router.get("/reminder-rules", response=RulePage, **needs(READ))
def list_reminder_rules(request, params: Query[PageParams]):
    return page(_rules(request.organisation).order_by("event_kind", "name", "pk"), params)


@router.post("/reminder-rules", response={201: RuleOut}, **needs(WRITE))
def create_reminder_rule(request, payload: RuleIn):
    """Steps relative to the event, each with a channel and a template code; escalation is a list of
    steps (e-mail at -2880 and -1440, SMS at -120). One active rule per kind of event and purpose."""
    purpose = Purpose.objects.for_org(request.organisation).filter(pk=payload.purpose_id).first()
    if purpose is None:
        raise ValidationError({"purpose_id": [_("Unknown in your organisation.")]})
    rule = services.create_rule(request.organisation, actor=actor(request), purpose=purpose,
                                event_kind=payload.event_kind, name=payload.name,
                                steps=[step.model_dump() for step in payload.steps])
    return Status(201, rule)


@router.patch("/reminder-rules/{int:rule_id}", response=RuleOut, **needs_owned(WRITE, "rule_id", _rules))
def update_reminder_rule(request, rule_id: int, payload: RulePatch):
    """New name or steps (for events created or rescheduled from now on), or `active: false`."""
    rule = _rules(request.organisation).get(pk=rule_id)
    if payload.name is not None or payload.steps is not None:
        rule = services.update_rule(rule, actor=actor(request), name=payload.name,
                                    steps=None if payload.steps is None else [s.model_dump() for s in payload.steps])
    if payload.active is False:
        rule = services.deactivate_rule(rule, actor=actor(request))
    return rule


# --- consent requests (R-28) ---------------------------------------------------------------
@router.post("/contacts/{uuid:contact_id}/consent-requests", response={201: ConsentRequestOut},
             **needs_owned("consent:write", "contact_id", _contacts))
def request_consent(request, contact_id: UUID, payload: ConsentRequestIn):
    """Ask the person for consent by SMS: reply OUI/YES, with a link to the full notice (R-28)."""
    org = request.organisation
    contact = _contacts(org).get(pk=contact_id)
    purpose = Purpose.objects.for_org(org).filter(pk=payload.purpose_id).first()
    if purpose is None:
        raise ValidationError({"purpose_id": [_("Unknown in your organisation.")]})
    try:
        message = consent_requests.request_consent(contact, purpose, actor=actor(request), channel=payload.channel,
                                                   event_ref=payload.event_ref or "")
    except ValidationError as exc:
        raise ValidationError({"purpose_id" if k == "purpose" else k: v for k, v in exc.message_dict.items()})
    notice = Notice.objects.for_org(org).get(pk=message.source_id)
    return Status(201, {"message_id": message.pk, "status": message.status, "due_at": message.due_at,
                        "notice_id": notice.pk, "notice_link": consent_requests.notice_link(notice)})
