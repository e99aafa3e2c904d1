"""Provider accounts: encrypted credentials (R-60), validation in the user's terms, audit events, the
Art. 30 facts (country, hosting region, transfer outside the EEA)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from relance.audit.models import AuditEvent
from relance.providers import services
from relance.providers.kinds import adapter
from relance.providers.models import ProviderAccount
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
SECRET = "s3cr3t-Pa55word-xyz"


def test_it_seals_the_credentials_in_the_database(world):
    account = services.create_account(world.a, name="null", kind="null", credentials={"password": SECRET},
                                      actor=SYSTEM)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM providers_provideraccount WHERE id = %s", [account.pk])
        row = cursor.fetchone()
    assert SECRET not in repr(row) and SECRET.encode() not in b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    assert ProviderAccount.unscoped.get(pk=account.pk).secrets() == {"password": SECRET}


def test_it_records_an_audit_event_without_the_credentials(world):
    account = services.create_account(world.a, name="null", kind="null", credentials={"password": SECRET},
                                      actor=SYSTEM, country="fr", hosting_region="eu-west-3")
    event = AuditEvent.objects.get(action="provider.account_created", target_id=str(account.pk))
    assert SECRET not in json.dumps(event.details)
    assert account.country == "FR" and not account.transfer_outside_eea
    services.update_account(account, country="US", actor=SYSTEM)
    assert ProviderAccount.unscoped.get(pk=account.pk).transfer_outside_eea
    assert AuditEvent.objects.filter(action="provider.account_updated", target_id=str(account.pk)).exists()


def test_it_names_every_missing_credential_field(world):
    with pytest.raises(ValidationError) as caught:
        services.create_account(world.a, name="smpp", kind="smpp", credentials={"host": "127.0.0.1"}, actor=SYSTEM)
    message = " ".join(caught.value.message_dict["credentials"])
    for name in adapter("smpp").credential_fields:
        if name != "host":
            assert name in message


def test_it_refuses_an_unknown_kind_and_a_wrong_channel(world):
    with pytest.raises(ValidationError) as caught:
        services.create_account(world.a, name="x", kind="carrier-pigeon", credentials={}, actor=SYSTEM)
    assert "kind" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        services.create_account(world.a, name="x", kind="null", channel="email", credentials={}, actor=SYSTEM,
                                country="France")
    assert {"channel", "country"} <= set(caught.value.message_dict)


def test_it_changes_the_webhook_url_when_the_token_is_rotated(world, client):
    account = services.create_account(world.a, name="null", kind="null", credentials={}, actor=SYSTEM)
    old = account.webhook_token
    services.rotate_webhook_token(account, actor=SYSTEM)
    assert ProviderAccount.unscoped.get(pk=account.pk).webhook_token != old
    assert AuditEvent.objects.filter(action="provider.webhook_rotated").exists()


@pytest.mark.parametrize("path", ["/hooks/twilio/not-a-real-token-123/receipts", "/hooks/locmem/{token}/inbound",
                                  "/hooks/carrier/{token}/receipts"])
def test_it_refuses_a_webhook_for_no_account(world, client, path):
    """R-66: an unknown account token, a built-in kind or an unknown kind is refused, nothing read."""
    account = services.create_account(world.a, name="null", kind="locmem", credentials={}, actor=SYSTEM)
    response = client.post(path.format(token=account.webhook_token), data=b"{}", content_type="application/json")
    assert response.status_code == 403
