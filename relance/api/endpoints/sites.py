from __future__ import annotations

from datetime import datetime

from ninja import Query, Router, Schema, Status

from relance.accounts import services as accounts
from relance.accounts.models import Site

from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import Address, Code, Name, PageOut, PageParams, Strict, page

router = Router(tags=["sites"])


class SiteOut(Schema):
    id: int
    name: str
    code: str
    address: str
    created_at: datetime


class SitePage(PageOut):
    items: list[SiteOut]


class SiteIn(Strict):
    name: Name
    code: Code
    address: Address = ""


class SitePatch(Strict):
    """Only the fields given are changed; a site's code is permanent."""

    name: Name = None
    address: Address = None


def owned_site(request, site_id: int) -> Site:
    site = Site.objects.for_org(request.organisation).filter(pk=site_id).first()
    if site is None:
        raise NotFound()
    return site


@router.get("/sites", response=SitePage, **needs("organisation:read"))
def list_sites(request, params: Query[PageParams]):
    """The organisation's sites, by name."""
    return page(Site.objects.for_org(request.organisation).order_by("name", "pk"), params)


@router.post("/sites", response={201: SiteOut}, **needs("sites:write"))
def create_site(request, payload: SiteIn):
    """Create a site. Its `code` is unique within the organisation and cannot change later."""
    site = accounts.create_site(request.organisation, actor=actor(request), **payload.dict())
    return Status(201, site)


@router.get("/sites/{int:site_id}", response=SiteOut, **needs("organisation:read"))
def get_site(request, site_id: int):
    return owned_site(request, site_id)


@router.patch("/sites/{int:site_id}", response=SiteOut, **needs("sites:write"))
def update_site(request, site_id: int, payload: SitePatch):
    site = owned_site(request, site_id)
    changes = payload.dict(exclude_unset=True)
    if changes:
        site = accounts.update_site(site, actor=actor(request), **changes)
    return site
