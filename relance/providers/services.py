"""Every write to a provider account, each with its audit event (credentials never in the event)."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor

from .kinds import adapter, missing_credentials
from .models import ProviderAccount, new_webhook_token

EDITABLE = ("name", "options", "priority", "rate_per_second", "country", "hosting_region", "enabled")


def _validate(kind: str, channel: str, credentials: dict, fields: dict) -> None:
    errors = {}
    try:
        vendor = adapter(kind)
    except ValueError as exc:
        raise ValidationError({"kind": [str(exc)]}) from None
    if vendor.channel != channel:
        errors["channel"] = [_("A %(kind)s account sends %(channel)s only.") % {"kind": vendor.label,
                                                                                 "channel": vendor.channel}]
    missing = missing_credentials(kind, credentials)
    if missing:
        errors["credentials"] = [_("Missing credential fields: %(names)s.") % {"names": ", ".join(missing)}]
    if fields.get("rate_per_second", 0) < 0:
        errors["rate_per_second"] = [_("The rate limit cannot be negative (0 means none).")]
    country = fields.get("country", "FR")
    if not (isinstance(country, str) and len(country) == 2 and country.isalpha()):
        errors["country"] = [_("Give the provider's country as a two-letter ISO code (FR, IE, US…).")]
    if errors:
        raise ValidationError(errors)


def _details(account: ProviderAccount, **extra) -> dict:
    return {"kind": account.kind, "channel": account.channel, "platform_wide": account.platform_wide, **extra}


@transaction.atomic
def create_account(organisation, *, name: str, kind: str, credentials: dict, actor: Actor, channel: str = "sms",
                   **fields) -> ProviderAccount:
    """A provider account for `organisation`, or a platform-wide one when it is None."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    _validate(kind, channel, credentials, fields)
    if "country" in fields:
        fields["country"] = fields["country"].upper()
    account = ProviderAccount(organisation=organisation, name=name, kind=kind, channel=channel,
                              credentials=json.dumps(credentials), **fields)
    account.save()
    audit.record(organisation, actor, "provider.account_created", target=account, details=_details(account))
    return account


@transaction.atomic
def update_account(account: ProviderAccount, *, actor: Actor, credentials: dict | None = None,
                   **fields) -> ProviderAccount:
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    _validate(account.kind, account.channel, credentials if credentials is not None else account.secrets(),
              {"country": account.country, **fields})
    for name, value in fields.items():
        setattr(account, name, value.upper() if name == "country" else value)
    if credentials is not None:
        account.credentials = json.dumps(credentials)
    account.save()
    changed = sorted(fields) + (["credentials"] if credentials is not None else [])
    audit.record(account.organisation, actor, "provider.account_updated", target=account,
                 details=_details(account, changed=",".join(changed)))
    return account


@transaction.atomic
def rotate_webhook_token(account: ProviderAccount, *, actor: Actor) -> ProviderAccount:
    """A new webhook URL (the old one stops working at once): after a leak, or a vendor change."""
    account.webhook_token = new_webhook_token()
    account.save(update_fields=["webhook_token", "updated_at"])
    audit.record(account.organisation, actor, "provider.webhook_rotated", target=account, details=_details(account))
    return account
