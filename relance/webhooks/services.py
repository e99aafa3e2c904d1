"""Outgoing webhooks: queue an event for the organisation's endpoints (delivery: webhooks/delivery.py)."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.utils import timezone

from relance.lib.logs import looks_personal

from .models import WebhookDelivery, WebhookEndpoint


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
