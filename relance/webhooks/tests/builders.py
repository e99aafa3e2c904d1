"""Builders of webhook objects for tests (and tests/test_isolation.py BUILDERS)."""

from __future__ import annotations

from django.db import transaction

from relance.testing import SYSTEM
from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery


def make_endpoint(org, *, url: str = "https://example.org/hooks/relance", events=("*",)):
    """An endpoint of `org` (the builder for webhookendpoint_id)."""
    return webhooks.create_endpoint(org, actor=SYSTEM, url=url, events=list(events))[0]


def make_delivery(org):
    """A queued delivery of a new endpoint of `org` (the builder for webhookdelivery_id)."""
    endpoint = make_endpoint(org)
    with transaction.atomic():
        webhooks.emit(org, "contact.erased", {"contact": "test"})
    return WebhookDelivery.objects.for_org(org).get(endpoint=endpoint)
