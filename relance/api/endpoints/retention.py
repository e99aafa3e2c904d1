"""Retention (R-50 … R-52): the policy per data category, the presets with their sources, and purges.

`POST /purges` runs the purge now, in the request, and answers with its report; `dry_run: true`
counts what would go and deletes nothing. Large backlogs are better left to the daily schedule or
`relance purge`, which show progress.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.privacy import retention
from relance.privacy.models import DataCategory, PurgeReport
from relance.privacy.purge import run_purge

from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import PageOut, PageParams, Strict, page

router = Router(tags=["retention"])

READ, WRITE = "retention:read", "retention:write"
Category = Literal[tuple(retention.CATEGORIES)]
PresetCode = Literal[tuple(retention.PRESETS)]
Source = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]


class PolicyOut(Schema):
    category: str
    label: str
    days: int
    preset: str
    source: str
    default: bool = Field(..., description="True: the organisation set nothing, Relance's default applies")
    counted_from: str


class PolicyIn(Strict):
    category: Category
    days: int = Field(..., ge=1, le=retention.MAX_DAYS)
    source: Source = Field("", description="Where the duration comes from (a law, a recommendation, a decision)")


class PresetOut(Schema):
    code: str
    label: str
    days: dict[str, int]
    source: str
    notes: str


class PurgeIn(Strict):
    dry_run: bool = Field(False, description="Count what would go, delete nothing")
    categories: list[Category] = Field(None, description="Only these categories (default: all)")


class PurgeOut(Schema):
    id: UUID
    trigger: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = Field(..., description="Rows removed (or that would be) per category; "
                                                    "`message_events`: the deleted messages' timeline rows")
    policies: dict[str, dict]
    stats_rows: int = Field(..., description="Anonymous statistics rows written or updated (R-51)")
    error: str


class PurgePage(PageOut):
    items: list[PurgeOut]


def _policy_out(effective: retention.Effective) -> dict:
    return {"category": effective.category, "label": str(DataCategory(effective.category).label),
            "days": effective.days, "preset": effective.preset, "source": effective.source,
            "default": effective.is_default, "counted_from": str(retention.CLOCKS[effective.category])}


@router.get("/retention/policies", response=list[PolicyOut], **needs(READ))
def list_policies(request):
    """The policy in force for every data category (R-50), defaults included."""
    return [_policy_out(p) for p in retention.policies_for(request.organisation).values()]


@router.put("/retention/policies", response=PolicyOut, **needs(WRITE))
def set_policy(request, payload: PolicyIn):
    """Keep one category's data `days` days; say where the duration comes from in `source`."""
    retention.set_policy(request.organisation, payload.category, payload.days, actor=actor(request),
                         source=payload.source)
    return _policy_out(retention.policies_for(request.organisation)[payload.category])


@router.get("/retention/presets", response=list[PresetOut], **needs(READ))
def list_presets(request):
    """The presets of R-52, each with its source and how its words map onto the categories."""
    return [{"code": p.code, "label": str(p.label), "days": {str(c): d for c, d in p.days.items()},
             "source": p.source, "notes": p.notes} for p in retention.PRESETS.values()]


class PresetIn(Strict):
    preset: PresetCode


@router.post("/retention/presets/apply", response=list[PolicyOut], **needs(WRITE))
def apply_preset(request, payload: PresetIn):
    """Set every category the preset speaks of; the others keep their policy. Answers with all policies."""
    retention.apply_preset(request.organisation, payload.preset, actor=actor(request))
    return list_policies(request)


@router.post("/purges", response={201: PurgeOut}, **needs(WRITE))
def create_purge(request, payload: PurgeIn):
    """Run the purge now (or a dry run) and answer with its report."""
    report = run_purge(request.organisation, actor=actor(request), trigger=PurgeReport.Trigger.API,
                       dry_run=payload.dry_run, categories=payload.categories or None)
    return Status(201, report)


@router.get("/purges", response=PurgePage, **needs(READ))
def list_purges(request, params: Query[PageParams]):
    """The organisation's purge reports, newest first."""
    return page(PurgeReport.objects.for_org(request.organisation).order_by("-started_at", "pk"), params)


@router.get("/purges/{uuid:purgereport_id}", response=PurgeOut, **needs(READ))
def get_purge(request, purgereport_id: UUID):
    report = PurgeReport.objects.for_org(request.organisation).filter(pk=purgereport_id).first()
    if report is None:
        raise NotFound()
    return report
