from __future__ import annotations

from datetime import datetime

from ninja import Field, Query, Router, Schema

from relance.audit.models import AuditEvent
from relance.audit.services import chain_for

from ..auth import needs
from ..schemas import PageOut, PageParams, page

router = Router(tags=["audit"])


class AuditEventOut(Schema):
    seq: int
    created_at: datetime
    actor_kind: str
    actor_id: str
    action: str
    target_type: str
    target_id: str
    hash: str


class AuditEventPage(PageOut):
    items: list[AuditEventOut]


class AuditFilter(PageParams):
    action: str = Field("", max_length=64, description="Only actions starting with this, e.g. 'site.'.")


@router.get("/audit/events", response=AuditEventPage, **needs("audit:read"))
def list_audit_events(request, params: Query[AuditFilter]):
    """The organisation's audit trail, newest first (R-65). `seq` and `hash` let you check the chain."""
    org = request.organisation
    events = AuditEvent.objects.filter(organisation=org, chain=chain_for(org)).order_by("-seq")
    if params.action:
        events = events.filter(action__startswith=params.action)
    return page(events, params)
