"""Outgoing webhooks: queue an event for the organisation's endpoints (delivery: webhooks/delivery.py),
and the endpoint services (create, rotate the secret, disable/enable, delete, redeliver).

Every write is one transaction with its audit event (ids and codes only). An endpoint's signing
secret is sealed at rest and shown once: by create_endpoint() and rotate_secret().
"""

from __future__ import annotations

import re
import secrets
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.lib.logs import looks_personal

from .models import WebhookDelivery, WebhookEndpoint

# The events Relance emits (SPEC §4); an endpoint may also subscribe to "*" (all, including later ones).
KNOWN_EVENTS = (
    "contact.erased", "consent.withdrawn", "message.delivered", "message.failed",
    "request.received", "request.completed", "breach.recorded",
)
EVENT_RE = re.compile(r"^[a-z][a-z_]{1,30}\.[a-z][a-z_]{1,30}$")
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}
SECRET_PREFIX = "whsec_"


def _check_payload(data) -> None:
    """Payloads carry ids and codes only (R-61)."""
    values = data.values() if isinstance(data, dict) else data if isinstance(data, list) else [data]
    for value in values:
        if isinstance(value, dict | list):
            _check_payload(value)
        elif isinstance(value, str) and looks_personal(value):
            raise ValueError("webhook payloads carry ids and codes only, never personal data")


