import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from relance.keystore.fields import EncryptedTextField, SealedModel
from relance.keystore.services import PLATFORM_SCOPE, org_scope

from .tenancy import TenantManager, TenantModel, TenantQuerySet, UnscopedManager


class Organisation(SealedModel):
    """A tenant: the controller whose data Relance processes (SPEC §2)."""

    class Kind(models.TextChoices):
        HEALTH = "health", _("Medical practice or secretariat")
        OCCUPATIONAL_HEALTH = "occupational_health", _("Occupational-health service")
        LIBRARY = "library", _("Library network")
        ANSWERING_SERVICE = "answering_service", _("Telephone answering service")
        PUBLIC_AUTHORITY = "public_authority", _("Public authority")
        COMPANY = "company", _("Company")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    country = models.CharField(max_length=2, default="FR")
    time_zone = models.CharField(max_length=64, default="Europe/Paris")
    languages = models.JSONField(default=list)
    processes_health_data = models.BooleanField(default=False)
    electronic_communications_provider = models.BooleanField(default=False)
    paused = models.BooleanField(default=False)
    # The DPO is a person: their contact details are sealed like any personal field.
    dpo_name = EncryptedTextField()
    dpo_email = EncryptedTextField()
    dpo_phone = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def crypto_scope(self) -> str:
        return org_scope(self.pk)

    def crypto_row_id(self) -> str:
        return str(self.uid)

    @property
    def default_language(self) -> str:
        return (self.languages or ["fr"])[0]


class Site(TenantModel):
    """A place of an organisation: a library of a network, a practice's address."""

    name = models.CharField(max_length=200)
    code = models.SlugField(max_length=64)
    address = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="site_code_unique")]

    def __str__(self):
        return self.name


class UserManager(BaseUserManager):
    def get_by_natural_key(self, email_index):
        return self.get(email_index=email_index)


class User(SealedModel, AbstractBaseUser):
    """A staff user. Logs in by e-mail; the e-mail is stored sealed with a keyed-hash index."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = EncryptedTextField()
    email_index = models.CharField(max_length=64, unique=True)
    full_name = EncryptedTextField()
    language = models.CharField(max_length=8, default="fr")
    is_active = models.BooleanField(default=True)
    is_platform_admin = models.BooleanField(default=False)
    date_joined = models.DateTimeField(auto_now_add=True)

    objects = UserManager()

    USERNAME_FIELD = "email_index"
    REQUIRED_FIELDS: list[str] = []

    def crypto_scope(self) -> str:
        return PLATFORM_SCOPE

    def __str__(self):
        return f"user {self.pk}"


class Role(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    DPO = "dpo", _("Data protection officer")
    OPERATOR = "operator", _("Operator")
    AUDITOR = "auditor", _("Auditor")


class MembershipQuerySet(TenantQuerySet):
    scope_fields = ("organisation", "user")


class Membership(TenantModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = models.Manager.from_queryset(MembershipQuerySet)()
    unscoped = UnscopedManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.role} of {self.organisation_id}"


class ApiKey(TenantModel):
    """An integrator's key: `rlk_<prefix>_<secret>`; only the prefix and a hash are kept."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantManager()
    unscoped = UnscopedManager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
