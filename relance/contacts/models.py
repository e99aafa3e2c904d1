import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.accounts.tenancy import TenantModel
from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import org_scope


class Contact(SealedModel, TenantModel):
    """A data subject of one organisation. Every personal field is sealed with the contact's own
    data key (R-60); lookups go through keyed-hash indexes (R-61). Destroying the key erases it."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        RESTRICTED = "restricted", _("Restricted")
        DECEASED = "deceased", _("Deceased")
        ERASED = "erased", _("Erased")

    class Relation(models.TextChoices):
        PARENT = "parent", _("Parent")
        LEGAL_GUARDIAN = "legal_guardian", _("Legal guardian")
        RELATIVE = "relative", _("Relative")
        PROXY = "proxy", _("Proxy")

    class Source(models.TextChoices):
        STAFF = "staff", _("Entered by staff")
        API = "api", _("Integration (API)")
        IMPORT = "import", _("Import")
        WEB_FORM = "web_form", _("Public form")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    site = models.ForeignKey("accounts.Site", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    first_name = EncryptedTextField()
    last_name = EncryptedTextField()
    phone = EncryptedTextField()  # E.164
    email = EncryptedTextField()  # normalised (lower case)
    birth_date = EncryptedTextField()  # ISO date
    minor = EncryptedTextField()  # "yes" / "no" when the birth date is unknown
    external_ref = EncryptedTextField()  # the integrator's id for this person
    phone_index = models.CharField(max_length=64, null=True, blank=True)
    email_index = models.CharField(max_length=64, null=True, blank=True)
    external_ref_index = models.CharField(max_length=64, null=True, blank=True)
    last_name_index = models.CharField(max_length=64, null=True, blank=True)  # normalised last name (search)
    language = models.CharField(max_length=8, default="fr")
    guardian = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="wards")
    guardian_relation = models.CharField(max_length=16, choices=Relation.choices, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    number_valid = models.BooleanField(default=True)
    permanent_failures = models.PositiveSmallIntegerField(default=0)
    email_valid = models.BooleanField(default=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.STAFF)
    import_batch_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["organisation", "phone_index"], name="contact_phone_idx"),
            models.Index(fields=["organisation", "email_index"], name="contact_email_idx"),
            models.Index(fields=["organisation", "last_name_index"], name="contact_last_name_idx"),
            models.Index(fields=["organisation", "status"], name="contact_status_idx"),
            models.Index(fields=["organisation", "last_activity_at"], name="contact_activity_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "external_ref_index"], name="contact_external_ref_unique",
                                    condition=models.Q(external_ref_index__isnull=False)),
        ]

    def __str__(self):
        return f"contact {self.pk}"

    def crypto_scope(self) -> str:
        return org_scope(self.organisation_id)


class SuppressionEntry(TenantModel):
    """R-31: a number (as its keyed hash, the same as Contact.phone_index) that must never be
    re-enrolled for SMS by this organisation. It outlives the contact's erasure on purpose."""

    class Reason(models.TextChoices):
        STOP = "stop", _("STOP received")
        OBJECTION = "objection", _("Objection recorded")
        ERASURE = "erasure", _("Kept after erasure")

    phone_hash = models.CharField(max_length=64)
    channel = models.CharField(max_length=8, default="sms")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "channel", "phone_hash"], name="suppression_unique"),
        ]
        # A number's entries on every channel (the access export, R-42): suppression_unique has the
        # channel in between.
        indexes = [models.Index(fields=["organisation", "phone_hash"], name="suppression_hash_idx")]
