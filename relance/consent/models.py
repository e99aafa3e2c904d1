"""Purposes, notices, the consent ledger and its projection, information records (SPEC §2, §3.1–3.2).

- `Purpose`: one flow of messages with its legal frame (R-01..R-03, R-72).
- `Notice`: the information/consent text of a purpose in one language, versioned, immutable once
  published; its SHA-256 is what consent events point to (R-10, R-11).
- `ConsentEvent`: the append-only ledger, hash-chained per organisation on the audit chain head
  `ledger:org:<id>` (R-11). Evidence is sealed with the contact's own data key (R-60), so erasing the
  contact makes it unreadable while the chain still verifies.
- `ConsentState`: the projection of the ledger per contact × purpose × channel, written in the same
  transaction as each event; `relance.consent.ledger.fold` says what it must equal.
- `Information`: proof that a person (or an imported batch) was given a purpose's notice (R-04).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel, TenantQuerySet, UnscopedQuerySet
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope

from .policy import Basis, ConsentStatus, MessageClass


class AppendOnlyError(Exception):
    """Ledger rows and published notices are never updated or deleted (R-11); retention has its own door."""


class _AppendOnly:
    def update(self, **kwargs):
        raise AppendOnlyError(f"{self.model.__name__} rows cannot be updated")

    def delete(self):
        raise AppendOnlyError(f"{self.model.__name__} rows are deleted only by retention")


class AppendOnlyQuerySet(_AppendOnly, TenantQuerySet):
    pass


class AppendOnlyUnscopedQuerySet(_AppendOnly, UnscopedQuerySet):
    pass


CHANNELS = [("sms", _("SMS")), ("email", _("E-mail"))]
LANGUAGES = [("fr", _("French")), ("en", _("English"))]

MESSAGE_CLASSES = [
    (MessageClass.SERVICE.value, _("Service notice")),
    (MessageClass.PROMOTIONAL_COMMERCIAL.value, _("Commercial promotion")),
    (MessageClass.PROMOTIONAL_NONCOMMERCIAL.value, _("Non-commercial promotion")),
    (MessageClass.CONSENT_REQUEST.value, _("Consent request")),
    (MessageClass.RIGHTS_REQUEST.value, _("Answer to a rights request")),
    (MessageClass.BREACH_NOTICE.value, _("Breach notice (Art. 34)")),
]
LEGAL_BASES = [
    (Basis.CONSENT.value, _("Consent (Art. 6(1)(a))")),
    (Basis.CONTRACT.value, _("Contract (Art. 6(1)(b))")),
    (Basis.LEGAL_OBLIGATION.value, _("Legal obligation (Art. 6(1)(c))")),
    (Basis.VITAL_INTEREST.value, _("Vital interests (Art. 6(1)(d))")),
    (Basis.PUBLIC_TASK.value, _("Public task (Art. 6(1)(e))")),
    (Basis.LEGITIMATE_INTEREST.value, _("Legitimate interests (Art. 6(1)(f))")),
]
CONSENT_STATUSES = [
    (ConsentStatus.NONE.value, _("No decision recorded")),
    (ConsentStatus.GIVEN.value, _("Given")),
    (ConsentStatus.REFUSED.value, _("Refused")),
    (ConsentStatus.WITHDRAWN.value, _("Withdrawn")),
    (ConsentStatus.OBJECTED.value, _("Objected")),
    (ConsentStatus.EXPIRED.value, _("Expired")),
]

# Data categories a purpose may declare, each with its Kantara v1.1 PII category and its
# W3C DPV personal-data concept, used by the receipts.
DATA_CATEGORIES = {
    "identity": (_("Name"), "1 - Biographical", "pd:Name"),
    "birth_date": (_("Birth date or minor flag"), "1 - Biographical", "pd:BirthDate"),
    "contact": (_("Phone number and e-mail address"), "2 - Contact", "pd:Contact"),
    "appointment": (_("Date, time and place of an appointment"), "5 - Network/Service", "pd:Interaction"),
    "loan": (_("Loans and reservations (no titles)"), "5 - Network/Service", "pd:ServiceConsumptionBehaviour"),
    "health": (_("Health data (the fact of a medical appointment)"), "6 - Health", "pd:Health"),
    "employment": (_("Employer and job (occupational health)"), "12 - HR Data", "pd:CurrentEmployment"),
    "purchase": (_("Purchases (existing customers)"), "7 - Financial", "pd:Purchase"),
    "preferences": (_("Message preferences"), "15 - Behavioral", "pd:Preference"),
}


class Purpose(TenantModel):
    """A flow of messages and its legal frame. Cannot be activated while anything R-01 lists is missing."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        RETIRED = "retired", _("Retired")

    class Art9(models.TextChoices):
        NONE = "none", _("No special-category data in this purpose")
        A = "a", _("Art. 9(2)(a): explicit consent")
        B = "b", _("Art. 9(2)(b): employment and social security obligations")
        C = "c", _("Art. 9(2)(c): vital interests of a person unable to consent")
        D = "d", _("Art. 9(2)(d): not-for-profit body, its members")
        E = "e", _("Art. 9(2)(e): made public by the person")
        F = "f", _("Art. 9(2)(f): legal claims")
        G = "g", _("Art. 9(2)(g): substantial public interest")
        H = "h", _("Art. 9(2)(h): preventive or occupational medicine, health care")
        I = "i", _("Art. 9(2)(i): public health")  # noqa: E741
        J = "j", _("Art. 9(2)(j): archiving, research, statistics")

    code = models.SlugField(max_length=64)
    label_fr = models.CharField(max_length=200, blank=True)
    label_en = models.CharField(max_length=200, blank=True)
    message_class = models.CharField(max_length=32, choices=MESSAGE_CLASSES, blank=True)
    legal_basis = models.CharField(max_length=32, choices=LEGAL_BASES, blank=True)
    art9_condition = models.CharField(max_length=8, choices=Art9.choices, blank=True)
    data_categories = models.JSONField(default=list, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    retention = models.CharField(max_length=300, blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    channels = models.JSONField(default=list, blank=True)
    consent_validity_days = models.PositiveIntegerField(null=True, blank=True)
    refresh_per_event = models.BooleanField(default=False)
    balancing_test_ref = models.CharField(max_length=300, blank=True)
    existing_customer_exception = models.BooleanField(default=False)
    existing_customer_scope = models.CharField(max_length=300, blank=True)
    dpia_ref = models.CharField(max_length=300, blank=True)
    dpia_not_needed_reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantModel.Meta):
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="purpose_code_unique")]

    def __str__(self):
        return self.code

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def consent_based(self) -> bool:
        return self.legal_basis == Basis.CONSENT

    @property
    def involves_health_data(self) -> bool:
        """An Art. 9(2) condition is declared: the purpose processes special-category data (R-72)."""
        return bool(self.art9_condition) and self.art9_condition != self.Art9.NONE

    def label(self, language: str) -> str:
        return (self.label_fr if language == "fr" else self.label_en) or self.label_en or self.label_fr or self.code


