"""Cleaning a contact's fields: each value checked and normalised, every problem reported at once.

Messages never repeat the value they refuse (R-61: no personal data in error reports or logs).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation, Site
from relance.lib.crypto import normalise_email
from relance.lib.phone import PhoneError, to_e164

from .models import Contact

PERSONAL_FIELDS = ("first_name", "last_name", "phone", "email", "birth_date", "minor", "external_ref")
OTHER_FIELDS = ("language", "site", "guardian", "guardian_relation")
EDITABLE_FIELDS = PERSONAL_FIELDS + OTHER_FIELDS
NAME_MAX = 200
REF_MAX = 200
PHONE_MAX = 64
EMAIL_MAX = 254
ADULT_AGE = 18
OLDEST_BIRTH = date(1900, 1, 1)


def today() -> date:
    return timezone.localdate()


def _text(value, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(_("Give a text value."))
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError(_("Give at most %(max)d characters.") % {"max": max_length})
    return value or None


def clean_name(org: Organisation, value) -> str | None:
    return _text(value, NAME_MAX)


def clean_phone(org: Organisation, value, *, sms: bool = True) -> str | None:
    """E.164 from what people type, read with the organisation's country as default region."""
    value = _text(value, PHONE_MAX)
    if value is None:
        return None
    try:
        return to_e164(value, org.country, sms=sms)
    except PhoneError as exc:
        raise ValidationError(str(exc))


def clean_email(org: Organisation, value) -> str | None:
    value = _text(value, EMAIL_MAX)
    if value is None:
        return None
    try:
        validate_email(value)
    except ValidationError:
        raise ValidationError(_("This is not a valid e-mail address."))
    return normalise_email(value)


def clean_birth_date(org: Organisation, value) -> str | None:
    """A date or an ISO string (YYYY-MM-DD); stored as ISO text."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise ValidationError(_("Give the birth date as YYYY-MM-DD."))
    if not isinstance(value, date):
        raise ValidationError(_("Give the birth date as YYYY-MM-DD."))
    if value > today():
        raise ValidationError(_("The birth date cannot be in the future."))
    if value < OLDEST_BIRTH:
        raise ValidationError(_("The birth date cannot be before 1900."))
    return value.isoformat()


def clean_minor(org: Organisation, value) -> str | None:
    """True/False, stored as "yes"/"no"; meant for when the birth date is unknown."""
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ValidationError(_("Give true or false."))
    return "yes" if value else "no"


def clean_external_ref(org: Organisation, value) -> str | None:
    return _text(value, REF_MAX)


def clean_language(org: Organisation, value) -> str:
    if value is None or value == "":
        return org.default_language
    if value not in (org.languages or [org.default_language]):
        raise ValidationError(_("Choose one of the organisation's languages: %(languages)s.")
                              % {"languages": ", ".join(org.languages or [org.default_language])})
    return value


def clean_site(org: Organisation, value) -> Site | None:
    """A site of the organisation, given as the object or its id."""
    if value is None or value == "":
        return None
    pk = value.pk if isinstance(value, Site) else value
    site = None
    if isinstance(pk, int) and not isinstance(pk, bool):
        site = Site.objects.for_org(org).filter(pk=pk).first()
    if site is None:
        raise ValidationError(_("No such site in your organisation."))
    return site


def clean_guardian(org: Organisation, value) -> Contact | None:
    """A contact of the same organisation, given as the object or its id."""
    if value is None or value == "":
        return None
    guardian = None
    if isinstance(value, Contact):
        guardian = value if value.organisation_id == org.pk else None
    else:
        try:
            pk = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
        except ValueError:
            pk = None
        if pk is not None:
            guardian = Contact.objects.for_org(org).filter(pk=pk).first()
    if guardian is None:
        raise ValidationError(_("No such contact in your organisation."))
    return guardian


def clean_relation(org: Organisation, value) -> str:
    if value is None or value == "":
        return ""
    if value not in Contact.Relation.values:
        raise ValidationError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(Contact.Relation.values)})
    return value


def clean_source(org: Organisation, value) -> str:
    if value not in Contact.Source.values:
        raise ValidationError(_("Choose one of: %(choices)s.") % {"choices": ", ".join(Contact.Source.values)})
    return value


CLEANERS = {
    "first_name": clean_name,
    "last_name": clean_name,
    "phone": clean_phone,
    "email": clean_email,
    "birth_date": clean_birth_date,
    "minor": clean_minor,
    "external_ref": clean_external_ref,
    "language": clean_language,
    "site": clean_site,
    "guardian": clean_guardian,
    "guardian_relation": clean_relation,
    "source": clean_source,
}


def clean_fields(org: Organisation, values: dict) -> dict:
    """Every given field cleaned; a ValidationError naming EVERY bad or unknown field otherwise."""
    cleaned, errors = clean_each(org, values)
    if errors:
        raise ValidationError(errors)
    return cleaned


def clean_each(org: Organisation, values: dict) -> tuple[dict, dict[str, list[str]]]:
    """The fields that are right, cleaned, and the messages of those that are not."""
    cleaned, errors = {}, {}
    for name, value in values.items():
        cleaner = CLEANERS.get(name)
        if cleaner is None:
            errors[name] = [_("This field is unknown or cannot be changed.")]
            continue
        try:
            cleaned[name] = cleaner(org, value)
        except ValidationError as exc:
            errors[name] = exc.messages
    return cleaned, errors


# --- age ------------------------------------------------------------------------------------
def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def is_minor(birth_date: str | None, minor: str | None, day: date | None = None) -> bool:
    """Under 18 by the birth date when known, else by the minor flag."""
    if birth_date:
        return age_on(date.fromisoformat(birth_date), day or today()) < ADULT_AGE
    return minor == "yes"


def minor_conflict(birth_date: str | None, minor: str | None) -> bool:
    """Both given and they disagree (a minor flag of "yes" for an adult, or the reverse)."""
    if not birth_date or minor is None:
        return False
    return is_minor(birth_date, None) != (minor == "yes")
