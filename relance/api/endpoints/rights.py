"""Data-subject requests (R-40, R-41): list (with the deadlines), open, read, start, extend, complete,
refuse, link a contact.

The person's own words (`details`) are personal data: they are accepted when a request is opened
but never returned by the list, the reads or the writes; `GET .../details` serves them as an
audited read (R-65). Moves a request's status does not allow answer 409 with a stable code
(`request_closed`, `extension_too_late`...).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.contacts import services as contacts
from relance.privacy import deadlines, rights
from relance.privacy.models import RightsRequest

from ..auth import actor, needs, require_scope
from ..errors import ApiError
from ..schemas import PageOut, PageParams, Strict, page
from .contacts import ContactPatch
from .purposes import needs_owned

router = Router(tags=["rights"])

READ, WRITE = "rights:read", "rights:write"
KindIn = Literal["access", "portability", "rectification", "erasure", "restriction", "objection"]
StatusIn = Literal["received", "in_progress", "extended", "completed", "refused"]
Details = Annotated[str, StringConstraints(max_length=rights.MAX_DETAILS)]
Reason = Annotated[str, StringConstraints(max_length=rights.MAX_REASON)]
# ValidationError codes that describe the request's state rather than a bad input: 409.
CONFLICTS = {"request_closed", "request_already_started", "request_already_extended", "extension_too_late",
             "request_without_contact", "contact_erased", "contact_deceased"}


def _requests(org):
    return RightsRequest.objects.for_org(org)


class RequestOut(Schema):
    id: UUID
    reference: str = Field(..., description="DR-YYYY-NNNNN: what the person and staff quote")
    kind: str
    contact_id: UUID | None
    channel: str = Field(..., description="staff, api or public (one-time code)")
    requested_by: str
    language: str
    status: str = Field(..., description="received, in_progress, extended, completed or refused")
    received_at: datetime
    due_at: datetime = Field(..., description="End of the due day in the organisation's time zone (R-41)")
    days_left: int = Field(..., description="Calendar days to the due day; negative when late")
    late: bool
    extended_at: datetime | None
    extension_reason: str
    person_told_at: datetime | None
    person_told_via: str
    completed_at: datetime | None
    refusal_code: str
    refusal_reason: str
    outcome: dict = Field(..., description="What completion did: ids, codes and counts")
    created_at: datetime


class RequestPage(PageOut):
    items: list[RequestOut]


class DetailsOut(Schema):
    details: str | None = Field(..., description="The person's words; null once the person was erased")


class Filters(PageParams):
    status: StatusIn | None = None
    kind: KindIn | None = None
    overdue: bool | None = Field(None, description="true: open and past their due date; false: the others")


class RequestIn(Strict):
    kind: KindIn
    contact_id: UUID | None = Field(None, description="Whom it is about; may be linked later")
    requested_by: Literal["subject", "guardian", "proxy"] = "subject"
    language: Literal["fr", "en"] | None = Field(None, description="The contact's language by default")
    details: Details = ""
    received_at: datetime | None = Field(None, description="When it reached the organisation; now by default. "
                                                           "The deadline counts from it (R-41)")


class ExtendIn(Strict):
    reason: Reason = Field(..., description="The reasons given to the person")
    told_via: Annotated[str, StringConstraints(max_length=32)] = Field(
        ..., description="How the person was told: sms, email, letter, a message id (not the address)")
    told_at: datetime | None = Field(None, description="When the person was told; now by default")


class CompleteIn(Strict):
    changes: ContactPatch | None = Field(None, description="rectification: the corrected fields")
    channels: list[Literal["sms", "email"]] | None = Field(None, description="objection: these channels only "
                                                                             "(all of the organisation's by default)")


class RefuseIn(Strict):
    code: Literal[tuple(RightsRequest.Refusal.values)]  # type: ignore[valid-type]
    reason: Reason = Field("", description="Required with code 'other'; given to the person")


class LinkIn(Strict):
    contact_id: UUID


def out(req: RightsRequest, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    tz = req.organisation.time_zone or "Europe/Paris"
    data = {name: getattr(req, name) for name in RequestOut.model_fields if name not in ("days_left", "late")}
    data["days_left"] = deadlines.days_left(req.due_at, now, tz=tz)
    data["late"] = req.is_open and deadlines.is_late(req.due_at, now)
    return data


def owned(request, rightsrequest_id: UUID) -> RightsRequest:
    return _requests(request.organisation).select_related("organisation").get(pk=rightsrequest_id)


def _contact(request, contact_id: UUID | None):
    if contact_id is None:
        return None
    contact = contacts.get_contact(request.organisation, contact_id, actor=actor(request))
    if contact is None:
        raise ValidationError({"contact_id": [_("Unknown in your organisation.")]})
    return contact


def _conflict(exc: ValidationError) -> ApiError | None:
    for errors in getattr(exc, "error_dict", {}).values():
        for error in errors:
            if error.code in CONFLICTS:
                return ApiError(" ".join(error.messages), code=error.code, status=409)
    return None


def _change(request, rightsrequest_id: UUID, move, **kwargs) -> dict:
    try:
        req = move(owned(request, rightsrequest_id), actor=actor(request), **kwargs)
    except ValidationError as exc:
        raise _conflict(exc) or exc
    return out(req)


@router.get("/rights-requests", response=RequestPage, **needs(READ))
def list_rights_requests(request, filters: Query[Filters]):
    """The organisation's requests, soonest due first."""
    requests = _requests(request.organisation).select_related("organisation").order_by("due_at", "reference")
    if filters.status:
        requests = requests.filter(status=filters.status)
    if filters.kind:
        requests = requests.filter(kind=filters.kind)
    if filters.overdue is not None:
        late = requests.filter(status__in=RightsRequest.OPEN, due_at__lt=timezone.now())
        requests = late if filters.overdue else requests.exclude(pk__in=late.values("pk"))
    result = page(requests, filters)
    result["items"] = [out(req) for req in result["items"]]
    return result


