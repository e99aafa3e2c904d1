"""An organisation's webhook endpoints and the deliveries owed to them."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope


class WebhookEndpoint(SealedModel, TenantModel):
    """Where an organisation wants its events: an HTTPS URL, the events it subscribes to ("*" for
    all) and the signing secret (sealed; shown once when created or rotated)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list)  # ["contact.erased", "request.completed"] or ["*"]
    secret = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)

    def wants(self, event: str) -> bool:
        return self.enabled and ("*" in self.events or event in self.events)


class WebhookDelivery(TenantModel):
    """One event owed to one endpoint. Retried with back-off until delivered or given up."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to be sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Given up")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField()  # ids and codes only
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due_idx")]
