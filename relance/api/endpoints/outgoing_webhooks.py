"""Outgoing webhooks: the organisation's endpoints and their deliveries (SPEC §4, Art. 19).

An endpoint receives signed JSON events (`Relance-Signature: t=<unix>,v1=<hex HMAC-SHA-256(secret,
"t.body")>`, see relance/webhooks/signing.py). Its secret is answered once, when the endpoint is
created and when it is rotated; it is never readable again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from ninja import Field, Query, Router, Schema, Status
from pydantic import StringConstraints

from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint

from ..auth import actor, needs
from ..errors import NotFound
from ..schemas import PageOut, PageParams, Strict, page

router = Router(tags=["webhooks"])
SCOPE = "webhooks:write"

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Event = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
EVENTS_HELP = "Events to send (" + ", ".join(webhooks.KNOWN_EVENTS) + "), or [\"*\"] for every event."


class EndpointOut(Schema):
    id: UUID
    url: str
    events: list[str]
    enabled: bool
    description: str
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(..., description="The signing secret: shown this once, store it now.")


class EndpointPage(PageOut):
    items: list[EndpointOut]


class EndpointIn(Strict):
    url: Url = Field(..., description="https:// address of your endpoint", examples=["https://example.org/hooks/relance"])
    events: list[Event] = Field(..., min_length=1, max_length=50, description=EVENTS_HELP)
    description: Description = ""


class EndpointPatch(Strict):
    """Only the fields given change. `enabled: false` pauses sending; queued deliveries wait."""

    url: Url = None
    events: list[Event] = Field(None, min_length=1, max_length=50, description=EVENTS_HELP)
    description: Description = None
    enabled: bool = None


class DeliveryOut(Schema):
    id: UUID
    endpoint_id: UUID
    event: str
    status: str = Field(..., description="pending, delivered or failed (given up after 12 tries, about 24 h)")
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    payload: dict


class DeliveryPage(PageOut):
    items: list[DeliveryOut]


class DeliveryFilter(PageParams):
    status: Literal["pending", "delivered", "failed"] | None = None


def owned_endpoint(request, endpoint_id: UUID) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.for_org(request.organisation).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> dict:
    return {**EndpointOut.model_validate(endpoint).model_dump(), "secret": secret}


@router.get("/webhook-endpoints", response=EndpointPage, **needs(SCOPE))
def list_webhook_endpoints(request, params: Query[PageParams]):
    return page(WebhookEndpoint.objects.for_org(request.organisation).order_by("created_at", "pk"), params)


@router.post("/webhook-endpoints", response={201: EndpointWithSecret}, **needs(SCOPE))
def create_webhook_endpoint(request, payload: EndpointIn):
    """Add an endpoint. The answer holds its signing secret, this once."""
    endpoint, secret = webhooks.create_endpoint(request.organisation, actor=actor(request), **payload.dict())
    return Status(201, _with_secret(endpoint, secret))


@router.get("/webhook-endpoints/{uuid:webhookendpoint_id}", response=EndpointOut, **needs(SCOPE))
def get_webhook_endpoint(request, webhookendpoint_id: UUID):
    return owned_endpoint(request, webhookendpoint_id)


@router.patch("/webhook-endpoints/{uuid:webhookendpoint_id}", response=EndpointOut, **needs(SCOPE))
def update_webhook_endpoint(request, webhookendpoint_id: UUID, payload: EndpointPatch):
    endpoint = owned_endpoint(request, webhookendpoint_id)
    changes = payload.dict(exclude_unset=True)
    enabled = changes.pop("enabled", None)
    if changes:
        endpoint = webhooks.update_endpoint(endpoint, actor=actor(request), **changes)
    if enabled is not None:
        endpoint = webhooks.set_enabled(endpoint, enabled, actor=actor(request))
    return endpoint


@router.post("/webhook-endpoints/{uuid:webhookendpoint_id}/rotate-secret", response=EndpointWithSecret,
             **needs(SCOPE))
def rotate_webhook_secret(request, webhookendpoint_id: UUID):
    """A new signing secret, answered this once; the old one stops signing at once."""
    endpoint, secret = webhooks.rotate_secret(owned_endpoint(request, webhookendpoint_id), actor=actor(request))
    return _with_secret(endpoint, secret)


@router.delete("/webhook-endpoints/{uuid:webhookendpoint_id}", response={204: None}, **needs(SCOPE))
def delete_webhook_endpoint(request, webhookendpoint_id: UUID):
    """Remove the endpoint and its deliveries (pending ones are dropped)."""
    webhooks.delete_endpoint(owned_endpoint(request, webhookendpoint_id), actor=actor(request))
    return Status(204, None)


@router.get("/webhook-endpoints/{uuid:webhookendpoint_id}/deliveries", response=DeliveryPage, **needs(SCOPE))
def list_webhook_deliveries(request, webhookendpoint_id: UUID, params: Query[DeliveryFilter]):
    """The endpoint's deliveries, newest first."""
    endpoint = owned_endpoint(request, webhookendpoint_id)
    deliveries = WebhookDelivery.objects.for_org(request.organisation).filter(endpoint=endpoint)
    if params.status:
        deliveries = deliveries.filter(status=params.status)
    return page(deliveries.order_by("-created_at", "pk"), params)


@router.post("/webhook-deliveries/{uuid:webhookdelivery_id}/redeliver", response=DeliveryOut, **needs(SCOPE))
def redeliver_webhook(request, webhookdelivery_id: UUID):
    """Send a delivery again from now on (a fresh series of tries)."""
    delivery = WebhookDelivery.objects.for_org(request.organisation).filter(pk=webhookdelivery_id).first()
    if delivery is None:
        raise NotFound()
    return webhooks.redeliver(delivery, actor=actor(request))
