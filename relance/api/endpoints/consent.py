"""The consent ledger (R-10..R-16): record an event, STOP everywhere, a contact's history and current
state, one event with its evidence, receipts (Kantara v1.1, ISO/IEC TS 27560).

Personal data (R-60, R-65): events and states hold ids, codes and times only; an event's evidence (a
truncated IP, a user agent, a form URL) is returned by GET /consent/events/{id} alone, as an audited
read; a receipt export is audited too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.accounts.models import Membership
from relance.consent import receipts, services
from relance.consent.decision import informed
from relance.consent.models import ConsentEvent, ConsentState, Notice, Purpose
from relance.contacts.models import Contact

from ..auth import actor, needs
from ..errors import ApiError, NotFound
from ..schemas import PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["consent"])

WRITE, READ = "consent:write", "contacts:read"
Ref = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
EvidenceValue = Annotated[str, StringConstraints(max_length=500)]
Channel = Literal["sms", "email"]
Method = Literal["web_form", "paper_form", "phone_call", "sms_keyword", "api", "import"]


def _contacts(org):
    return Contact.objects.for_org(org)


class ConsentEventIn(Strict):
    """One decision of a person (or their guardian) about one purpose and channel (R-10)."""

    contact_id: UUID
    purpose_id: int
    channel: Channel
    action: Literal["given", "refused", "withdrawn", "objected", "renewed", "restored"] = Field(
        ..., description="Required, no default: consent is a positive act, never pre-ticked (R-10). `given` and "
                         "`renewed` need `notice_id` (R-11).")
    expressed_by: Literal["subject", "guardian", "staff_on_behalf"]
    method: Method
    notice_id: int | None = Field(None, description="The notice version the person saw (R-10, R-11)")
    language: Literal["fr", "en"] | None = Field(None, description="The notice's language by default")
    evidence: dict[str, EvidenceValue] | None = Field(
        None, description="ip (kept truncated), user_agent, form_url, form_ref, import_batch, original_collector, "
                          "source, collected_at, keyword, message_ref, note. Imported consents need source and "
                          "original_collector (R-15). Sealed with the person's key.")
    valid_until: datetime | None = Field(None, description="At most the purpose's consent validity (R-13)")
    event_ref: Ref | None = Field(None, description="The appointment or event this consent is for (refresh_per_event)")
    guardian_id: UUID | None = Field(None, description="With expressed_by=guardian: the guardian's contact (R-14)")
    staff_user_id: UUID | None = Field(None, description="With expressed_by=staff_on_behalf: who recorded it")
    occurred_at: datetime | None = Field(None, description="When the person decided; now by default")


class ConsentEventOut(Schema):
    id: UUID
    seq: int = Field(..., description="Position in the organisation's ledger chain (R-11)")
    contact_id: UUID
    purpose_id: int
    channel: str
    action: str
    expressed_by: str
    guardian_id: UUID | None
    staff_user_id: UUID | None
    method: str
    notice_id: int | None
    notice_version: int | None
    notice_sha256: str
    language: str
    occurred_at: datetime
    recorded_at: datetime
    valid_until: datetime | None
    event_ref: str
    prev_hash: str
    hash: str


class ConsentEventDetail(ConsentEventOut):
    evidence: dict[str, str] | None = Field(..., description="Null once the person's key was destroyed (erasure)")


class EventPage(PageOut):
    items: list[ConsentEventOut]


class EventList(Schema):
    items: list[ConsentEventOut]


class StateOut(Schema):
    purpose_id: int
    purpose_code: str
    purpose_status: str
    legal_basis: str
    channel: str
    status: str = Field(..., description="none, given, refused, withdrawn, objected or expired")
    valid_until: datetime | None
    event_ref: str
    guardian_status: str = Field(..., description="A guardian's decision for a minor (R-14)")
    guardian_valid_until: datetime | None
    informed: bool = Field(..., description="A notice of the purpose was recorded for the contact (R-04)")
    last_event_id: UUID | None


class StateList(Schema):
    items: list[StateOut]


class StopIn(Strict):
    channel: Channel
    method: Method = "api"
    evidence: dict[str, EvidenceValue] | None = None


def _unknown() -> list[str]:
    return [_("Unknown in your organisation.")]


def _resolve(org, payload: ConsentEventIn) -> dict:
    """The ids of the body, each looked up in the key's organisation; every unknown one reported."""
    errors, found = {}, {}
    for name, model, value in (("contact", Contact, payload.contact_id), ("purpose", Purpose, payload.purpose_id),
                               ("notice", Notice, payload.notice_id), ("guardian", Contact, payload.guardian_id)):
        if value is None:
            found[name] = None
            continue
        found[name] = model.objects.for_org(org).filter(pk=value).first()
        if found[name] is None:
            errors[f"{name}_id"] = _unknown()
    found["staff_user"] = None
    if payload.staff_user_id is not None:
        membership = Membership.objects.for_org(org).filter(user_id=payload.staff_user_id).select_related("user").first()
        if membership is None:
            errors["staff_user_id"] = _unknown()
        else:
            found["staff_user"] = membership.user
    if errors:
        raise ValidationError(errors)
    return found


def _rename(exc: ValidationError) -> ValidationError:
    """Service field names to API field names (notice → notice_id...)."""
    renamed = {"contact": "contact_id", "purpose": "purpose_id", "notice": "notice_id", "guardian": "guardian_id",
               "staff_user": "staff_user_id"}
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({renamed.get(name, name): errors for name, errors in exc.error_dict.items()})


