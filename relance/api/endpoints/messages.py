"""Messages: send one, list, read one with its status and timeline, read its content (issue 4 item 7).

Personal data (R-60, R-65): a message as served here holds ids, codes, times and reasons only; the
text that was sent and its placeholder values come from GET /messages/{id}/content alone, which
needs `contacts:read` and is an audited read. Idempotency records therefore hold no personal data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.consent.models import Purpose
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.messaging import services
from relance.messaging.models import Message, Template

from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import PageOut, PageParams, Strict, page

router = Router(tags=["messages"])

WRITE, READ, CONTENT = "messages:write", "messages:read", "contacts:read"
Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
ParamValue = Annotated[str, StringConstraints(max_length=500)] | int | float
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class MessageIn(Strict):
    """One message to one contact, through the outbox: decided now and again before sending (R-21)."""

    contact_id: UUID | None = Field(None, description="The contact; or give `external_ref`")
    external_ref: Ref | None = Field(None, description="Your own id of the contact, instead of `contact_id`")
    template_id: int | None = Field(None, description="The template; or give `template_code` and `channel`")
    template_code: Code | None = Field(None, description="The template's code, in the contact's language "
                                                         "(the template's other language otherwise)")
    purpose_id: int | None = Field(None, description="With `template_code`, when several purposes use that code")
    channel: Literal["sms", "email"] | None = Field(None, description="Required with `template_code`")
    params: dict[str, ParamValue] | None = Field(None, description="Placeholder values (time, place, date...)")
    due_at: datetime | None = Field(None, description="When to send; now by default (sending windows apply, R-22)")
    urgent_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        "", description="A service message that must bypass the sending window, and why (logged, R-22)")


class TimelineOut(Schema):
    at: datetime
    kind: str = Field(..., description="scheduled, deferred, claimed, sending, sent, delivered, failed, suppressed...")
    reason: str = Field(..., description="Why it was suppressed or deferred (R-20), or a provider error code")
    rule: str = Field(..., description="The rule behind the reason (R-xx)")
    detail: dict


class MessageOut(Schema):
    id: UUID
    contact_id: UUID
    recipient_id: UUID = Field(..., description="Whose number or address: the guardian's for a minor (R-14)")
    purpose_id: int | None
    template_id: int | None
    campaign_id: int | None
    channel: str
    message_class: str
    language: str
    source: str = Field(..., description="event, campaign, api, staff, consent_request, reply, system")
    source_id: str
    step: int | None
    status: str = Field(..., description="scheduled, claimed, sending, sent, delivered, failed, suppressed, "
                                         "expired or cancelled")
    reason: str = Field(..., description="Why it was not sent (R-20), when it was not")
    rule: str
    due_at: datetime
    valid_until: datetime | None
    sent_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    attempts: int
    provider: str
    segments: int | None
    encoding: str = Field(..., description="GSM-7 or UCS-2 for an SMS (R-26), once rendered")


class MessageDetail(MessageOut):
    timeline: list[TimelineOut]


class MessagePage(PageOut):
    items: list[MessageOut]


class ContentOut(Schema):
    id: UUID
    body: str | None = Field(..., description="The text as sent; null before sending or after erasure")
    params: dict | None = Field(..., description="The placeholder values; null after erasure")


class MessageFilters(Schema):
    status: Literal[tuple(Message.Status.values)] | None = None
    contact_id: UUID | None = None
    purpose_id: int | None = None
    source: Literal[tuple(Message.Source.values)] | None = None
    created_after: datetime | None = None


def _check_choices(payload: MessageIn) -> None:
    """One way to name the contact and one to name the template; every problem at once."""
    errors = {}
    if (payload.contact_id is None) == (payload.external_ref is None):
        errors["contact_id"] = [_("Give contact_id or external_ref (one of them).")]
    if (payload.template_id is None) == (payload.template_code is None):
        errors["template_id"] = [_("Give template_id or template_code (one of them).")]
    elif payload.template_code is not None and payload.channel is None:
        errors["channel"] = [_("Give the channel with template_code.")]
    if errors:
        raise ValidationError(errors)


def _unknown(name: str) -> ValidationError:
    return ValidationError({name: [_("Unknown in your organisation.")]})


def _contact(org, payload: MessageIn, request) -> Contact:
    if payload.contact_id is not None:
        found = Contact.objects.for_org(org).filter(pk=payload.contact_id).first()
        if found is None:
            raise _unknown("contact_id")
        return found
    found = contacts.find_by_external_ref(org, payload.external_ref, actor=actor(request))
    if found is None:
        raise _unknown("external_ref")
    return found


def _template(org, payload: MessageIn, contact: Contact) -> Template:
    if payload.template_id is not None:
        found = Template.objects.for_org(org).filter(pk=payload.template_id).select_related("purpose").first()
        if found is None:
            raise _unknown("template_id")
        return found
    candidates = Template.objects.for_org(org).filter(code=payload.template_code, channel=payload.channel,
                                                      status=Template.Status.ACTIVE).select_related("purpose")
    if payload.purpose_id is not None:
        candidates = candidates.filter(purpose_id=payload.purpose_id)
    candidates = list(candidates)
    if len({t.purpose_id for t in candidates}) > 1:
        raise ValidationError({"purpose_id": [_("Several purposes have a template with this code: give purpose_id.")]})
    if not candidates:
        raise _unknown("template_code")
    by_language = {t.language: t for t in candidates}
    return by_language.get(contact.language) or by_language.get("fr") or candidates[0]


def _rename(exc: ValidationError) -> ValidationError:
    names = {"contact": "contact_id", "purpose": "purpose_id", "template": "template_id"}
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(name, name): errors for name, errors in exc.error_dict.items()})


def detail(message: Message) -> dict:
    return {**MessageOut.model_validate(message).model_dump(),
            "timeline": [TimelineOut.model_validate(line).model_dump() for line in services.message_timeline(message)]}


def owned_message(request, message_id: UUID) -> Message:
    message = Message.objects.for_org(request.organisation).filter(pk=message_id).first()
    if message is None:
        raise NotFound()
    return message


@router.post("/messages", response={201: MessageDetail}, **needs(WRITE))
def send_message(request, payload: MessageIn):
    """Send one message to one contact (by `contact_id` or your `external_ref`) with a template (by
    `template_id`, or `template_code` + `channel`). A message that may not go — no consent, an
    objection, a STOP, an invalid number... — is still created and answered with its status and
    reason (R-20); a reason that may change before the due time stays on the timeline and the
    message is decided again before sending (R-21)."""
    org = request.organisation
    _check_choices(payload)
    contact = _contact(org, payload, request)
    template = _template(org, payload, contact)
    purpose = Purpose.objects.for_org(org).get(pk=template.purpose_id)
    try:
        message = services.send_message(org, actor=actor(request), contact=contact, purpose=purpose,
                                        channel=template.channel, template=template, params=payload.params,
                                        due_at=payload.due_at, urgent_reason=payload.urgent_reason)
    except ValidationError as exc:
        raise _rename(exc)
    return Status(201, detail(message))


@router.get("/messages", response=MessagePage, **needs(READ))
def list_messages(request, filters: Query[MessageFilters], params: Query[PageParams]):
    """The organisation's messages, newest first, without their content."""
    messages = Message.objects.for_org(request.organisation)
    for name in ("status", "contact_id", "purpose_id", "source"):
        value = getattr(filters, name)
        if value is not None:
            messages = messages.filter(**{name: value})
    if filters.created_after is not None:
        messages = messages.filter(created_at__gt=filters.created_after)
    return page(messages.order_by("-created_at", "id"), params)


@router.get("/messages/{uuid:message_id}", response=MessageDetail, **needs(READ))
def get_message(request, message_id: UUID):
    """One message: status, reason and rule (R-20), times, provider, segments, encoding, and its
    timeline. Not its text: see /content."""
    return detail(owned_message(request, message_id))


@router.get("/messages/{uuid:message_id}/content", response=ContentOut, **needs(CONTENT))
def get_message_content(request, message_id: UUID):
    """The text sent and its placeholder values, in clear: an audited read of personal data (R-65)."""
    message = owned_message(request, message_id)
    return {"id": message.pk, **services.read_message_content(message, actor=actor(request))}