@router.post("/rights-requests", response={201: RequestOut}, **needs(WRITE))
def create_rights_request(request, payload: RequestIn):
    """Record a request received by the integrating software (channel `api`); due one calendar month
    after `received_at` (R-41)."""
    contact = _contact(request, payload.contact_id)
    values = payload.dict(exclude={"contact_id"})
    req = rights.open_request(request.organisation, actor=actor(request), channel=RightsRequest.Channel.API,
                              contact=contact, **{k: v for k, v in values.items() if v is not None})
    return Status(201, out(req))


@router.get("/rights-requests/{uuid:rightsrequest_id}", response=RequestOut,
            **needs_owned(READ, "rightsrequest_id", _requests))
def get_rights_request(request, rightsrequest_id: UUID):
    """A request with its deadline and outcome (without the person's words: see /details)."""
    return out(owned(request, rightsrequest_id))


@router.get("/rights-requests/{uuid:rightsrequest_id}/details", response=DetailsOut,
            **needs_owned(READ, "rightsrequest_id", _requests))
def read_rights_request_details(request, rightsrequest_id: UUID):
    """The person's own words: an audited read of personal data (R-65)."""
    return {"details": rights.read_details(owned(request, rightsrequest_id), actor=actor(request))}


@router.post("/rights-requests/{uuid:rightsrequest_id}/start", response=RequestOut,
             **needs_owned(WRITE, "rightsrequest_id", _requests))
def start_rights_request(request, rightsrequest_id: UUID):
    """received → in_progress."""
    return _change(request, rightsrequest_id, rights.start_request)


@router.post("/rights-requests/{uuid:rightsrequest_id}/extend", response=RequestOut,
             **needs_owned(WRITE, "rightsrequest_id", _requests))
def extend_rights_request(request, rightsrequest_id: UUID, payload: ExtendIn):
    """Two further months (Art. 12(3)): only inside the first month, once the person was told with the
    reasons (R-41). Later: 409 extension_too_late."""
    return _change(request, rightsrequest_id, rights.extend_request, **payload.dict(exclude_none=True))


@router.post("/rights-requests/{uuid:rightsrequest_id}/complete", response=RequestOut,
             **needs_owned(WRITE, "rightsrequest_id", _requests))
def complete_rights_request(request, rightsrequest_id: UUID, payload: CompleteIn | None = None):
    """Do what the request asks, then close it: access/portability → an access export (download it
    with exports:read); erasure → crypto-shredding (needs erasure:write too); restriction; objection →
    an objection or withdrawal for every purpose and channel; rectification → `changes`."""
    req = owned(request, rightsrequest_id)
    if req.kind == RightsRequest.Kind.ERASURE:
        require_scope(request, "erasure:write")
    kwargs: dict[str, Any] = {}
    if payload is not None and payload.changes is not None:
        renamed = {"site_id": "site"}
        kwargs["changes"] = {renamed.get(k, k): v for k, v in payload.changes.dict(exclude_unset=True).items()}
    if payload is not None and payload.channels is not None:
        kwargs["channels"] = payload.channels
    return _change(request, rightsrequest_id, rights.complete_request, **kwargs)


@router.post("/rights-requests/{uuid:rightsrequest_id}/refuse", response=RequestOut,
             **needs_owned(WRITE, "rightsrequest_id", _requests))
def refuse_rights_request(request, rightsrequest_id: UUID, payload: RefuseIn):
    """Close without doing it, with a refusal code (and a reason for 'other') given to the person."""
    return _change(request, rightsrequest_id, rights.refuse_request, code=payload.code, reason=payload.reason)


@router.post("/rights-requests/{uuid:rightsrequest_id}/contact", response=RequestOut,
             **needs_owned(WRITE, "rightsrequest_id", _requests))
def link_rights_request_contact(request, rightsrequest_id: UUID, payload: LinkIn):
    """Say whom an open request is about, once the person is identified."""
    contact = _contact(request, payload.contact_id)
    return _change(request, rightsrequest_id, rights.link_contact, contact=contact)