def owned_event(request, consentevent_id: UUID) -> ConsentEvent:
    event = (ConsentEvent.objects.for_org(request.organisation).filter(pk=consentevent_id)
             .select_related("purpose", "contact", "notice", "organisation").first())
    if event is None:
        raise NotFound()
    return event


def owned_contact(request, contact_id: UUID) -> Contact:
    contact = _contacts(request.organisation).filter(pk=contact_id).first()
    if contact is None:
        raise NotFound()
    return contact


@router.post("/consent/events", response={201: ConsentEventOut}, **needs(WRITE))
def record_consent_event(request, payload: ConsentEventIn):
    """Append an event to the consent ledger; the contact's state follows at once (R-10..R-14).
    Withdrawal is as easy as giving (R-12): `withdrawn` needs nothing but the contact, purpose, channel."""
    found = _resolve(request.organisation, payload)
    try:
        event = services.record_consent(
            found["contact"], found["purpose"], payload.channel, payload.action, actor=actor(request),
            expressed_by=payload.expressed_by, method=payload.method, notice=found["notice"],
            language=payload.language, evidence=payload.evidence, valid_until=payload.valid_until,
            event_ref=payload.event_ref, guardian=found["guardian"], staff_user=found["staff_user"],
            occurred_at=payload.occurred_at)
    except ValidationError as exc:
        raise _rename(exc)
    return Status(201, event)


@router.post("/contacts/{uuid:contact_id}/consent/stop", response=EventList,
             **needs_owned(WRITE, "contact_id", _contacts))
def stop_everywhere(request, contact_id: UUID, payload: StopIn):
    """STOP (R-12, R-31): withdraw consent on every consent purpose and object on every other purpose of
    the organisation using this channel. Purposes already stopped are left as they are."""
    events = services.withdraw_everywhere(owned_contact(request, contact_id), payload.channel, actor=actor(request),
                                          method=payload.method, evidence=payload.evidence)
    return {"items": events}


@router.get("/contacts/{uuid:contact_id}/consent", response=StateList, **needs(READ))
def contact_consent_state(request, contact_id: UUID):
    """The contact's current state for every purpose and channel of the organisation (the ledger's
    projection), and whether it was informed (R-04)."""
    contact = owned_contact(request, contact_id)
    org = request.organisation
    states = {(s.purpose_id, s.channel): s for s in ConsentState.objects.for_org(org).filter(contact=contact)}
    now, items = timezone.now(), []
    for purpose in Purpose.objects.for_org(org).order_by("code"):
        was_informed = informed(contact, purpose, now)
        for channel in purpose.channels or []:
            state = states.get((purpose.pk, channel))
            items.append({
                "purpose_id": purpose.pk, "purpose_code": purpose.code, "purpose_status": purpose.status,
                "legal_basis": purpose.legal_basis, "channel": channel,
                "status": state.status if state else "none", "valid_until": state.valid_until if state else None,
                "event_ref": state.event_ref if state else "",
                "guardian_status": state.guardian_status if state else "none",
                "guardian_valid_until": state.guardian_valid_until if state else None,
                "informed": was_informed, "last_event_id": state.last_event_id if state else None,
            })
    return {"items": items}


@router.get("/contacts/{uuid:contact_id}/consent/events", response=EventPage, **needs(READ))
def contact_consent_history(request, contact_id: UUID, params: Query[PageParams]):
    """The contact's ledger rows, oldest first (evidence: GET /consent/events/{id})."""
    contact = owned_contact(request, contact_id)
    return page(ConsentEvent.objects.for_org(request.organisation).filter(contact=contact).order_by("seq"), params)


@router.get("/consent/events/{uuid:consentevent_id}", response=ConsentEventDetail, **needs(READ))
def get_consent_event(request, consentevent_id: UUID):
    """One ledger row with its evidence in clear (an audited read, R-65)."""
    event = owned_event(request, consentevent_id)
    evidence = services.read_evidence(event, actor=actor(request))
    return {**ConsentEventOut.model_validate(event).model_dump(), "evidence": evidence}


def _receipt_options() -> dict:
    options = needs(READ)
    options["openapi_extra"] = {**options["openapi_extra"], "responses": {"409": {
        "description": "`not_a_consent`, or `organisation_incomplete` (the settings lack a receipt's details).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}}}
    return options


@router.get("/consent/events/{uuid:consentevent_id}/receipt", response=dict, **_receipt_options())
def get_consent_receipt(request, consentevent_id: UUID, format: Literal["kantara", "iso27560"] = "kantara"):
    """The event as a consent receipt (R-16): `kantara` (Kantara Consent Receipt v1.1 JSON) or
    `iso27560` (ISO/IEC TS 27560 record in W3C DPV terms, JSON-LD). 409 `not_a_consent` for an event
    that is not a consent in that format; 409 `organisation_incomplete` when the organisation's
    settings lack contact details a receipt must carry."""
    event = owned_event(request, consentevent_id)
    notice = receipts.notice_for(event)
    notice_url = request.build_absolute_uri(reverse("public:notice", args=[notice.uid])) if notice else ""
    try:
        return receipts.export_receipt(event, format, actor=actor(request), notice_url=notice_url)
    except receipts.ControllerIncomplete as exc:
        raise ApiError(_("The organisation's settings lack what a receipt must carry: %(fields)s.")
                       % {"fields": ", ".join(exc.fields)}, code="organisation_incomplete", status=409,
                       fields={name: [_("Required for consent receipts.")] for name in exc.fields})
    except receipts.NotReceiptable:
        raise ApiError(_("This event is not a consent that this receipt format can attest."), code="not_a_consent",
                       status=409)
