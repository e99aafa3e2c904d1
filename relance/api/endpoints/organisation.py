from __future__ import annotations

from uuid import UUID

from ninja import Router, Schema

from ..auth import needs

router = Router(tags=["organisation"])


class OrganisationOut(Schema):
    """The organisation of the calling key. The DPO's contact details are not exposed here."""

    id: UUID
    name: str
    slug: str
    kind: str
    country: str
    time_zone: str
    languages: list[str]
    processes_health_data: bool

    @staticmethod
    def resolve_id(org) -> UUID:
        return org.uid


@router.get("/organisation", response=OrganisationOut, **needs("organisation:read"))
def get_organisation(request):
    """The organisation the calling API key belongs to."""
    return request.organisation
