"""Events (appointments, convocations, loan due dates, reserved items) and the reminder rules that
turn them into messages (R-27).

An integrator upserts an event by its own `external_id` (kept as a keyed hash for lookups and sealed
for display, like a contact's external reference). Its pending reminders are Message rows of the
outbox (source "event", source_id = the event's id); cancelling, rescheduling or returning the item
changes them in the same transaction.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope


class EventKind(models.TextChoices):
    APPOINTMENT = "appointment", _("Appointment")
    CONVOCATION = "convocation", _("Convocation (occupational health)")
    LOAN_DUE = "loan_due", _("Loan due date")
    RESERVED_ITEM = "reserved_item", _("Reserved item available")
    CLOSURE = "closure", _("Closure or service notice")


class ReminderRule(TenantModel):
    """Steps relative to an event: offsets in minutes (negative before, positive after), each with a
    channel and a template code, e.g. appointment: -2880 e-mail, -120 SMS; loan: +3 d, +10 d, +21 d."""

    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    event_kind = models.CharField(max_length=16, choices=EventKind.choices)
    name = models.CharField(max_length=200)
    # [{"offset_minutes": -2880, "channel": "email", "template": "rappel-j2"}, ...]
    steps = models.JSONField(default=list)
    # R-27 escalation: a later step is skipped when the person already acknowledged (reserved for later)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["event_kind", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "event_kind", "purpose"], name="reminder_rule_unique",
                                    condition=models.Q(active=True)),
        ]


class Event(SealedModel, TenantModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Completed (item returned, visit done)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    external_id = EncryptedTextField()
    external_id_index = models.CharField(max_length=64)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="events")
    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    rule = models.ForeignKey(ReminderRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    site = models.ForeignKey("accounts.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    starts_at = models.DateTimeField()  # the appointment, the due date, the moment the hold starts
    ends_at = models.DateTimeField(null=True, blank=True)  # the end of a hold (R-23 validity)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    params = EncryptedTextField()  # JSON: extra placeholder values (practice name, call-back number...)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "external_id_index"], name="event_external_id_unique"),
        ]
        indexes = [
            models.Index(fields=["organisation", "starts_at"], name="event_starts_idx"),
            models.Index(fields=["organisation", "contact"], name="event_contact_idx"),
        ]

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)
