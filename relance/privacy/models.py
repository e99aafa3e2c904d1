"""Models of privacy operations (SPEC §2, §3.5, §3.6, §3.8).

- `ControllerProfile`: what the Art. 30 register and the notices need about the controller beyond
  the organisation row (address, contact, registration number, representative, measures).
- `RightsRequest`: a data-subject request (R-40, R-41) with its deadline, extension and outcome.
  Its free text is sealed with the contact's data key, so erasing the person shreds it too; the
  row itself (kind, dates, status) stays as proof the request was answered.
- `VerificationCode`: a one-time code sent to the number concerned, for requests made on the public
  page (R-40); only its keyed hash is stored.
- `AccessExport`: one generated access/portability export (R-42), sealed with the contact's key,
  kept only as long as the "exports" retention says.
- `RetentionPolicy`, `PurgeReport`, `MessageStat`: retention per category (R-50, R-52), what each
  purge removed, and the anonymous statistics that survive it (R-51).
- `Breach`, `BreachSubject`: the breach register (R-71) and the contacts an incident concerns.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope


class ControllerProfile(TenantModel):
    """The controller's identity for the register (Art. 30(1)(a)). One per organisation. These are
    an organisation's details, not a data subject's, so they are not sealed (the DPO's are, on
    Organisation)."""

    legal_name = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=400, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    registration_number = models.CharField(max_length=64, blank=True)  # SIREN/SIRET, FINESS...
    representative = models.CharField(max_length=300, blank=True)  # Art. 27, outside the EU only
    joint_controllers = models.TextField(blank=True)
    security_measures = models.TextField(blank=True)  # added to the platform's own measures
    webhook_events_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation"], name="controller_profile_one_per_org")]


class RightsRequest(SealedModel, TenantModel):
    class Kind(models.TextChoices):
        ACCESS = "access", _("Access (Art. 15)")
        PORTABILITY = "portability", _("Portability (Art. 20)")
        RECTIFICATION = "rectification", _("Rectification (Art. 16)")
        ERASURE = "erasure", _("Erasure (Art. 17)")
        RESTRICTION = "restriction", _("Restriction (Art. 18)")
        OBJECTION = "objection", _("Objection (Art. 21)")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        IN_PROGRESS = "in_progress", _("In progress")
        EXTENDED = "extended", _("Extended (person told)")
        COMPLETED = "completed", _("Completed")
        REFUSED = "refused", _("Refused")

    OPEN = (Status.RECEIVED, Status.IN_PROGRESS, Status.EXTENDED)

    class Channel(models.TextChoices):
        STAFF = "staff", _("Recorded by staff")
        API = "api", _("Integration (API)")
        PUBLIC = "public", _("Public page, one-time code")

    class RequestedBy(models.TextChoices):
        SUBJECT = "subject", _("The person")
        GUARDIAN = "guardian", _("The guardian")
        PROXY = "proxy", _("A representative with a mandate")

    class Refusal(models.TextChoices):
        IDENTITY_NOT_CONFIRMED = "identity_not_confirmed", _("Identity could not be confirmed (Art. 12(6))")
        MANIFESTLY_UNFOUNDED = "manifestly_unfounded", _("Manifestly unfounded or excessive (Art. 12(5))")
        LEGAL_OBLIGATION = "legal_obligation", _("Data kept under a legal obligation (Art. 17(3)(b))")
        LEGAL_CLAIMS = "legal_claims", _("Needed for legal claims (Art. 17(3)(e))")
        COMPELLING_GROUNDS = "compelling_grounds", _("Compelling legitimate grounds (Art. 21(1))")
        NO_DATA = "no_data", _("No data about the person")
        OTHER = "other", _("Other reason (explained)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=32)  # "DR-2026-00042", shown to the person
    kind = models.CharField(max_length=16, choices=Kind.choices)
    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    requested_by = models.CharField(max_length=16, choices=RequestedBy.choices, default=RequestedBy.SUBJECT)
    language = models.CharField(max_length=8, default="fr")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    received_at = models.DateTimeField()
    due_at = models.DateTimeField()  # one calendar month after receipt, moved by an extension
    extended_at = models.DateTimeField(null=True, blank=True)
    extension_reason = models.TextField(blank=True)  # the reasons given to the person
    person_told_at = models.DateTimeField(null=True, blank=True)
    person_told_via = models.CharField(max_length=32, blank=True)  # sms, email, letter, message id...
    completed_at = models.DateTimeField(null=True, blank=True)
    refusal_code = models.CharField(max_length=32, choices=Refusal.choices, blank=True)
    refusal_reason = models.TextField(blank=True)
    outcome = models.JSONField(default=dict, blank=True)  # codes and counts: {"export": id, "erased": true}
    details = EncryptedTextField()  # the person's own words (sealed with the contact's key)
    created_by_kind = models.CharField(max_length=16)  # an audit Actor kind
    created_by_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "reference"], name="rights_request_ref_unique")]
        indexes = [
            models.Index(fields=["organisation", "status", "due_at"], name="rights_request_due_idx"),
            models.Index(fields=["organisation", "contact"], name="rights_request_contact_idx"),
        ]

    def __str__(self):
        return self.reference

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class VerificationCode(TenantModel):
    """A one-time code sent by SMS to the number a public request is about. Only its keyed hash is
    kept; it expires after a few minutes and after a few wrong tries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_hash = models.CharField(max_length=64)  # the keyed hash of the number (Contact.phone_index)
    code_hash = models.CharField(max_length=64)
    purpose = models.CharField(max_length=32, default="rights_request")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "phone_hash", "created_at"], name="verification_code_idx")]


