"""The controller's profile for the Art. 30 register (R-70): identity and contact details beyond the
organisation row, and the organisation's own security measures. One row per organisation, created
on the first change. The DPO's details stay on Organisation (sealed) and change through
`relance.accounts.services.update_organisation`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.lib.phone import PhoneError, to_e164

from .models import ControllerProfile

TEXT_FIELDS = ("legal_name", "address", "contact_email", "contact_phone", "registration_number",
               "representative", "joint_controllers", "security_measures")
FIELDS = (*TEXT_FIELDS, "webhook_events_enabled")


def get_controller_profile(org) -> ControllerProfile:
    """The organisation's profile, or an unsaved empty one (nothing recorded yet)."""
    profile = ControllerProfile.objects.for_org(org).first()
    return profile or ControllerProfile(organisation=org)


def _max_length(name: str) -> int | None:
    return ControllerProfile._meta.get_field(name).max_length


def _clean_text(org, name: str, value, errors: dict) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = [_("Give a text value.")]
        return ""
    value = value.strip()
    limit = _max_length(name)
    if limit and len(value) > limit:
        errors[name] = [_("Give at most %(max)d characters.") % {"max": limit}]
    elif value and name == "contact_email":
        try:
            validate_email(value)
        except ValidationError:
            errors[name] = [_("Give a valid e-mail address, e.g. dpo@example.org.")]
    elif value and name == "contact_phone":
        try:
            value = to_e164(value, org.country)
        except PhoneError as exc:
            errors[name] = [str(exc)]
    return value


def clean_profile_fields(org, fields: dict) -> dict:
    """Checked and normalised values; a ValidationError lists every bad or unknown field at once."""
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for name, value in fields.items():
        if name not in FIELDS:
            errors[name] = [_("This field is unknown or cannot be changed.")]
        elif name == "webhook_events_enabled":
            if not isinstance(value, bool):
                errors[name] = [_("Give true or false.")]
            cleaned[name] = value
        else:
            cleaned[name] = _clean_text(org, name, value, errors)
    if errors:
        raise ValidationError(errors)
    return cleaned


@transaction.atomic
def set_controller_profile(org, *, actor: Actor, **fields) -> ControllerProfile:
    """Change some fields of the controller profile (the others stay); audited with the field names only."""
    cleaned = clean_profile_fields(org, fields)
    profile = ControllerProfile.objects.for_org(org).select_for_update().first()
    created = profile is None
    profile = profile or ControllerProfile(organisation=org)
    changed = sorted(name for name, value in cleaned.items() if getattr(profile, name) != value)
    for name, value in cleaned.items():
        setattr(profile, name, value)
    if created or changed:
        profile.save()
        audit.record(org, actor, "privacy.controller_profile_updated", target=profile,
                     details={"fields": changed, "created": created})
    return profile
