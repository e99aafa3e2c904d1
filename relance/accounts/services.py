"""Every write on organisations, sites, users, memberships and API keys, each with its audit event."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.keystore import services as keys
from relance.lib.crypto import normalise_email
from relance.lib.phone import PhoneError, to_e164

from .models import ApiKey, Membership, Organisation, Role, Site, User
from .permissions import API_SCOPES

KEY_TOUCH_INTERVAL = timedelta(minutes=1)
ORG_FIELDS = {"name", "kind", "country", "time_zone", "languages", "processes_health_data",
              "electronic_communications_provider", "paused"}
DPO_FIELDS = {"dpo_name", "dpo_email", "dpo_phone"}


# --- organisations and sites ---------------------------------------------------------------
def _clean_dpo(country: str, changes: dict) -> dict:
    cleaned = {}
    for field in DPO_FIELDS & changes.keys():
        value = (changes[field] or "").strip() or None
        if value and field == "dpo_email":
            validate_email(value)
            value = normalise_email(value)
        if value and field == "dpo_phone":
            try:
                value = to_e164(value, country)
            except PhoneError as exc:
                raise ValidationError({"dpo_phone": [str(exc)]})
        cleaned[field] = value
    return cleaned


def _validate_org(org: Organisation) -> None:
    import zoneinfo

    errors = {}
    if org.kind not in Organisation.Kind.values:
        errors["kind"] = [_("Choose one of: %s.") % ", ".join(Organisation.Kind.values)]
    if org.time_zone not in zoneinfo.available_timezones():
        errors["time_zone"] = [_("Unknown time zone %(tz)s.") % {"tz": org.time_zone}]
    if not (isinstance(org.languages, list) and org.languages and set(org.languages) <= {"fr", "en"}):
        errors["languages"] = [_("Give one or more of: fr, en.")]
    if len(org.country or "") != 2:
        errors["country"] = [_("Use the two-letter country code (FR, BE…).")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def create_organisation(*, actor: Actor, name: str, slug: str, kind: str, country: str = "FR",
                        time_zone: str = "Europe/Paris", languages=None, processes_health_data=False,
                        **dpo) -> Organisation:
    if Organisation.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [_("This short name is already taken.")]})
    org = Organisation(name=name, slug=slug, kind=kind, country=country.upper(), time_zone=time_zone,
                       languages=languages or ["fr", "en"], processes_health_data=processes_health_data)
    _validate_org(org)
    org.save()
    keys.ensure_scope(org.crypto_scope())
    for field, value in _clean_dpo(org.country, dpo).items():
        setattr(org, field, value)
    org.save()
    audit.record(org, actor, "organisation.created", target=org, details={"kind": kind})
    return org


@transaction.atomic
def update_organisation(org: Organisation, *, actor: Actor, **changes) -> Organisation:
    unknown = set(changes) - ORG_FIELDS - DPO_FIELDS
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed.")] for field in unknown})
    for field in ORG_FIELDS & changes.keys():
        setattr(org, field, changes[field])
    for field, value in _clean_dpo(org.country, changes).items():
        setattr(org, field, value)
    _validate_org(org)
    org.save()
    audit.record(org, actor, "organisation.updated", target=org, details={"fields": sorted(changes)})
    return org


@transaction.atomic
def create_site(org: Organisation, *, actor: Actor, name: str, code: str, address: str = "") -> Site:
    if Site.objects.for_org(org).filter(code=code).exists():
        raise ValidationError({"code": [_("A site with this code already exists.")]})
    site = Site.objects.create(organisation=org, name=name, code=code, address=address)
    audit.record(org, actor, "site.created", target=site)
    return site


@transaction.atomic
def update_site(site: Site, *, actor: Actor, **changes) -> Site:
    for field in {"name", "address"} & changes.keys():
        setattr(site, field, changes[field])
    site.save()
    audit.record(site.organisation, actor, "site.updated", target=site, details={"fields": sorted(changes)})
    return site


# --- users and memberships -----------------------------------------------------------------
def email_index(email: str) -> str:
    return keys.blind_index(keys.PLATFORM_SCOPE, "email", normalise_email(email))


def find_user_by_email(email: str) -> User | None:
    return User.objects.filter(email_index=email_index(email)).first()


@transaction.atomic
def create_user(*, actor: Actor, email: str, password: str | None, full_name: str = "",
                language: str = "fr", is_platform_admin: bool = False) -> User:
    validate_email(email)
    if find_user_by_email(email):
        raise ValidationError({"email": [_("A user with this e-mail address already exists.")]})
    user = User(email_index=email_index(email), language=language, is_platform_admin=is_platform_admin)
    user.email, user.full_name = normalise_email(email), full_name
    if password:
        validate_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit.record(None, actor, "user.created", target=user)
    return user


@transaction.atomic
def change_password(user: User, *, actor: Actor, password: str) -> None:
    validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(None, actor, "user.password_changed", target=user)


@transaction.atomic
def add_member(org: Organisation, user: User, role: str, *, actor: Actor) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [_("Choose one of: %s.") % ", ".join(Role.values)]})
    if Membership.objects.for_org(org).filter(user=user).exists():
        raise ValidationError({"user": [_("This user is already a member of the organisation.")]})
    membership = Membership.objects.create(organisation=org, user=user, role=role)
    audit.record(org, actor, "member.added", target=membership, details={"user": str(user.pk), "role": role})
    return membership


@transaction.atomic
def change_role(membership: Membership, role: str, *, actor: Actor) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": [_("Choose one of: %s.") % ", ".join(Role.values)]})
    _keep_one_admin(membership, new_role=role)
    old, membership.role = membership.role, role
    membership.save(update_fields=["role"])
    audit.record(membership.organisation, actor, "member.role_changed", target=membership,
                 details={"from": old, "to": role})
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, actor: Actor) -> None:
    _keep_one_admin(membership, new_role=None)
    org = membership.organisation
    audit.record(org, actor, "member.removed", target=membership, details={"user": str(membership.user_id)})
    membership.delete()


def _keep_one_admin(membership: Membership, new_role: str | None) -> None:
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    admins = Membership.objects.for_org(membership.organisation).filter(role=Role.ADMIN).count()
    if admins <= 1:
        raise ValidationError({"role": [_("An organisation keeps at least one administrator.")]})


def memberships_of(user: User):
    return Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name")


# --- API keys ------------------------------------------------------------------------------
def _hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy: a fast hash is enough and keeps authentication cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def create_api_key(org: Organisation, *, actor: Actor, name: str, scopes: list[str],
                   created_by: User | None = None) -> tuple[ApiKey, str]:
    """Returns the key and its full secret, which is shown once and never stored."""
    unknown = sorted(set(scopes) - API_SCOPES.keys())
    if unknown:
        raise ValidationError({"scopes": [_("Unknown scopes: %s.") % ", ".join(unknown)]})
    if not name.strip():
        raise ValidationError({"name": [_("Give the key a name, e.g. the software that will use it.")]})
    # The prefix starts with a letter so that it never reads as a number anywhere (logs, audit details).
    prefix, secret = "k" + secrets.token_hex(5), secrets.token_urlsafe(32)
    key = ApiKey.objects.create(organisation=org, name=name.strip(), prefix=prefix,
                                secret_hash=_hash_secret(secret), scopes=sorted(set(scopes)),
                                created_by=created_by)
    audit.record(org, actor, "apikey.created", target=key, details={"prefix": prefix, "scopes": key.scopes})
    return key, f"rlk_{prefix}_{secret}"


@transaction.atomic
def revoke_api_key(key: ApiKey, *, actor: Actor) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit.record(key.organisation, actor, "apikey.revoked", target=key, details={"prefix": key.prefix})
    return key


def authenticate_api_key(raw: str) -> ApiKey | None:
    """The key for a presented secret, or None; records its last use (at most once a minute)."""
    parts = (raw or "").strip().split("_")
    if len(parts) < 3 or parts[0] != "rlk":
        return None
    prefix, secret = parts[1], "_".join(parts[2:])
    key = ApiKey.unscoped.select_related("organisation").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.secret_hash, _hash_secret(secret)) or key.revoked_at:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > KEY_TOUCH_INTERVAL:
        ApiKey.unscoped.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