class Notice(TenantModel):
    """The text shown to people for one purpose and language. Immutable once published (R-11)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.ForeignKey(Purpose, on_delete=models.RESTRICT, related_name="notices")
    language = models.CharField(max_length=8, choices=LANGUAGES)
    version = models.PositiveIntegerField()
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField()

    objects = models.Manager.from_queryset(AppendOnlyQuerySet)()
    unscoped = models.Manager.from_queryset(AppendOnlyUnscopedQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["purpose", "language", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "language", "version"], name="notice_version_unique"),
        ]

    def __str__(self):
        return f"{self.purpose_id} {self.language} v{self.version}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("a published notice cannot be changed: publish a new version")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("a published notice cannot be deleted")


class ConsentEvent(SealedModel, TenantModel):
    """One entry of the consent ledger (R-10). Never updated or deleted (R-11)."""

    class Action(models.TextChoices):
        GIVEN = "given", _("Given")
        REFUSED = "refused", _("Refused")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        OBJECTED = "objected", _("Objected")
        RENEWED = "renewed", _("Renewed")
        EXPIRED = "expired", _("Expired")
        RESTORED = "restored", _("Restored")

    class ExpressedBy(models.TextChoices):
        SUBJECT = "subject", _("The person")
        GUARDIAN = "guardian", _("The guardian")
        STAFF_ON_BEHALF = "staff_on_behalf", _("Staff, on the person's behalf")

    class Method(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        PAPER_FORM = "paper_form", _("Paper form")
        PHONE_CALL = "phone_call", _("Phone call")
        SMS_KEYWORD = "sms_keyword", _("SMS keyword")
        API = "api", _("Integration (API)")
        IMPORT = "import", _("Import")
        SYSTEM = "system", _("Relance itself (expiry)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    seq = models.BigIntegerField()
    contact = models.ForeignKey("contacts.Contact", on_delete=models.RESTRICT, related_name="+")
    purpose = models.ForeignKey(Purpose, on_delete=models.RESTRICT, related_name="+")
    channel = models.CharField(max_length=8, choices=CHANNELS)
    action = models.CharField(max_length=16, choices=Action.choices)
    expressed_by = models.CharField(max_length=16, choices=ExpressedBy.choices)
    guardian = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    staff_user_id = models.UUIDField(null=True, blank=True)  # not a foreign key: the row never changes
    method = models.CharField(max_length=16, choices=Method.choices)
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.RESTRICT, related_name="+")
    notice_version = models.PositiveIntegerField(null=True, blank=True)
    notice_sha256 = models.CharField(max_length=64, blank=True)
    language = models.CharField(max_length=8, choices=LANGUAGES)
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField()
    valid_until = models.DateTimeField(null=True, blank=True)
    event_ref = models.CharField(max_length=200, blank=True)
    evidence = EncryptedTextField()  # JSON, sealed with the contact's data key
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = models.Manager.from_queryset(AppendOnlyQuerySet)()
    unscoped = models.Manager.from_queryset(AppendOnlyUnscopedQuerySet)()

    class Meta(TenantModel.Meta):
        ordering = ["organisation", "seq"]
        constraints = [models.UniqueConstraint(fields=["organisation", "seq"], name="consent_ledger_seq_unique")]
        indexes = [
            models.Index(fields=["organisation", "contact", "purpose", "channel"], name="consent_event_subject_idx"),
        ]

    def __str__(self):
        return f"consent event {self.seq} of organisation {self.organisation_id}"

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("consent events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("consent events are deleted only by retention")

    @property
    def consent_track(self) -> str:
        return "guardian" if self.expressed_by == self.ExpressedBy.GUARDIAN else "subject"


class ConsentState(TenantModel):
    """The current state of one contact × purpose × channel: a projection of the ledger (R-10).

    The person's own decisions are in `status`/`valid_until`/`event_ref`; for a consent purpose, a
    guardian's decisions for a minor are in `guardian_status`/`guardian_valid_until` (R-14)."""

    contact = models.ForeignKey("contacts.Contact", on_delete=models.CASCADE, related_name="+")
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=CHANNELS)
    status = models.CharField(max_length=16, choices=CONSENT_STATUSES, default=ConsentStatus.NONE)
    valid_until = models.DateTimeField(null=True, blank=True)
    event_ref = models.CharField(max_length=200, blank=True)
    last_event = models.ForeignKey(ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_occurred_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.BigIntegerField(default=0)
    guardian_status = models.CharField(max_length=16, choices=CONSENT_STATUSES, default=ConsentStatus.NONE)
    guardian_valid_until = models.DateTimeField(null=True, blank=True)
    guardian_event = models.ForeignKey(ConsentEvent, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="+")
    guardian_occurred_at = models.DateTimeField(null=True, blank=True)
    guardian_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["contact", "purpose", "channel"], name="consent_state_unique"),
        ]
        indexes = [
            models.Index(fields=["organisation", "purpose", "channel", "status"], name="consent_state_audience_idx"),
            models.Index(fields=["status", "valid_until"], name="consent_state_expiry_idx"),
        ]

    def __str__(self):
        return f"{self.contact_id} {self.purpose_id} {self.channel}: {self.status}"


