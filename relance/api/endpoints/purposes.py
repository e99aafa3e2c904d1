"""Purposes and their notices (R-01..R-03, R-11, R-72): list, create, read, change, activate, retire;
publish and read notices.

Writes need the `purposes:write` scope: configuring purposes is the DPO's and admin's job, apart
from recording consent (`consent:write`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.consent import services
from relance.consent.models import Notice, Purpose

from .. import auth
from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import Code, PageOut, PageParams, Strict, page

router = Router(tags=["purposes"])

PURPOSES_WRITE = "purposes:write"
READ = "organisation:read"

Label = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
LongText = Annotated[str, StringConstraints(max_length=5000)]
NoticeText = Annotated[str, StringConstraints(min_length=1, max_length=50000)]
MessageClassIn = Literal["service", "promotional_commercial", "promotional_noncommercial", "consent_request",
                         "rights_request", "breach_notice", ""]
BasisIn = Literal["consent", "contract", "legal_obligation", "vital_interest", "public_task", "legitimate_interest", ""]
Art9In = Literal["none", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", ""]
Days = Annotated[int, Field(ge=1, le=36500)]


class ApiKeyAuth(auth.ApiKeyAuth):
    """The API key and its scope, then the object named in the path: an object of another
    organisation answers 404 before the body is read, so a foreign id never gets a 422 (R-63)."""

    def __init__(self, scope: str, param: str, lookup):
        super().__init__(scope)
        self.param, self.lookup = param, lookup

    def authenticate(self, request, token):
        key = super().authenticate(request, token)
        if key is not None:
            value = request.resolver_match.kwargs.get(self.param) if request.resolver_match else None
            if value is None or not self.lookup(key.organisation).filter(pk=value).exists():
                raise NotFound()
        return key


def needs_owned(scope: str, param: str, lookup) -> dict:
    """Like `needs(scope)`, and the path's `param` must name an object of the key's organisation."""
    return {"auth": ApiKeyAuth(scope, param, lookup), "openapi_extra": {"x-required-scope": scope}}


def _purposes(org):
    return Purpose.objects.for_org(org)


class PurposeFields(Strict):
    label_fr: Label = None
    label_en: Label = None
    message_class: MessageClassIn = Field(None, description="service, promotional_commercial, "
                                                            "promotional_noncommercial, consent_request, "
                                                            "rights_request, breach_notice")
    legal_basis: BasisIn = Field(None, description="Art. 6 basis (R-01); legitimate_interest needs "
                                                   "balancing_test_ref (R-02)")
    art9_condition: Art9In = Field(None, description="Art. 9(2) letter, or 'none'; required when the organisation "
                                                     "processes health data (R-01)")
    data_categories: list[Literal["identity", "birth_date", "contact", "appointment", "loan", "health", "employment",
                                  "purchase", "preferences"]] = None
    recipients: list[Ref] = None
    retention: Ref = Field(None, description="How long, in words, for the notice and the register")
    retention_days: Days | None = None
    channels: list[Literal["sms", "email"]] = None
    consent_validity_days: Days | None = Field(None, description="Consent purposes: validity (R-13)")
    refresh_per_event: bool = Field(None, description="Consent asked again for each event (R-13, SPST)")
    balancing_test_ref: Ref = None
    existing_customer_exception: bool = Field(None, description="R-03: similar products, same organisation")
    existing_customer_scope: Ref = None
    dpia_ref: Ref = Field(None, description="R-72: DPIA reference for health purposes")
    dpia_not_needed_reason: LongText = Field(None, description="R-72: why no DPIA is needed")


class PurposeIn(PurposeFields):
    """A new purpose, in draft. Every field but `code` may come later; activation checks them all."""

    code: Code


class PurposePatch(PurposeFields):
    """Only the fields given are changed; an active purpose must stay complete (R-01)."""


class PurposeOut(Schema):
    id: int
    code: str
    status: str = Field(..., description="draft, active or retired")
    label_fr: str
    label_en: str
    message_class: str
    legal_basis: str
    art9_condition: str
    data_categories: list[str]
    recipients: list[str]
    retention: str
    retention_days: int | None
    channels: list[str]
    consent_validity_days: int | None
    refresh_per_event: bool
    balancing_test_ref: str
    existing_customer_exception: bool
    existing_customer_scope: str
    dpia_ref: str
    dpia_not_needed_reason: str
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    retired_at: datetime | None
    missing: dict[str, list[str]] = Field(..., description="What keeps a draft from activation, by field (R-01); "
                                                           "empty when it can be activated")

    @staticmethod
    def resolve_missing(obj) -> dict:
        return services.activation_errors(obj) if obj.status == Purpose.Status.DRAFT else {}


class PurposePage(PageOut):
    items: list[PurposeOut]


class NoticeIn(Strict):
    language: Literal["fr", "en"]
    text: NoticeText = Field(..., description="The exact text people will see; its SHA-256 is stored (R-11)")


class NoticeSummary(Schema):
    id: int
    uid: str = Field(..., description="Public identifier of the notice (for links in messages)")
    purpose_id: int
    language: str
    version: int
    sha256: str
    published_at: datetime

    @staticmethod
    def resolve_uid(obj) -> str:
        return str(obj.uid)


class NoticeOut(NoticeSummary):
    text: str


class NoticeList(Schema):
    items: list[NoticeSummary]


def owned_purpose(request, purpose_id: int) -> Purpose:
    purpose = _purposes(request.organisation).filter(pk=purpose_id).first()
    if purpose is None:
        raise NotFound()
    return purpose


@router.get("/purposes", response=PurposePage, **needs(READ))
def list_purposes(request, params: Query[PageParams]):
    """The organisation's purposes, by code."""
    return page(_purposes(request.organisation).order_by("code", "pk"), params)


