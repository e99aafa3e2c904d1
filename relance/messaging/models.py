"""Templates, the outbox, each message's timeline, inbound messages, campaigns and per-organisation
sending settings (SPEC §3.3–3.4).

- `Template`: the text of one purpose × channel × language, with placeholders. Checked on save by
  the health linter (R-24) and the promotional-mentions check (R-25). Organisation content, not
  personal data.
- `Message`: one row of the outbox. Written in the transaction of whatever caused it (an event, a
  campaign, an API call, a STOP), claimed by a worker, decided again (R-21), sent, then updated by
  receipts. Its placeholder values and the text actually sent are sealed with the contact's key
  (erasing the contact makes them unreadable). `reason` keeps why it was suppressed or deferred.
- `MessageEvent`: the message's timeline (scheduled, deferred, claimed, sent, delivered...), with
  codes and reasons only.
- `InboundMessage`: a reply (STOP, OUI, INFO...) as the keyword and what was done; never the text.
- `Campaign`: an audience resolved against consent, enqueued in batches, throttled and pausable.
- `SendingSettings`: sender name, STOP mention, keywords, windows, STOP-rate threshold.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel
from relance.consent.models import CHANNELS, LANGUAGES
from relance.consent.policy import Reason
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope

REASONS = [(reason.value, reason.value) for reason in Reason]


class SendingSettings(TenantModel):
    """How an organisation sends. One row per organisation, created with defaults on first use."""

    sms_sender = models.CharField(max_length=16, blank=True, help_text=_("Alphanumeric sender or short code"))
    shared_sender = models.BooleanField(default=False, help_text=_("The sender is shared with other organisations"))
    stop_mention = models.CharField(max_length=60, blank=True, help_text=_('e.g. "STOP au 36111"'))
    email_from = models.EmailField(blank=True)
    keywords = models.JSONField(default=dict, blank=True)  # {"stop": [...], "start": [...], "info": [...]}
    windows = models.JSONField(default=dict, blank=True)  # overrides of the R-22 defaults per family
    holiday_subdivision = models.CharField(max_length=8, blank=True)
    stop_rate_threshold = models.DecimalField(max_digits=5, decimal_places=2, default=2)  # percent
    allow_transliteration = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation"], name="sending_settings_one_per_org")]


class Template(TenantModel):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="templates")
    code = models.SlugField(max_length=64)
    channel = models.CharField(max_length=8, choices=CHANNELS)
    language = models.CharField(max_length=8, choices=LANGUAGES, default="fr")
    subject = models.CharField(max_length=200, blank=True)  # e-mail only
    body = models.TextField()
    transliterate = models.BooleanField(default=False)  # R-26, when the organisation allows it
    # a DPO may let a flagged word through, with a justification; both are audited.
    lint_override = models.JSONField(default=list, blank=True)  # words the DPO allowed
    lint_override_reason = models.TextField(blank=True)
    lint_override_by = models.UUIDField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["purpose_id", "code", "channel", "language"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "purpose", "code", "channel", "language"],
                                    name="template_unique"),
        ]

    def __str__(self):
        return f"{self.code} ({self.channel}, {self.language})"


class Message(SealedModel, TenantModel):
    """One message in the outbox. Status moves only forward:

    scheduled → claimed → sending → sent → delivered | failed
    scheduled | claimed → deferred (back to scheduled with a later due_at) | suppressed | expired | cancelled
    sending → scheduled (temporary failure, retried with back-off) | failed (permanent)
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CLAIMED = "claimed", _("Being prepared")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Not sent (rule)")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    PENDING = (Status.SCHEDULED, Status.CLAIMED)
    FINAL = (Status.DELIVERED, Status.FAILED, Status.SUPPRESSED, Status.EXPIRED, Status.CANCELLED)

    class Source(models.TextChoices):
        EVENT = "event", _("Reminder of an event")
        CAMPAIGN = "campaign", _("Campaign")
        API = "api", _("Sent through the API")
        STAFF = "staff", _("Sent by staff")
        CONSENT_REQUEST = "consent_request", _("Consent request")
        REPLY = "reply", _("Automatic reply (STOP, INFO)")
        SYSTEM = "system", _("System notice")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="messages")
    # The number or address the message goes to belongs to this contact (a guardian's, R-14).
    recipient = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    purpose = models.ForeignKey("consent.Purpose", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(Template, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(max_length=8, choices=CHANNELS)
    message_class = models.CharField(max_length=32)
    language = models.CharField(max_length=8, default="fr")
    source = models.CharField(max_length=16, choices=Source.choices)
    source_id = models.CharField(max_length=64, blank=True)  # event, campaign or inbound id
    step = models.PositiveSmallIntegerField(null=True, blank=True)  # reminder step
    event_ref = models.CharField(max_length=64, blank=True)  # the event a refresh_per_event consent is for
    campaign = models.ForeignKey("messaging.Campaign", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="messages")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    reason = models.CharField(max_length=40, blank=True)  # a Reason value, or a provider error code
    rule = models.CharField(max_length=8, blank=True)  # the R-xx behind the reason
    due_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    urgent_reason = models.CharField(max_length=200, blank=True)  # R-22 bypass, logged
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_by = models.CharField(max_length=64, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sender = models.CharField(max_length=64, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    encoding = models.CharField(max_length=8, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    params = EncryptedTextField()  # JSON of the placeholder values (first name, time, place...)
    body = EncryptedTextField()  # the text as sent, kept sealed as proof of what was said
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "due_at"], name="message_due_idx"),
            models.Index(fields=["organisation", "contact", "status"], name="message_contact_idx"),
            models.Index(fields=["organisation", "created_at"], name="message_created_idx"),
            models.Index(fields=["provider", "provider_ref"], name="message_provider_ref_idx"),
            models.Index(fields=["organisation", "source", "source_id"], name="message_source_idx"),
            # the STOP rate counts the SMS sent in the last 24 h on the STOP's path (SPEC §7 p99).
            # Partial: claimed and sending rows (sent_at still empty) cost the dispatch no entry here.
            models.Index(fields=["organisation", "sent_at"], name="message_sent_idx",
                         condition=models.Q(sent_at__isnull=False)),
        ]

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)

    @property
    def is_pending(self) -> bool:
        return self.status in self.PENDING


class MessageEvent(TenantModel):
    """One line of a message's timeline. Codes only: never the text, the number or a name."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    kind = models.CharField(max_length=24)  # scheduled, deferred, claimed, sending, sent, delivered, ...
    reason = models.CharField(max_length=40, blank=True)
    rule = models.CharField(max_length=8, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["message", "at"], name="message_event_idx")]


class InboundMessage(TenantModel):
    """A reply received from a number. The text is not kept: only the keyword recognised and what was done."""

    class Action(models.TextChoices):
        STOP = "stop", _("Opt-out (STOP)")
        START = "start", _("Opt-in (OUI / START)")
        INFO = "info", _("Information request")
        OTHER = "other", _("Not a keyword")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    phone_hash = models.CharField(max_length=64)
    to = models.CharField(max_length=64)  # our sender that received it
    provider = models.CharField(max_length=32, blank=True)
    provider_ref = models.CharField(max_length=100, blank=True)
    keyword = models.CharField(max_length=32, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    outcome = models.JSONField(default=dict, blank=True)  # e.g. {"withdrawn": 3, "suppressed_messages": 2}
    received_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "received_at"], name="inbound_received_idx"),
            models.Index(fields=["organisation", "action", "received_at"], name="inbound_action_idx"),
        ]


class Campaign(TenantModel):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(max_length=200)
    purpose = models.ForeignKey("consent.Purpose", on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey(Template, on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    filters = models.JSONField(default=dict, blank=True)  # language, source, created_after...
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    pause_reason = models.CharField(max_length=200, blank=True)
    rate_per_minute = models.PositiveIntegerField(default=600)
    starts_at = models.DateTimeField(null=True, blank=True)
    audience = models.PositiveIntegerField(default=0)
    enqueued = models.PositiveIntegerField(default=0)
    excluded = models.JSONField(default=dict, blank=True)  # {reason: count}
    cursor = models.CharField(max_length=64, blank=True)  # last contact id enqueued
    # Throttling: the due time of the next message enqueued; moved forward on resume, like the
    # pending messages, so that a resumed campaign keeps its rate.
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_by = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class EarlyReceipt(models.Model):
    """A receipt that came before we recorded the message as sent (an SMSC answers a DLR within
    milliseconds, while our record of the batch is still being written). Kept here, with no personal
    data, and applied by the record of the batch that carries its reference; one never matched is
    dropped after a day (then it was not ours). Not tenant data: a receipt names no organisation."""

    provider = models.CharField(max_length=32)
    provider_ref = models.CharField(max_length=100)
    status = models.CharField(max_length=32)
    error = models.CharField(max_length=40, blank=True)
    permanent = models.BooleanField(default=False)
    received_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["provider", "provider_ref"], name="early_receipt_ref_idx"),
                   models.Index(fields=["received_at"], name="early_receipt_age_idx")]
