"""Webhooks of the built-in SMS providers (console, locmem): inbound replies and delivery receipts.

The demo's simulated phone and the tests speak to Relance exactly as a real provider will (issue 5
adds vendors with their own signature schemes). A call is authenticated by the shared secret in the
`X-Relance-Webhook-Secret` header, compared in constant time with RELANCE_WEBHOOK_SECRET; without
it the answer is 403 and nothing changes (R-66), and the body is not even read. An unknown message
reference still gets 2xx, so that a provider stops retrying (R-66).

An inbound STOP answers only once it is in effect (R-33): `inbound.receive` returns after the
suppression is committed and no SMS to that number is still being handed to a provider.

These operations are for providers, not integrators: they take no API key and stay out of the
OpenAPI document (docs/operations.md describes them).
"""

from __future__ import annotations

import hmac
import json
from typing import Annotated

from django.conf import settings
from django.utils.translation import gettext as _
from ninja import Field, Router
from ninja.errors import HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import StringConstraints
from pydantic import ValidationError as PydanticValidationError

from relance.messaging import inbound, receipts
from relance.providers import base

from ..errors import ApiError, NotFound
from ..schemas import Strict

router = Router(tags=["webhooks"])

HEADER = "X-Relance-Webhook-Secret"
PROVIDERS = ("console", "locmem")
Text = Annotated[str, StringConstraints(max_length=1600)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Ref = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class InboundIn(Strict):
    """A message from a person to one of our senders."""

    sender: Short = Field(..., description="The person's number, E.164")
    to: Short = Field(..., description="Our sender that received it (alphanumeric sender or short code)")
    text: Text
    provider_ref: Ref = ""


class ReceiptIn(Strict):
    """A delivery report for a message the provider accepted."""

    provider_ref: Ref = Field(..., min_length=1)
    status: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] = Field(
        ..., description="delivered, failed (permanent), expired, undeliverable, accepted...")
    error: Annotated[str, StringConstraints(max_length=40)] = ""
    permanent: bool = False


class Forbidden(ApiError):
    status, code = 403, "webhook_forbidden"

    def default_message(self) -> str:
        return _("This webhook needs the shared secret in the X-Relance-Webhook-Secret header "
                 "(setting RELANCE_WEBHOOK_SECRET).")


def _authenticate(request, provider: str) -> None:
    expected = (getattr(settings, "RELANCE_WEBHOOK_SECRET", "") or "").encode()
    given = request.headers.get(HEADER, "").encode()
    if not expected or not hmac.compare_digest(given, expected):
        raise Forbidden()
    if provider not in PROVIDERS:
        raise NotFound()


def _body(request, schema):
    try:
        data = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested 10,000 deep
        raise HttpError(400, "malformed body") from None
    try:
        return schema.model_validate(data)
    except PydanticValidationError as exc:
        raise NinjaValidationError([{**e, "loc": ("body", "payload", *e["loc"])} for e in exc.errors()]) from None


@router.post("/webhooks/{provider}/inbound", include_in_schema=False)
def provider_inbound(request, provider: str):
    """R-30..R-33: a reply (STOP, OUI, INFO...) from a person."""
    _authenticate(request, provider)
    payload = _body(request, InboundIn)
    outcome = inbound.receive(base.Inbound(sender=payload.sender, to=payload.to, text=payload.text,
                                           provider_ref=payload.provider_ref), provider=provider)
    return {"action": outcome.action, "organisations": len(outcome.organisations), "in_effect": outcome.drained}


@router.post("/webhooks/{provider}/receipts", include_in_schema=False)
def provider_receipt(request, provider: str):
    """R-29: a delivery receipt; an unknown reference is answered 200 with known=false (R-66)."""
    _authenticate(request, provider)
    payload = _body(request, ReceiptIn)
    known = receipts.apply_receipt(provider, base.Receipt(provider_ref=payload.provider_ref, status=payload.status,
                                                          error=payload.error, permanent=payload.permanent))
    return {"known": known}
