"""Rules across a contact's fields, checked on the contact as it will be saved: minor flag against
birth date, unique external reference, guardians (same organisation, an adult, no circle)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation

from .models import Contact
from .validation import is_minor, minor_conflict

MAX_GUARDIAN_DEPTH = 50


def ref_taken(org: Organisation, ref_index: str, own_pk) -> bool:
    return Contact.objects.for_org(org).filter(external_ref_index=ref_index).exclude(pk=own_pk).exists()


def check(contact: Contact, values: dict, errors: dict[str, list[str]]) -> None:
    """Rules across fields, on the contact as it will be, added to the fields' own problems (a field
    that is already wrong is not judged again); raises with every problem at once."""
    errors = dict(errors)
    if not {"birth_date", "minor"} & errors.keys():
        birth_date, minor = contact.birth_date, contact.minor
        if minor_conflict(birth_date, minor):
            field = "minor" if "minor" in values else "birth_date"
            errors[field] = [_("This contradicts the birth date: leave one of the two empty or correct it.")]
        elif not contact._state.adding and is_minor(birth_date, minor) and _has_wards(contact):
            field = "birth_date" if "birth_date" in values else "minor"
            errors[field] = [_("This contact is the guardian of other contacts, so cannot be a minor.")]
    if "external_ref" not in errors and contact.external_ref_index and ref_taken(
            contact.organisation, contact.external_ref_index, contact.pk):
        errors["external_ref"] = [_("Another contact already has this external reference.")]
    if {"guardian", "guardian_relation"} & values.keys() and not {"guardian", "guardian_relation"} & errors.keys():
        errors.update(guardian_errors(contact, contact.guardian, contact.guardian_relation))
    if errors:
        raise ValidationError(errors)


def _has_wards(contact: Contact) -> bool:
    return Contact.objects.for_org(contact.organisation_id).filter(guardian_id=contact.pk).exists()


def guardian_errors(contact: Contact, guardian: Contact | None, relation: str) -> dict[str, list[str]]:
    if guardian is None:
        return {"guardian_relation": [_("There is no guardian: leave the relation empty.")]} if relation else {}
    errors = {}
    if not relation:
        errors["guardian_relation"] = [_("Say how the guardian is related to the contact: %(choices)s.")
                                       % {"choices": ", ".join(Contact.Relation.values)}]
    if guardian.pk == contact.pk:
        errors["guardian"] = [_("A contact cannot be their own guardian.")]
    elif not contact._state.adding and _is_ancestor(contact, guardian):
        errors["guardian"] = [_("This would make a circle: this contact is already a guardian of the chosen one.")]
    elif guardian.status in (Contact.Status.DECEASED, Contact.Status.ERASED):
        errors["guardian"] = [_("This contact cannot be a guardian: it is deceased or erased.")]
    elif is_minor(guardian.birth_date, guardian.minor):
        errors["guardian"] = [_("A guardian must be an adult: the chosen contact is a minor.")]
    return errors


def _is_ancestor(contact: Contact, guardian: Contact) -> bool:
    """True when `contact` is found walking up from `guardian` through its guardians."""
    seen, current = set(), guardian.guardian_id
    contacts = Contact.objects.for_org(contact.organisation_id)
    while current is not None and current not in seen and len(seen) < MAX_GUARDIAN_DEPTH:
        if current == contact.pk:
            return True
        seen.add(current)
        current = contacts.filter(pk=current).values_list("guardian_id", flat=True).first()
    return False
