"""Delivering outgoing webhooks (Art. 19: connected systems are told; SPEC §4).

The worker's housekeeping calls `deliver_due()` every few seconds. Each round claims due rows (a
lease: `next_attempt_at` moves 5 minutes ahead inside the claim, so another worker skips them and a
crashed worker's rows come back), POSTs each signed JSON body outside any transaction, then records
the outcome. A 2xx answer delivers; anything else (3xx included: redirects are never followed, a
timeout, a refused connection) is retried with exponential back-off from 1 minute to 6 hours, and
given up after 12 tries (about 24 hours). Once delivered or given up, the payload keeps ids and codes
only: the integrator's `external_ref` it carried is removed (nothing of the person stays, R-43).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import httpx
from django.db import connection, transaction
from django.utils import timezone

from relance.lib import http

from . import signing
from .models import WebhookDelivery

log = logging.getLogger("relance.webhooks")

TIMEOUT = 10.0  # seconds, connection and answer
LEASE = timedelta(minutes=5)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 12
# Payload keys removed once a delivery is final: what only the receiving system needed.
TRANSIENT_KEYS = ("external_ref",)


def retry_delay(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failure: 1 min, 2, 4 ... capped at 6 h."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_RETRY)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def headers_for(delivery: WebhookDelivery, secret: str, body: bytes, now: datetime) -> dict:
    return {
        "Content-Type": "application/json",
        signing.HEADER: signing.header(secret, int(now.timestamp()), body),
        "Relance-Event": delivery.event,
        "Relance-Delivery": str(delivery.pk),
    }


def _claim(now: datetime, limit: int) -> list[WebhookDelivery]:
    """Due rows of enabled endpoints, leased to this worker (platform-wide job: unscoped)."""
    due = (WebhookDelivery.unscoped.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now,
                                           endpoint__enabled=True).select_related("endpoint").order_by("next_attempt_at"))
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due[:limit])
        WebhookDelivery.unscoped.filter(pk__in=[row.pk for row in rows]).update(next_attempt_at=now + LEASE)
    return rows


def _post(client: httpx.Client, delivery: WebhookDelivery, now: datetime) -> tuple[int, str]:
    """(status code or 0, error or "") of one attempt."""
    endpoint = delivery.endpoint
    body = body_of(delivery)
    try:
        response = http.request(client, "POST", endpoint.url, content=body,
                                headers=headers_for(delivery, endpoint.secret, body, now))
    except http.HttpFailure as exc:
        return exc.status, str(exc)
    if 200 <= response.status_code < 300:
        return response.status_code, ""
    return response.status_code, f"HTTP {response.status_code} (redirects are not followed)"


def _minimised(payload: dict) -> dict:
    data = {key: value for key, value in (payload.get("data") or {}).items() if key not in TRANSIENT_KEYS}
    return {**payload, "data": data}


def _record(delivery: WebhookDelivery, status_code: int, error: str, now: datetime) -> str:
    delivery.attempts += 1
    delivery.last_status_code = status_code or None
    delivery.last_error = error[:200]
    if not error:
        delivery.status, delivery.delivered_at = WebhookDelivery.Status.DELIVERED, now
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookDelivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    if delivery.status != WebhookDelivery.Status.PENDING:
        delivery.payload = _minimised(delivery.payload)
    WebhookDelivery.unscoped.filter(pk=delivery.pk).update(
        attempts=delivery.attempts, last_status_code=delivery.last_status_code, last_error=delivery.last_error,
        status=delivery.status, delivered_at=delivery.delivered_at, next_attempt_at=delivery.next_attempt_at,
        payload=delivery.payload)
    return delivery.status


def deliver_due(now: datetime | None = None, limit: int = 100) -> dict[str, int]:
    """One round: send what is due; returns counts per outcome (delivered, retry, failed)."""
    now = now or timezone.now()
    rows = _claim(now, limit)
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    if not rows:
        return counts
    with http.client(timeout=httpx.Timeout(TIMEOUT)) as client:
        for delivery in rows:
            # Signed with the real time: the receiver checks it against its own clock.
            status_code, error = _post(client, delivery, timezone.now())
            outcome = _record(delivery, status_code, error, now)
            counts["retry" if outcome == WebhookDelivery.Status.PENDING else outcome] += 1
            log.info("webhook delivery", extra={"delivery": str(delivery.pk), "status": outcome,
                                                "http_status": status_code, "attempts": delivery.attempts})
    return counts