def emit(organisation, event: str, data: dict) -> list[WebhookDelivery]:
    """Queue `event` for every enabled endpoint of the organisation that subscribes to it.

    Call inside the transaction of the change it reports: the rows commit (or roll back) with it,
    and the worker delivers them after commit. Returns the deliveries created (none without endpoints).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("webhooks.emit() must run inside the transaction of the change it reports")
    _check_payload(data)
    now = timezone.now()
    deliveries = []
    for endpoint in WebhookEndpoint.objects.for_org(organisation).filter(enabled=True):
        if not endpoint.wants(event):
            continue
        payload = {"id": str(uuid.uuid4()), "type": event, "created": now.isoformat(),
                   "organisation": str(organisation.uid), "data": data}
        deliveries.append(WebhookDelivery(organisation=organisation, endpoint=endpoint, event=event,
                                          payload=payload, next_attempt_at=now))
    return WebhookDelivery.objects.bulk_create(deliveries)


# --- checks --------------------------------------------------------------------------------
def local_http_allowed() -> bool:
    """Plain http only to this machine, and only in development or tests (the setting)."""
    return bool(getattr(settings, "RELANCE_WEBHOOKS_ALLOW_LOCAL_HTTP", settings.DEBUG))


def clean_url(url: str) -> str:
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or not host or len(url) > 500 or parts.username or parts.password:
        raise ValidationError({"url": [_("Give the full address of your endpoint, such as https://example.org/hooks/relance "
                                         "(at most 500 characters, no user name or password in it).")]})
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOCAL_HOSTS and local_http_allowed()):
        return url
    raise ValidationError({"url": [_("The endpoint must use https:// so that events travel encrypted.")]})


def clean_events(events) -> list[str]:
    events = sorted({str(event).strip() for event in (events or [])})
    bad = [event for event in events if event != "*" and not EVENT_RE.match(event)]
    if not events or bad:
        raise ValidationError({"events": [_("Give the events to send, such as %(examples)s, or * for every event.")
                                          % {"examples": ", ".join(KNOWN_EVENTS[:3])}]})
    return ["*"] if "*" in events else events


def _clean_description(value) -> str:
    value = str(value or "").strip()
    if len(value) > 200:
        raise ValidationError({"description": [_("Give at most %(max_length)s character(s).") % {"max_length": 200}]})
    return value


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


# --- endpoint services ---------------------------------------------------------------------
@transaction.atomic
def create_endpoint(org, *, actor: Actor, url: str, events, description: str = "") -> tuple[WebhookEndpoint, str]:
    """A new endpoint; returns it and its signing secret, shown this once."""
    errors = {}
    values = {}
    for name, cleaner, raw in (("url", clean_url, url), ("events", clean_events, events)):
        try:
            values[name] = cleaner(raw)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        description = _clean_description(description)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    secret = new_secret()
    endpoint = WebhookEndpoint(organisation=org, description=description, **values)
    endpoint.secret = secret
    endpoint.save()
    audit.record(org, actor, "webhook.endpoint_created", target=endpoint, details={"events": values["events"]})
    return endpoint, secret


def _locked(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return (WebhookEndpoint.objects.for_org(endpoint.organisation_id).select_for_update()
            .select_related("organisation").get(pk=endpoint.pk))


@transaction.atomic
def update_endpoint(endpoint: WebhookEndpoint, *, actor: Actor, **changes) -> WebhookEndpoint:
    """Change url, events or description (the secret changes only through rotate_secret)."""
    fresh = _locked(endpoint)
    errors = {}
    for name, cleaner in (("url", clean_url), ("events", clean_events), ("description", _clean_description)):
        if name in changes:
            try:
                setattr(fresh, name, cleaner(changes[name]))
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    fresh.save(update_fields=["url", "events", "description", "updated_at"])
    audit.record(fresh.organisation, actor, "webhook.endpoint_updated", target=fresh,
                 details={"fields": sorted(set(changes) & {"url", "events", "description"})})
    return fresh


@transaction.atomic
def rotate_secret(endpoint: WebhookEndpoint, *, actor: Actor) -> tuple[WebhookEndpoint, str]:
    """A new signing secret, shown this once; the old one stops signing at once."""
    fresh = _locked(endpoint)
    secret = new_secret()
    fresh.secret = secret
    fresh.save(update_fields=["secret", "data_key_id", "updated_at"])
    audit.record(fresh.organisation, actor, "webhook.secret_rotated", target=fresh)
    return fresh, secret


@transaction.atomic
def set_enabled(endpoint: WebhookEndpoint, enabled: bool, *, actor: Actor) -> WebhookEndpoint:
    """Disabled: nothing new is queued and queued deliveries wait until it is enabled again."""
    fresh = _locked(endpoint)
    if fresh.enabled != enabled:
        fresh.enabled = enabled
        fresh.save(update_fields=["enabled", "updated_at"])
        audit.record(fresh.organisation, actor, "webhook.endpoint_enabled" if enabled else "webhook.endpoint_disabled",
                     target=fresh)
    return fresh


def disable_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookEndpoint:
    return set_enabled(endpoint, False, actor=actor)


def enable_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> WebhookEndpoint:
    return set_enabled(endpoint, True, actor=actor)


@transaction.atomic
def delete_endpoint(endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Remove the endpoint with its deliveries (pending ones are dropped, and counted in the audit)."""
    fresh = _locked(endpoint)
    deliveries = WebhookDelivery.objects.for_org(fresh.organisation_id).filter(endpoint=fresh)
    pending = deliveries.filter(status=WebhookDelivery.Status.PENDING).count()
    audit.record(fresh.organisation, actor, "webhook.endpoint_deleted", target=fresh, details={"pending_dropped": pending})
    deliveries.delete()
    fresh.delete()


@transaction.atomic
def redeliver(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Send a delivery again (delivered or given up): a fresh series of attempts starting now."""
    fresh = WebhookDelivery.objects.for_org(delivery.organisation_id).select_for_update().get(pk=delivery.pk)
    previous = fresh.status
    fresh.status, fresh.attempts, fresh.next_attempt_at = WebhookDelivery.Status.PENDING, 0, timezone.now()
    fresh.last_error, fresh.delivered_at = "", None
    fresh.save(update_fields=["status", "attempts", "next_attempt_at", "last_error", "delivered_at"])
    audit.record(delivery.organisation, actor, "webhook.redelivered", target=fresh,
                 details={"from": previous, "event": fresh.event})
    return fresh