class AccessExport(SealedModel, TenantModel):
    """One access/portability export (R-42): the JSON document, sealed with the contact's key.
    HTML and PDF are rendered from it on demand, in the person's language."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    request = models.ForeignKey(RightsRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="exports")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    language = models.CharField(max_length=8, default="fr")
    document = EncryptedTextField()  # JSON
    sha256 = models.CharField(max_length=64)
    items = models.PositiveIntegerField(default=0)  # messages + consent events + events... (for display)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by_kind = models.CharField(max_length=16)
    created_by_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organisation", "created_at"], name="access_export_created_idx")]

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)


class DataCategory(models.TextChoices):
    """The retention categories of R-50."""

    MESSAGE_CONTENT = "message_content", _("Message content (text and placeholder values)")
    MESSAGE_METADATA = "message_metadata", _("Message metadata (status, times, timeline)")
    INACTIVE_CONTACTS = "inactive_contacts", _("Contacts without activity")
    DECEASED_CONTACTS = "deceased_contacts", _("Contacts marked deceased (R-45)")
    CONSENT_PROOFS = "consent_proofs", _("Consent proofs (ledger)")
    AUDIT_EVENTS = "audit_events", _("Audit events")
    INBOUND_MESSAGES = "inbound_messages", _("Inbound messages (replies)")
    EXPORTS = "exports", _("Access exports")


class RetentionPolicy(TenantModel):
    """How long one category of an organisation's data is kept (R-50), counted from the category's
    own clock (a message's creation, a contact's last activity, an event's time...)."""

    category = models.CharField(max_length=24, choices=DataCategory.choices)
    days = models.PositiveIntegerField()
    preset = models.CharField(max_length=32, blank=True)  # the R-52 preset it came from, if any
    source = models.CharField(max_length=300, blank=True)  # where the duration comes from
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category"]
        constraints = [models.UniqueConstraint(fields=["organisation", "category"], name="retention_policy_unique")]


class PurgeReport(TenantModel):
    """What one purge of one organisation removed (R-50), or would remove (dry run)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("Daily schedule")
        COMMAND = "command", _("Command line")
        API = "api", _("API")
        STAFF = "staff", _("Back-office")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    dry_run = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)  # {category: rows removed (or that would be)}
    policies = models.JSONField(default=dict)  # {category: {"days": n, "preset": "...", "cutoff": iso}}
    stats_rows = models.PositiveIntegerField(default=0)  # MessageStat rows written or updated
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["organisation", "started_at"], name="purge_report_started_idx")]


class MessageStat(TenantModel):
    """Anonymous statistics of purged messages (R-51): counts per day, purpose, channel, class and
    status, with segments. No recipient, no content. Live messages are counted from the outbox;
    these rows hold only what retention removed, so the two add up without overlap."""

    day = models.DateField()
    purpose_code = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=8)
    message_class = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16)
    reason = models.CharField(max_length=40, blank=True)
    count = models.PositiveIntegerField(default=0)
    segments = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "day", "purpose_code", "channel", "message_class",
                                            "status", "reason"], name="message_stat_unique"),
        ]


class Breach(TenantModel):
    """An incident of the breach register (R-71, Art. 33(5)): every one, notified or not."""

    class Risk(models.TextChoices):
        UNLIKELY = "unlikely", _("Unlikely to result in a risk (not notified, Art. 33(1))")
        RISK = "risk", _("A risk: notify the CNIL")
        HIGH = "high", _("A high risk: notify the CNIL and tell the people (Art. 34)")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        NOTIFIED = "notified", _("Authority notified")
        CLOSED = "closed", _("Closed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    reference = models.CharField(max_length=32)  # "INC-2026-003"
    title = models.CharField(max_length=200)
    nature = models.TextField()  # Art. 33(3)(a): what happened (confidentiality, integrity, availability)
    kinds = models.JSONField(default=list)  # ["confidentiality", "integrity", "availability"]
    aware_at = models.DateTimeField()  # the 72 h (or 24 h) clock starts here
    occurred_from = models.DateTimeField(null=True, blank=True)
    occurred_to = models.DateTimeField(null=True, blank=True)
    data_categories = models.JSONField(default=list)  # keys of consent.models.DATA_CATEGORIES
    subject_categories = models.JSONField(default=list)  # patients, patrons, employees...
    approx_subjects = models.PositiveIntegerField(null=True, blank=True)
    approx_records = models.PositiveIntegerField(null=True, blank=True)
    consequences = models.TextField(blank=True)  # Art. 33(3)(c)
    measures_taken = models.TextField(blank=True)  # Art. 33(3)(d)
    measures_proposed = models.TextField(blank=True)
    risk = models.CharField(max_length=16, choices=Risk.choices, blank=True)
    risk_reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    notified_at = models.DateTimeField(null=True, blank=True)
    authority_reference = models.CharField(max_length=64, blank=True)
    delay_reason = models.TextField(blank=True)  # Art. 33(1): reasons for a late notification
    subjects_notified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_by_kind = models.CharField(max_length=16)
    created_by_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-aware_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "reference"], name="breach_ref_unique")]


class BreachSubject(TenantModel):
    """A contact an incident concerns, computed from its period and data categories (R-71)."""

    breach = models.ForeignKey(Breach, on_delete=models.CASCADE, related_name="subjects")
    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    notice_message_id = models.UUIDField(null=True, blank=True)  # the Art. 34 notice, once enqueued
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["breach", "contact"], name="breach_subject_unique")]
