"""Idempotency records for POST requests (SPEC §4).

What is stored, and why it holds no personal data in clear (R-61):
- the client's key and the request fingerprint are keyed hashes (the organisation's index key), so
  a key like "reminder-jean-dupont" or a body holding a phone number cannot be read back or
  brute-forced from a database dump;
- the response body is stored only when the endpoint's response holds no personal data. An
  endpoint whose response does hold personal data is marked with `idempotency.replay_by_id(...)`:
  then only `resource_id` is stored and a replay re-renders the resource from the live (encrypted)
  data, so erasing a contact also erases what a replay would show.
"""

from django.db import models
from django.utils import timezone

from relance.accounts.tenancy import TenantModel


class IdempotencyRecord(TenantModel):
    key_hash = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True, blank=True)
    resource_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "key_hash"], name="api_idempotency_key_unique"),
        ]
        indexes = [models.Index(fields=["created_at"], name="api_idempotency_created_idx")]

    def __str__(self):
        return f"{self.method} {self.path} ({self.status})"
