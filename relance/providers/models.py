"""Provider accounts (SPEC §5): an organisation's, or the platform's, credentials for one provider.

Credentials are one JSON document sealed like any personal field (R-60): the database holds
ciphertext only. An account with no organisation is platform-wide: every organisation may send
through it, after its own accounts. `priority` orders the accounts of one channel (lowest first);
`rate_per_second` is shared by every worker on every machine (providers/ratelimit.py); the circuit
fields say whether the account currently takes traffic (providers/circuit.py). Country and hosting
region feed the Art. 30 register and its transfers outside the EEA.
"""

from __future__ import annotations

import json
import secrets
import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantManager, UnscopedManager
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import PLATFORM_SCOPE, org_scope

# EEA member states (EU 27 + Iceland, Liechtenstein, Norway): a provider elsewhere is a transfer.
EEA = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO".split())


def new_webhook_token() -> str:
    return secrets.token_urlsafe(24)


class ProviderAccount(SealedModel):
    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")

    class Circuit(models.TextChoices):
        CLOSED = "closed", _("Taking traffic")
        OPEN = "open", _("Failing: no traffic")
        HALF_OPEN = "half_open", _("Probing")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey("accounts.Organisation", null=True, blank=True, on_delete=models.CASCADE,
                                     related_name="+")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16)  # smpp, twilio, vonage, ovh, brevo, console, locmem, null, django
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.SMS)
    credentials = EncryptedTextField()  # JSON object, fields per kind (providers/kinds.py)
    options = models.JSONField(default=dict, blank=True)  # non-secret settings: base_url, window, ton/npi...
    priority = models.PositiveIntegerField(default=100)
    rate_per_second = models.FloatField(default=0)  # 0: no limit of ours
    country = models.CharField(max_length=2, default="FR")  # the provider's establishment
    hosting_region = models.CharField(max_length=64, blank=True)  # where it processes the data
    enabled = models.BooleanField(default=True)
    webhook_token = models.CharField(max_length=64, unique=True, default=new_webhook_token)
    # Health (providers/circuit.py)
    circuit = models.CharField(max_length=10, choices=Circuit.choices, default=Circuit.CLOSED)
    failures = models.PositiveIntegerField(default=0)  # consecutive
    opened_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=64, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantManager()
    unscoped = UnscopedManager()

    class Meta:
        ordering = ["channel", "priority", "id"]
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="provider_account_name_unique")]
        indexes = [models.Index(fields=["channel", "enabled", "priority"], name="provider_account_route_idx")]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id) if self.organisation_id else PLATFORM_SCOPE

    def crypto_row_id(self) -> str:
        return str(self.uid)

    @property
    def label(self) -> str:
        """What messages record as their provider, and receipts are matched on: kind and account id."""
        return f"{self.kind}:{self.pk}"

    @property
    def platform_wide(self) -> bool:
        return self.organisation_id is None

    @property
    def transfer_outside_eea(self) -> bool:
        return self.country.upper() not in EEA

    def secrets(self) -> dict:
        return json.loads(self.credentials or "{}")


class RateBucket(models.Model):
    """One token bucket per account, shared by every worker through the database (providers/ratelimit.py)."""

    account = models.OneToOneField(ProviderAccount, on_delete=models.CASCADE, primary_key=True, related_name="+")
    tokens = models.FloatField(default=0)
    updated = models.FloatField(default=0)  # epoch seconds of the last refill
