"""Webhooks of the built-in providers: inbound replies and receipts (R-29, R-30..R-33, R-66)."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from relance.consent.tests.helpers import make_purpose
from relance.contacts import services as contacts
from relance.messaging import outbox
from relance.messaging.models import InboundMessage, Message, SendingSettings
from relance.messaging.sending import settings_for
from relance.testing import make_contact, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

SECRET = "s3cret-for-tests-only"
NUMBER = "+33612345678"


@pytest.fixture(autouse=True)
def _secret():
    with override_settings(RELANCE_WEBHOOK_SECRET=SECRET):
        yield


def post(client, path, body, *, secret=SECRET, **headers):
    if secret is not None:
        headers["HTTP_X_RELANCE_WEBHOOK_SECRET"] = secret
    return client.post(f"/api/v1/webhooks/{path}", body, content_type="application/json", **headers)


@pytest.fixture
def org():
    org = make_org(name="Médiathèques")
    settings_for(org)
    SendingSettings.objects.for_org(org).update(sms_sender="MEDIATHEQUE")
    return org


def sent(org, ref: str) -> Message:
    contact = make_contact(org, phone=NUMBER)
    with transaction.atomic():
        message = outbox.enqueue(contact, make_purpose(org), "sms", due_at=timezone.now(), source="api")
    Message.objects.for_org(org).filter(pk=message.pk).update(status="sent", provider="locmem", provider_ref=ref,
                                                              sent_at=timezone.now())
    return message


STOP = {"sender": NUMBER, "to": "MEDIATHEQUE", "text": "STOP", "provider_ref": "in-1"}


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1]])
def test_it_refuses_a_call_without_the_right_secret_and_changes_nothing(client, org, secret):
    """R-66: 403, and the STOP is not applied (the body is not even read)."""
    response = post(client, "locmem/inbound", STOP, secret=secret)
    assert response.status_code == 403 and response.json()["code"] == "webhook_forbidden"
    assert "X-Relance-Webhook-Secret" in response.json()["message"]
    assert not InboundMessage.unscoped.exists() and not contacts.is_suppressed(org, NUMBER)
    assert post(client, "locmem/receipts", {"nonsense": 1}, secret=secret).status_code == 403


def test_it_refuses_every_call_when_no_secret_is_configured(client, org):
    """R-66: an empty setting (production without it) refuses rather than accepting anything."""
    with override_settings(RELANCE_WEBHOOK_SECRET=""):
        assert post(client, "locmem/inbound", STOP, secret="").status_code == 403


def test_it_applies_a_stop_and_answers_once_it_is_in_effect(client, org):
    """R-31/R-33: the answer comes after the number is suppressed."""
    response = post(client, "locmem/inbound", STOP)
    assert response.status_code == 200
    assert response.json() == {"action": "stop", "organisations": 1, "in_effect": True}
    assert contacts.is_suppressed(org, NUMBER)
    record = InboundMessage.objects.for_org(org).get()
    assert (record.provider, record.provider_ref) == ("locmem", "in-1")


def test_it_answers_200_to_a_reply_nobody_is_concerned_by(client, org):
    """A reply to an unknown sender is still acknowledged, so the provider stops retrying."""
    response = post(client, "console/inbound", {**STOP, "to": "UNKNOWN"})
    assert response.status_code == 200 and response.json()["organisations"] == 0


def test_it_applies_a_receipt_and_answers_200_for_an_unknown_reference(client, org):
    """R-29, R-66: a known reference is applied; an unknown one is answered 200 with known=false."""
    message = sent(org, "locmem-7")
    response = post(client, "locmem/receipts", {"provider_ref": "locmem-7", "status": "delivered"})
    assert response.status_code == 200 and response.json() == {"known": True}
    assert Message.unscoped.get(pk=message.pk).status == "delivered"
    response = post(client, "locmem/receipts", {"provider_ref": "locmem-404", "status": "delivered"})
    assert response.status_code == 200 and response.json() == {"known": False}
    response = post(client, "locmem/receipts", {"provider_ref": "locmem-7", "status": "failed", "permanent": True})
    assert response.json() == {"known": True} and Message.unscoped.get(pk=message.pk).status == "delivered"


def test_it_lists_every_invalid_field_of_a_bad_body(client, org):
    """SPEC §4: 422 with every invalid field; a body that is not JSON is a 400."""
    response = post(client, "locmem/receipts", {"status": "", "permanent": "maybe", "extra": 1})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"provider_ref", "status", "permanent", "extra"}
    response = client.post("/api/v1/webhooks/locmem/inbound", "not json", content_type="application/json",
                           HTTP_X_RELANCE_WEBHOOK_SECRET=SECRET)
    assert response.status_code == 400 and response.json()["code"] == "malformed_body"
    assert not InboundMessage.unscoped.exists()


def test_it_knows_only_the_built_in_providers(client, org):
    """Vendors come with their own webhooks (issue 5): anything else is 404."""
    assert post(client, "twilio/inbound", STOP).status_code == 404
    assert not InboundMessage.unscoped.exists()


def test_it_needs_no_api_key_and_ignores_idempotency_keys(client, org):
    """Providers have no API key; an Idempotency-Key header does not get in the way."""
    response = post(client, "locmem/inbound", STOP, HTTP_IDEMPOTENCY_KEY="abc")
    assert response.status_code == 200


def test_it_keeps_the_webhooks_out_of_the_integrators_document(client):
    """The OpenAPI document describes the integrators' API; the provider webhooks are not part of it."""
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not [path for path in paths if "webhooks" in path]


def test_it_says_what_is_missing_in_french_too(client, org):
    """Errors people see are in their language."""
    response = post(client, "locmem/inbound", STOP, secret=None, HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["message"].startswith("Ce webhook demande le secret partagé")