class Information(TenantModel):
    """R-04: a notice version given to a contact, or to a whole import batch with its stated source."""

    class Method(models.TextChoices):
        WEB_FORM = "web_form", _("Web form")
        PAPER_FORM = "paper_form", _("Paper form")
        IN_PERSON = "in_person", _("In person, at the desk")
        PHONE_CALL = "phone_call", _("Phone call")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        API = "api", _("Integration (API)")
        IMPORT = "import", _("Import (stated source)")

    contact = models.ForeignKey("contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    import_batch_id = models.UUIDField(null=True, blank=True)
    purpose = models.ForeignKey(Purpose, on_delete=models.RESTRICT, related_name="+")
    notice = models.ForeignKey(Notice, on_delete=models.RESTRICT, related_name="+")
    notice_version = models.PositiveIntegerField()
    notice_sha256 = models.CharField(max_length=64)
    method = models.CharField(max_length=16, choices=Method.choices)
    source = models.CharField(max_length=300, blank=True)
    informed_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantModel.Meta):
        constraints = [
            models.CheckConstraint(
                condition=models.Q(contact__isnull=False) | models.Q(import_batch_id__isnull=False),
                name="information_has_a_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["organisation", "contact", "purpose"], name="information_contact_idx"),
            models.Index(fields=["organisation", "import_batch_id", "purpose"], name="information_batch_idx"),
        ]

    def __str__(self):
        return f"information {self.pk} ({self.purpose_id})"