@router.post("/purposes", response={201: PurposeOut}, **needs(PURPOSES_WRITE))
def create_purpose(request, payload: PurposeIn):
    """Create a purpose in draft. `missing` in the answer lists what activation still needs."""
    values = {name: value for name, value in payload.dict(exclude_unset=True).items() if value is not None}
    purpose = services.create_purpose(request.organisation, actor=actor(request), **values)
    return Status(201, purpose)


@router.get("/purposes/{int:purpose_id}", response=PurposeOut, **needs(READ))
def get_purpose(request, purpose_id: int):
    return owned_purpose(request, purpose_id)


@router.patch("/purposes/{int:purpose_id}", response=PurposeOut, **needs(PURPOSES_WRITE))
def update_purpose(request, purpose_id: int, payload: PurposePatch):
    purpose = owned_purpose(request, purpose_id)
    changes = payload.dict(exclude_unset=True)
    if changes:
        purpose = services.update_purpose(purpose, actor=actor(request), **changes)
    return purpose


@router.post("/purposes/{int:purpose_id}/activate", response=PurposeOut,
             **needs_owned(PURPOSES_WRITE, "purpose_id", _purposes))
def activate_purpose(request, purpose_id: int):
    """Activate a purpose. Refused with 422 naming EVERY missing field (R-01, R-02, R-03, R-13, R-72)."""
    return services.activate_purpose(owned_purpose(request, purpose_id), actor=actor(request))


@router.post("/purposes/{int:purpose_id}/retire", response=PurposeOut,
             **needs_owned(PURPOSES_WRITE, "purpose_id", _purposes))
def retire_purpose(request, purpose_id: int):
    """Stop a purpose: its messages are suppressed (purpose_inactive); its ledger is kept."""
    return services.retire_purpose(owned_purpose(request, purpose_id), actor=actor(request))


@router.get("/purposes/{int:purpose_id}/notices", response=NoticeList, **needs(READ))
def list_notices(request, purpose_id: int):
    """Every published version of the purpose's notices, newest first per language."""
    purpose = owned_purpose(request, purpose_id)
    return {"items": list(Notice.objects.for_org(request.organisation).filter(purpose=purpose)
                          .order_by("language", "-version"))}


@router.post("/purposes/{int:purpose_id}/notices", response={201: NoticeOut},
             **needs_owned(PURPOSES_WRITE, "purpose_id", _purposes))
def publish_notice(request, purpose_id: int, payload: NoticeIn):
    """Publish the next version of the notice in one language. Published notices never change (R-11)."""
    notice = services.publish_notice(owned_purpose(request, purpose_id), actor=actor(request),
                                     language=payload.language, text=payload.text)
    return Status(201, notice)


@router.get("/notices/{int:notice_id}", response=NoticeOut, **needs(READ))
def get_notice(request, notice_id: int):
    """One notice version with its exact text."""
    notice = Notice.objects.for_org(request.organisation).filter(pk=notice_id).first()
    if notice is None:
        raise NotFound()
    return notice
