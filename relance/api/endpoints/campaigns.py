"""Campaigns: create, list, read with their counts, preview the audience, start, pause, resume,
cancel (issue 4 item 6). Campaigns hold ids, codes and counts only: no personal data here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.accounts.models import Site
from relance.consent.models import Purpose
from relance.messaging import campaigns as service
from relance.messaging.models import Campaign, Template

from ..auth import actor, needs
from ..errors import ApiError, NotFound
from ..schemas import PageOut, PageParams, Strict, page
from .purposes import needs_owned

router = Router(tags=["campaigns"])

WRITE, READ = "campaigns:write", "campaigns:read"
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _campaigns(org):
    return Campaign.objects.for_org(org)


class FiltersIn(Strict):
    language: Literal["fr", "en"] | None = Field(None, description="The contacts' language")
    source: Literal["staff", "api", "import", "web_form"] | None = Field(None, description="How contacts were created")
    created_after: datetime | None = Field(None, description="Contacts created at or after this moment")
    created_before: datetime | None = Field(None, description="Contacts created before this moment")


class CampaignIn(Strict):
    name: Name
    purpose_id: int
    template_id: int = Field(..., description="A template of the purpose; contacts get the template of the same "
                                              "code in their language when there is one")
    site_id: int | None = Field(None, description="Only the contacts of this site")
    filters: FiltersIn | None = None
    rate_per_minute: int = Field(600, ge=1, le=service.MAX_RATE, description="Throttling: messages due per minute")
    starts_at: datetime | None = Field(None, description="No message is due before this moment; now by default")


class CampaignOut(Schema):
    id: int
    name: str
    purpose_id: int
    template_id: int
    site_id: int | None
    filters: dict
    status: str = Field(..., description="draft, running, paused, completed or cancelled")
    pause_reason: str
    rate_per_minute: int
    starts_at: datetime | None
    audience: int = Field(..., description="Contacts judged so far")
    enqueued: int = Field(..., description="Messages enqueued so far")
    excluded: dict[str, int] = Field(..., description="Contacts left out so far, by reason (R-20)")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CampaignDetail(CampaignOut):
    messages: dict[str, int] = Field(..., description="The campaign's messages by status")


class CampaignPage(PageOut):
    items: list[CampaignOut]


class AudienceOut(Schema):
    total: int = Field(..., description="Contacts matching the site and filters")
    recipients: int = Field(..., description="Who would receive the message now")
    excluded: dict[str, int] = Field(..., description="Who would not, by reason: no_consent, withdrawn, objected, "
                                                      "not_informed, invalid_number, restricted, deceased, "
                                                      "minor_without_guardian_consent, no_address...")


def _resolve(org, payload: CampaignIn) -> dict:
    errors, found = {}, {}
    for name, model, value in (("purpose", Purpose, payload.purpose_id), ("template", Template, payload.template_id),
                               ("site", Site, payload.site_id)):
        found[name] = None if value is None else model.objects.for_org(org).filter(pk=value).first()
        if value is not None and found[name] is None:
            errors[f"{name}_id"] = [_("Unknown in your organisation.")]
    if errors:
        raise ValidationError(errors)
    return found


def _rename(exc: ValidationError) -> ValidationError:
    names = {"purpose": "purpose_id", "template": "template_id", "site": "site_id"}
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError({names.get(name, name): errors for name, errors in exc.error_dict.items()})


def owned_campaign(request, campaign_id: int) -> Campaign:
    campaign = _campaigns(request.organisation).filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound()
    return campaign


def detail(campaign: Campaign) -> dict:
    return {**CampaignOut.model_validate(campaign).model_dump(), "messages": service.message_counts(campaign)}


def _change(request, campaign_id: int, change, **kwargs) -> dict:
    try:
        campaign = change(owned_campaign(request, campaign_id), actor=actor(request), **kwargs)
    except ValidationError as exc:
        if getattr(exc, "error_dict", {}).keys() == {"status"}:  # a state conflict, not a bad request
            raise ApiError(" ".join(exc.message_dict["status"]), code="campaign_status", status=409)
        raise _rename(exc)
    return detail(campaign)


@router.post("/campaigns", response={201: CampaignDetail}, **needs(WRITE))
def create_campaign(request, payload: CampaignIn):
    """A draft campaign: one template of a purpose to the organisation's contacts (of a site, filtered).
    Preview who it reaches with /audience, then /start."""
    org = request.organisation
    found = _resolve(org, payload)
    filters = payload.filters.model_dump(exclude_none=True) if payload.filters else {}
    try:
        campaign = service.create_campaign(org, actor=actor(request), name=payload.name, purpose=found["purpose"],
                                           template=found["template"], site=found["site"], filters=filters,
                                           rate_per_minute=payload.rate_per_minute, starts_at=payload.starts_at)
    except ValidationError as exc:
        raise _rename(exc)
    return Status(201, detail(campaign))


@router.get("/campaigns", response=CampaignPage, **needs(READ))
def list_campaigns(request, params: Query[PageParams]):
    """The organisation's campaigns, newest first."""
    return page(_campaigns(request.organisation).order_by("-created_at", "-id"), params)


@router.get("/campaigns/{int:campaign_id}", response=CampaignDetail, **needs(READ))
def get_campaign(request, campaign_id: int):
    """A campaign with its counts: judged, enqueued, excluded by reason, messages by status."""
    return detail(owned_campaign(request, campaign_id))


@router.post("/campaigns/{int:campaign_id}/audience", response=AudienceOut,
             **needs_owned(READ, "campaign_id", _campaigns))
def preview_campaign_audience(request, campaign_id: int):
    """Who the campaign would reach now, and who not, by reason (nothing is written)."""
    result = service.audience(owned_campaign(request, campaign_id))
    return {"total": result.total, "recipients": result.recipients, "excluded": result.excluded}


@router.post("/campaigns/{int:campaign_id}/start", response=CampaignDetail,
             **needs_owned(WRITE, "campaign_id", _campaigns))
def start_campaign(request, campaign_id: int):
    """Start a draft campaign: the purpose must be active and the template pass the linter (R-01,
    R-24, R-25). Messages are then enqueued in batches, throttled at `rate_per_minute`."""
    return _change(request, campaign_id, service.start_campaign)


@router.post("/campaigns/{int:campaign_id}/pause", response=CampaignDetail,
             **needs_owned(WRITE, "campaign_id", _campaigns))
def pause_campaign(request, campaign_id: int):
    """Pause a running campaign: no more batches, and its scheduled messages wait."""
    return _change(request, campaign_id, service.pause_campaign, reason="paused through the API")


@router.post("/campaigns/{int:campaign_id}/resume", response=CampaignDetail,
             **needs_owned(WRITE, "campaign_id", _campaigns))
def resume_campaign(request, campaign_id: int):
    """Resume a paused campaign at its rate: waiting messages move forward by the pause's length."""
    return _change(request, campaign_id, service.resume_campaign)


@router.post("/campaigns/{int:campaign_id}/cancel", response=CampaignDetail,
             **needs_owned(WRITE, "campaign_id", _campaigns))
def cancel_campaign(request, campaign_id: int):
    """Cancel a campaign: its pending messages are cancelled (kept, with the reason campaign_cancelled)."""
    return _change(request, campaign_id, service.cancel_campaign)
