"""The breach register (R-71, GDPR Art. 33 and 34).

Every incident stays listed, notified or not. Each one carries its clock: the CNIL must be notified
within 72 hours of awareness (24 hours for an electronic-communications provider) unless the risk
is assessed unlikely. The draft notification gathers the Art. 33(3) items for the CNIL's online
form (JSON, or a readable HTML/PDF in French or English); `missing` lists what is still empty.
People are told (Art. 34) through the normal outbox with a purpose of class `breach_notice`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.consent.models import Purpose
from relance.messaging.models import Template
from relance.privacy import breach_notice, breaches
from relance.privacy.documents import to_html, to_pdf
from relance.privacy.models import Breach

from ..auth import actor, needs
from ..schemas import PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["breaches"])

READ, WRITE = "breaches:read", "breaches:write"
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=10000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Kind = Literal["confidentiality", "integrity", "availability"]
Category = Literal["identity", "birth_date", "contact", "appointment", "loan", "health", "employment", "purchase",
                   "preferences"]
Count = Annotated[int, Field(ge=0, le=2_000_000_000)]


def _breaches(org):
    return Breach.objects.for_org(org)


class BreachFields(Strict):
    title: Title = None
    nature: Text = Field(None, description="Art. 33(3)(a): what happened")
    kinds: list[Kind] = Field(None, min_length=1)
    aware_at: datetime = Field(None, description="When you became aware: the clock starts here (with offset)")
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    data_categories: list[Category] = None
    subject_categories: list[Label] = Field(None, description="patients, patrons, employees...")
    approx_subjects: Count | None = None
    approx_records: Count | None = None
    consequences: Text = Field(None, description="Art. 33(3)(c): likely consequences")
    measures_taken: Text = Field(None, description="Art. 33(3)(d)")
    measures_proposed: Text = None


class BreachIn(BreachFields):
    title: Title
    nature: Text
    kinds: list[Kind] = Field(..., min_length=1)
    aware_at: datetime


class ClockOut(Schema):
    deadline: datetime
    hours_left: float = Field(..., description="Negative once the deadline has passed")
    needs_notification: bool = Field(..., description="False once the risk is assessed unlikely")
    late: bool
    overdue: bool = Field(..., description="Owed to the CNIL, not notified, past the deadline")


class BreachOut(Schema):
    id: UUID
    reference: str
    title: str
    nature: str
    kinds: list[str]
    aware_at: datetime
    occurred_from: datetime | None
    occurred_to: datetime | None
    data_categories: list[str]
    subject_categories: list[str]
    approx_subjects: int | None
    approx_records: int | None
    consequences: str
    measures_taken: str
    measures_proposed: str
    risk: str
    risk_reason: str
    status: str
    notified_at: datetime | None
    authority_reference: str
    delay_reason: str
    subjects_notified_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    clock: ClockOut
    missing: list[str] = Field(..., description="Art. 33(3) items still empty")


class BreachPage(PageOut):
    items: list[BreachOut]


class AssessIn(Strict):
    risk: Literal["unlikely", "risk", "high"]
    reason: Text


class NotifiedIn(Strict):
    notified_at: datetime
    authority_reference: Short
    delay_reason: Text = Field("", description="Required when the notification is past the deadline (Art. 33(1))")


class CloseIn(Strict):
    reason: Text = Field("", description="For a high risk whose people were not told: the Art. 34(3) reason")


class NotifySubjectsIn(Strict):
    purpose_id: int = Field(..., description="An active purpose of class breach_notice")
    template_id: int = Field(..., description="A template of that purpose; the same code in the person's "
                                              "language is used when it exists")
    dpo_decision: Text = Field("", description="Required unless the risk is high: why the DPO tells the people")


class NoneOut(Schema):
    contact_id: UUID
    reason: str = Field(..., description="erased, deceased, no_number or no_email")


class NotifySubjectsOut(Schema):
    enqueued: int
    already: int = Field(..., description="People already told: never a second notice")
    none: list[NoneOut]


class ComputedOut(Schema):
    count: int


class SubjectOut(Schema):
    contact_id: UUID
    contact_status: str
    message_id: UUID | None
    message_status: str = Field(..., description="Where the notice stands; empty when none was sent")
    reason: str = Field(..., description="Why it was not sent (or why none could be)")


class SubjectsOut(Schema):
    count: int
    items: list[SubjectOut]


class DraftParams(Schema):
    format: Literal["json", "html", "pdf"] = "json"
    language: Literal["fr", "en"] | None = Field(None, description="Default: the organisation's first language")


# --- helpers -------------------------------------------------------------------------------
def _out(breach: Breach, now=None) -> dict:
    body = {name: getattr(breach, name) for name in BreachOut.model_fields if name not in {"clock", "missing"}}
    body["clock"] = breaches.clock(breach, now or timezone.now())
    body["missing"] = breach_notice.missing_for_notification(breach)
    return body


def _owned(request, breach_id: UUID) -> Breach:
    return _breaches(request.organisation).select_related("organisation").get(pk=breach_id)


def _values(payload: Strict) -> dict:
    values = payload.model_dump(exclude_unset=True)
    for name in ("kinds", "data_categories", "subject_categories"):
        if values.get(name) is None:
            values.pop(name, None)
    return values


# --- routes --------------------------------------------------------------------------------
@router.get("/breaches", response=BreachPage, **needs(READ))
def list_breaches(request, params: Query[PageParams]):
    """Every incident of the register, newest awareness first, each with its clock."""
    result = page(_breaches(request.organisation).select_related("organisation").order_by("-aware_at", "pk"), params)
    now = timezone.now()
    return {**result, "items": [_out(breach, now) for breach in result["items"]]}


@router.post("/breaches", response={201: BreachOut}, **needs(WRITE))
def create_breach(request, payload: BreachIn):
    """Record an incident as soon as you know of it: the clock starts at `aware_at` (R-71)."""
    breach = breaches.record_breach(request.organisation, actor=actor(request), **_values(payload))
    return Status(201, _out(breach))


@router.get("/breaches/{uuid:breach_id}", response=BreachOut, **needs_owned(READ, "breach_id", _breaches))
def get_breach(request, breach_id: UUID):
    return _out(_owned(request, breach_id))


@router.patch("/breaches/{uuid:breach_id}", response=BreachOut, **needs_owned(WRITE, "breach_id", _breaches))
def update_breach(request, breach_id: UUID, payload: BreachFields):
    """Complete or correct an open incident (Art. 33(4): information may come in phases)."""
    return _out(breaches.update_breach(_owned(request, breach_id), actor=actor(request), **_values(payload)))


@router.post("/breaches/{uuid:breach_id}/assess", response=BreachOut, **needs_owned(WRITE, "breach_id", _breaches))
def assess_breach(request, breach_id: UUID, payload: AssessIn):
    """unlikely (not notified, still listed), risk (notify the CNIL), high (and tell the people, Art. 34)."""
    breach = breaches.assess_risk(_owned(request, breach_id), actor=actor(request), risk=payload.risk,
                                  reason=payload.reason)
    return _out(breach)


@router.post("/breaches/{uuid:breach_id}/subjects", response=ComputedOut,
             **needs_owned(WRITE, "breach_id", _breaches))
def compute_breach_subjects(request, breach_id: UUID):
    """List the contacts the incident concerns, from its period and data categories; sets
    approx_subjects when it is empty. Run it again after changing the period or the categories."""
    return {"count": breaches.compute_affected(_owned(request, breach_id), actor=actor(request))}


@router.get("/breaches/{uuid:breach_id}/subjects", response=SubjectsOut,
            **needs_owned(READ, "breach_id", _breaches))
def list_breach_subjects(request, breach_id: UUID):
    """The contacts concerned by id, with their Art. 34 notice and where it stands, or why there is none."""
    rows = breaches.subjects_status(_owned(request, breach_id))
    return {"count": len(rows), "items": rows}


@router.post("/breaches/{uuid:breach_id}/notify-authority", response=BreachOut,
             **needs_owned(WRITE, "breach_id", _breaches))
def record_breach_notification(request, breach_id: UUID, payload: NotifiedIn):
    """Record the notification made to the CNIL; past the deadline, `delay_reason` is required."""
    breach = breaches.mark_notified(_owned(request, breach_id), actor=actor(request), **payload.model_dump())
    return _out(breach)


def _draft_options() -> dict:
    options = needs_owned(READ, "breach_id", _breaches)
    # `format=html|pdf` answers a document: the document declares both media types (schemathesis).
    options["openapi_extra"] = {**options["openapi_extra"], "responses": {"200": {
        "description": "The draft: JSON, an HTML page or a PDF document (`format`)",
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}},
                    "text/html": {"schema": {"type": "string"}},
                    "application/pdf": {"schema": {"type": "string", "format": "binary"}}}}}}
    return options


@router.get("/breaches/{uuid:breach_id}/draft", response={200: dict}, **_draft_options())
def draft_breach_notification(request, breach_id: UUID, params: Query[DraftParams]):
    """The draft notification for the CNIL (Art. 33(3)): JSON, or a readable HTML or PDF document."""
    breach = _owned(request, breach_id)
    language = params.language or breach.organisation.default_language
    if params.format == "json":
        return breach_notice.draft_cnil_notification(breach, language=language)
    document = breach_notice.draft_document(breach, language=language)
    if params.format == "html":
        return HttpResponse(to_html(document), content_type="text/html; charset=utf-8")
    response = HttpResponse(to_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{breach.reference}-{language}.pdf"'
    return response


@router.post("/breaches/{uuid:breach_id}/notify-subjects", response=NotifySubjectsOut,
             **needs_owned(WRITE, "breach_id", _breaches))
def notify_breach_subjects(request, breach_id: UUID, payload: NotifySubjectsIn):
    """Tell each listed contact (Art. 34) with one message through the outbox; sent by the worker.
    Calling again tells only those not told yet; `none` lists who could not be told and why."""
    org = request.organisation
    purpose = Purpose.objects.for_org(org).filter(pk=payload.purpose_id).first()
    template = Template.objects.for_org(org).filter(pk=payload.template_id).first()
    errors = {}
    if purpose is None:
        errors["purpose_id"] = [_("Unknown in your organisation.")]
    if template is None:
        errors["template_id"] = [_("Unknown in your organisation.")]
    if errors:
        raise ValidationError(errors)
    try:
        report = breaches.notify_subjects(_owned(request, breach_id), actor=actor(request), purpose=purpose,
                                          template=template, dpo_decision=payload.dpo_decision)
    except ValidationError as exc:
        names = {"purpose": "purpose_id", "template": "template_id", "risk": "dpo_decision"}
        raise ValidationError({names.get(k, k): v for k, v in exc.message_dict.items()})
    return {"enqueued": report.enqueued, "already": report.already,
            "none": [{"contact_id": pk, "reason": reason} for pk, reason in report.none]}


@router.post("/breaches/{uuid:breach_id}/close", response=BreachOut, **needs_owned(WRITE, "breach_id", _breaches))
def close_breach(request, breach_id: UUID, payload: CloseIn):
    """Close the incident; it stays in the register (Art. 33(5))."""
    return _out(breaches.close_breach(_owned(request, breach_id), actor=actor(request), reason=payload.reason))
