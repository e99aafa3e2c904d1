"""Endpoint services of outgoing webhooks: https only, secret shown once and sealed, audited writes."""

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from relance.audit.models import AuditEvent
from relance.testing import SYSTEM, make_org
from relance.webhooks import services as webhooks
from relance.webhooks.models import WebhookDelivery, WebhookEndpoint

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def test_it_creates_an_endpoint_with_a_sealed_secret_shown_once():
    org = make_org()
    endpoint, secret = webhooks.create_endpoint(org, actor=SYSTEM, url="https://example.org/hooks",
                                                events=["contact.erased", "request.completed"], description="SIGB")
    assert secret.startswith("whsec_") and len(secret) > 40
    stored = WebhookEndpoint.objects.for_org(org).get()
    assert secret.encode() not in stored.sealed_bytes("secret") and stored.secret == secret
    assert stored.events == ["contact.erased", "request.completed"]
    event = AuditEvent.objects.get(organisation=org, action="webhook.endpoint_created")
    assert secret not in str(event.details)


@pytest.mark.parametrize("url", ["http://example.org/hooks", "ftp://example.org", "example.org", "",
                                 "https://user:pw@example.org/", "http://127.0.0.1:8000/hooks"])
def test_it_refuses_urls_that_are_not_https(url, settings):
    settings.RELANCE_WEBHOOKS_ALLOW_LOCAL_HTTP = False
    with pytest.raises(ValidationError) as caught:
        webhooks.create_endpoint(make_org(), actor=SYSTEM, url=url, events=["*"])
    assert "url" in caught.value.message_dict


def test_it_allows_local_http_only_when_the_setting_allows_it(settings):
    settings.RELANCE_WEBHOOKS_ALLOW_LOCAL_HTTP = True
    org = make_org()
    webhooks.create_endpoint(org, actor=SYSTEM, url="http://localhost:9999/h", events=["*"])
    with pytest.raises(ValidationError):
        webhooks.create_endpoint(org, actor=SYSTEM, url="http://example.org/h", events=["*"])


def test_it_lists_every_invalid_field_at_once():
    with pytest.raises(ValidationError) as caught:
        webhooks.create_endpoint(make_org(), actor=SYSTEM, url="nope", events=["Not An Event"], description="x" * 201)
    assert set(caught.value.message_dict) == {"url", "events", "description"}


def test_it_updates_disables_enables_and_deletes_with_audit_events():
    org = make_org()
    endpoint, _ = webhooks.create_endpoint(org, actor=SYSTEM, url="https://example.org/a", events=["*"])
    endpoint = webhooks.update_endpoint(endpoint, actor=SYSTEM, url="https://example.org/b", events=["contact.erased"])
    assert (endpoint.url, endpoint.events) == ("https://example.org/b", ["contact.erased"])
    endpoint = webhooks.disable_endpoint(endpoint, actor=SYSTEM)
    assert not endpoint.enabled
    endpoint = webhooks.enable_endpoint(endpoint, actor=SYSTEM)
    with transaction.atomic():
        webhooks.emit(org, "contact.erased", {"contact": "1"})
    webhooks.delete_endpoint(endpoint, actor=SYSTEM)
    assert not WebhookEndpoint.objects.for_org(org).exists()
    assert not WebhookDelivery.objects.for_org(org).exists()
    actions = list(AuditEvent.objects.filter(organisation=org, action__startswith="webhook.").values_list(
        "action", flat=True).order_by("seq"))
    assert actions == ["webhook.endpoint_created", "webhook.endpoint_updated", "webhook.endpoint_disabled",
                       "webhook.endpoint_enabled", "webhook.endpoint_deleted"]
    deleted = AuditEvent.objects.get(organisation=org, action="webhook.endpoint_deleted")
    assert deleted.details == {"pending_dropped": 1}


def test_it_refuses_personal_data_in_a_payload():
    """R-61: payloads carry ids and codes only."""
    org = make_org()
    webhooks.create_endpoint(org, actor=SYSTEM, url="https://example.org/a", events=["*"])
    with pytest.raises(ValueError), transaction.atomic():
        webhooks.emit(org, "contact.erased", {"contact": "1", "external_ref": "someone@example.org"})


def test_it_redelivers_a_failed_delivery_from_now():
    org = make_org()
    webhooks.create_endpoint(org, actor=SYSTEM, url="https://example.org/a", events=["*"])
    with transaction.atomic():
        [row] = webhooks.emit(org, "contact.erased", {"contact": "1"})
    WebhookDelivery.objects.for_org(org).filter(pk=row.pk).update(status="failed", attempts=12)
    again = webhooks.redeliver(row, actor=SYSTEM)
    assert (again.status, again.attempts) == ("pending", 0)
    assert AuditEvent.objects.filter(organisation=org, action="webhook.redelivered").count() == 1
