"""Contacts: every write (one transaction, one audit event with ids only) and every read of
personal data (R-65).

Reading a contact's personal data for a person or a program goes through `read_personal_data()`,
which writes `contact.read`; finding contacts goes through `find_by_*()` / `lookup()`, which write
`contact.lookup` (the kind of index used, never the value), found or not. The services themselves
decrypt internally for their own checks (is the guardian an adult? did the phone change?); nothing
of it leaves them.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.keystore import services as keys
from relance.keystore.services import org_scope

from . import rules, validation
from .models import Contact, SuppressionEntry
from .validation import EDITABLE_FIELDS, PERSONAL_FIELDS, clean_each, clean_fields

PERMANENT_FAILURES_LIMIT = 3
LOOKUP_LIMIT = 100
INDEXED = {"phone": "phone_index", "email": "email_index", "external_ref": "external_ref_index",
           "last_name": "last_name_index"}
PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_.]{0,39}$")
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
DELIVERY = Actor.system("delivery")


def index_for(org: Organisation, kind: str, normalised: str | None) -> str | None:
    """The keyed hash (R-61) stored beside a sealed value; None for no value."""
    if normalised is None:
        return None
    return keys.blind_index(org_scope(org.pk), kind, normalised)


def name_key(value: str | None) -> str | None:
    """A last name as people type it in a search box: no accents, no case, words separated by one
    space ("Le Bihan-Éon" and "le bihan eon" match). None when nothing is left."""
    if not value:
        return None
    plain = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().casefold()
    return " ".join(re.findall(r"[a-z0-9]+", plain)) or None


NORMALISED = {"last_name": name_key}  # how an indexed value is put in the index, when not as cleaned


def _index_value(org: Organisation, name: str, value: str | None) -> str | None:
    return index_for(org, name, NORMALISED.get(name, lambda v: v)(value))


def _apply(contact: Contact, values: dict) -> None:
    """Set cleaned values on the instance, with the indexes of the indexed ones."""
    org = contact.organisation
    for name, value in values.items():
        setattr(contact, name, value)
        if name in INDEXED:
            setattr(contact, INDEXED[name], _index_value(org, name, value))


def _save(contact: Contact, **kwargs) -> None:
    """Save, turning the external-reference uniqueness race into the same error as the check."""
    try:
        with transaction.atomic():
            contact.save(**kwargs)
    except IntegrityError:
        if contact.external_ref_index and rules.ref_taken(contact.organisation, contact.external_ref_index, contact.pk):
            raise ValidationError({"external_ref": [_("Another contact already has this external reference.")]})
        raise


# --- create and update ---------------------------------------------------------------------
@transaction.atomic
def create_contact(org: Organisation, *, actor: Actor, first_name="", last_name="", phone=None, email=None,
                   birth_date=None, minor=None, external_ref=None, language=None, site=None, guardian=None,
                   guardian_relation="", source="staff") -> Contact:
    """A new contact. Duplicates by phone or e-mail are allowed (families share a number): see
    find_duplicates(). A number on the suppression list may be stored too (R-31 applies at sending)."""
    values, errors = clean_each(org, {
        "first_name": first_name, "last_name": last_name, "phone": phone, "email": email,
        "birth_date": birth_date, "minor": minor, "external_ref": external_ref, "language": language,
        "site": site, "guardian": guardian, "guardian_relation": guardian_relation, "source": source,
    })
    contact = Contact(organisation=org, last_activity_at=timezone.now())
    _apply(contact, values)
    rules.check(contact, values, errors)
    _save(contact)
    audit.record(org, actor, "contact.created", target=contact,
                 details={"source": contact.source, "fields": sorted(n for n in PERSONAL_FIELDS if values[n] is not None)})
    return contact


def _locked(contact: Contact) -> Contact:
    """The contact's row, locked until the end of the transaction, with its current values."""
    contacts = Contact.objects.for_org(contact.organisation_id).select_related("organisation")
    return contacts.select_for_update(of=("self",)).get(pk=contact.pk)


def _refresh(contact: Contact, fresh: Contact) -> Contact:
    """Copy the saved state into the caller's instance, so that it sees the change."""
    for name in [name for name in contact.__dict__ if name.startswith("_sealed_clear_")]:
        del contact.__dict__[name]
    contact.__dict__.update(fresh.__dict__)
    return contact


@transaction.atomic
def update_contact(contact: Contact, *, actor: Actor, **changes) -> Contact:
    """Change the given fields (same rules as creation); the audit names the changed fields only."""
    fresh = _locked(contact)
    _refuse_erased(fresh)
    values, errors = _clean_changes(fresh.organisation, changes)
    if "guardian" in values and values["guardian"] is None and "guardian_relation" not in changes:
        values["guardian_relation"] = ""  # no guardian, no relation
    changed = {name: value for name, value in values.items() if _current(fresh, name) != value}
    if not changed and not errors:
        return _refresh(contact, fresh)
    _apply(fresh, changed)
    if "phone" in changed:  # a new number starts valid again
        fresh.number_valid, fresh.permanent_failures = True, 0
    if "email" in changed:
        fresh.email_valid = True
    rules.check(fresh, changed, errors)
    fresh.last_activity_at = timezone.now()
    _save(fresh)
    audit.record(fresh.organisation, actor, "contact.updated", target=fresh, details={"fields": sorted(changed)})
    return _refresh(contact, fresh)


def _clean_changes(org: Organisation, changes: dict) -> tuple[dict, dict[str, list[str]]]:
    """Like clean_each(); the source of a contact, and anything else not editable, cannot change."""
    values, errors = clean_each(org, {name: value for name, value in changes.items() if name in EDITABLE_FIELDS})
    for name in changes.keys() - set(EDITABLE_FIELDS):
        errors[name] = [_("This field is unknown or cannot be changed.")]
    return values, errors


def _current(contact: Contact, name: str):
    if name in ("site", "guardian"):
        return getattr(contact, f"{name}_id")
    return getattr(contact, name)


def _refuse_erased(contact: Contact) -> None:
    if contact.status == Contact.Status.ERASED:
        raise ValidationError({"status": [_("This contact was erased: nothing can be changed.")]})


@transaction.atomic
def link_guardian(contact: Contact, guardian: Contact | None, relation: str = "", *, actor: Actor) -> Contact:
    """Set (or, with None, remove) the contact's guardian: same organisation, an adult, no circle."""
    fresh = _locked(contact)
    _refuse_erased(fresh)
    values = clean_fields(fresh.organisation, {"guardian": guardian, "guardian_relation": relation})
    errors = rules.guardian_errors(fresh, values["guardian"], values["guardian_relation"])
    if errors:
        raise ValidationError(errors)
    fresh.guardian, fresh.guardian_relation = values["guardian"], values["guardian_relation"]
    fresh.save(update_fields=["guardian", "guardian_relation", "updated_at"])
    if fresh.guardian_id:
        audit.record(fresh.organisation, actor, "contact.guardian_linked", target=fresh,
                     details={"guardian": str(fresh.guardian_id), "relation": fresh.guardian_relation})
    else:
        audit.record(fresh.organisation, actor, "contact.guardian_unlinked", target=fresh)
    return _refresh(contact, fresh)


# --- statuses (R-44, R-45) -----------------------------------------------------------------
def _set_status(contact: Contact, status: str, *, allowed_from: set[str], error: str, actor: Actor,
                action: str) -> Contact:
    fresh = _locked(contact)
    if fresh.status == status:
        return _refresh(contact, fresh)
    if fresh.status not in allowed_from:
        raise ValidationError({"status": [error]})
    previous, fresh.status, fresh.status_changed_at = fresh.status, status, timezone.now()
    fresh.save(update_fields=["status", "status_changed_at", "updated_at"])
    audit.record(fresh.organisation, actor, action, target=fresh, details={"from": previous, "to": status})
    return _refresh(contact, fresh)


@transaction.atomic
def restrict_contact(contact: Contact, *, actor: Actor) -> Contact:
    """R-44: a restricted contact receives nothing and is shown as restricted."""
    return _set_status(contact, Contact.Status.RESTRICTED, allowed_from={Contact.Status.ACTIVE}, actor=actor,
                       action="contact.restricted", error=_("Only an active contact can be restricted."))


@transaction.atomic
def lift_restriction(contact: Contact, *, actor: Actor) -> Contact:
    return _set_status(contact, Contact.Status.ACTIVE, allowed_from={Contact.Status.RESTRICTED}, actor=actor,
                       action="contact.restriction_lifted", error=_("This contact is not restricted."))


@transaction.atomic
def mark_deceased(contact: Contact, *, actor: Actor) -> Contact:
    """R-45: sending stops at once; `status_changed_at` keeps when, for the erasure policy."""
    return _set_status(contact, Contact.Status.DECEASED,
                       allowed_from={Contact.Status.ACTIVE, Contact.Status.RESTRICTED}, actor=actor,
                       action="contact.deceased", error=_("This contact was erased: nothing can be changed."))


def ensure_data_key(contact: Contact) -> None:
    """Ledger evidence and messages are sealed with the contact's own key: a contact that has no
    sealed field yet gets its key now (concurrent callers agree on one)."""
    if contact.data_key_id is None:
        contact.data_key_id = keys.create_subject_key(contact.crypto_scope())
        Contact.objects.for_org(contact.organisation_id).filter(pk=contact.pk, data_key_id__isnull=True).update(
            data_key_id=contact.data_key_id)
        contact.refresh_from_db(fields=["data_key_id"])


# --- number validity (R-29) ----------------------------------------------------------------
@transaction.atomic
def record_delivery_failure(contact: Contact, *, permanent: bool, actor: Actor = DELIVERY) -> Contact:
    """Count permanent failures; the third one in a row marks the number invalid until rectified."""
    if not permanent:
        return contact
    fresh = _locked(contact)
    fresh.permanent_failures = min(fresh.permanent_failures + 1, 32767)
    fields = ["permanent_failures"]
    invalidated = fresh.number_valid and fresh.permanent_failures >= PERMANENT_FAILURES_LIMIT
    if invalidated:
        fresh.number_valid = False
        fields.append("number_valid")
    fresh.save(update_fields=fields)
    if invalidated:
        audit.record(fresh.organisation, actor, "contact.number_invalidated", target=fresh,
                     details={"failures": fresh.permanent_failures})
    return _refresh(contact, fresh)


@transaction.atomic
def record_delivery_success(contact: Contact) -> Contact:
    """A delivered message resets the count of permanent failures in a row."""
    Contact.objects.for_org(contact.organisation_id).filter(pk=contact.pk, permanent_failures__gt=0).update(
        permanent_failures=0)
    contact.permanent_failures = 0
    return contact


@transaction.atomic
def rectify_phone(contact: Contact, phone, *, actor: Actor) -> Contact:
    """Art. 16 / R-29: the (new or confirmed) number is valid again and its failure count starts over."""
    fresh = _locked(contact)
    _refuse_erased(fresh)
    values = clean_fields(fresh.organisation, {"phone": phone})
    if values["phone"] is None:
        raise ValidationError({"phone": [_("Give the new phone number.")]})
    changed = values["phone"] != fresh.phone
    _apply(fresh, values)
    fresh.number_valid, fresh.permanent_failures, fresh.last_activity_at = True, 0, timezone.now()
    _save(fresh)
    audit.record(fresh.organisation, actor, "contact.phone_rectified", target=fresh, details={"changed": changed})
    return _refresh(contact, fresh)


# --- the suppression list (R-31) -----------------------------------------------------------
def phone_hash(org: Organisation, e164: str) -> str:
    """The keyed hash of a number: the same as Contact.phone_index, so lists and contacts match."""
    return index_for(org, "phone", validation.clean_phone(org, e164, sms=False))


def is_suppressed(org: Organisation, e164: str, channel: str = "sms") -> bool:
    try:
        hashed = phone_hash(org, e164)
    except ValidationError:
        return False
    return SuppressionEntry.objects.for_org(org).filter(channel=channel, phone_hash=hashed).exists()


def suppress_number(org: Organisation, e164: str, *, actor: Actor, reason: str, channel: str = "sms") -> SuppressionEntry:
    try:
        hashed = phone_hash(org, e164)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.messages})
    if hashed is None:
        raise ValidationError({"phone": [_("Give a phone number.")]})
    return suppress_hash(org, hashed, actor=actor, reason=reason, channel=channel)


def suppress_hash(org: Organisation, phone_hash: str, *, actor: Actor, reason: str, channel: str = "sms") -> SuppressionEntry:
    """Put a number's keyed hash on the list (erasure keeps it, R-43); entries are never removed here.
    Checked before anything is written; inside a caller's transaction (a STOP) it adds no savepoint
    of its own besides the one that absorbs a concurrent insert of the same entry."""
    if not HASH_RE.match(phone_hash or ""):
        raise ValueError("phone_hash must be a keyed hash (64 lowercase hex digits), not a number")
    if reason not in SuppressionEntry.Reason.values:
        raise ValidationError({"reason": [_("Choose one of: %(choices)s.")
                                          % {"choices": ", ".join(SuppressionEntry.Reason.values)}]})
    entries = SuppressionEntry.objects.for_org(org)
    with transaction.atomic(savepoint=False):
        entry = entries.filter(channel=channel, phone_hash=phone_hash).first()
        if entry is not None:
            return entry
        try:
            with transaction.atomic():
                entry = SuppressionEntry.objects.create(organisation=org, phone_hash=phone_hash, channel=channel,
                                                        reason=reason)
        except IntegrityError:  # a concurrent STOP for the same number
            return entries.get(channel=channel, phone_hash=phone_hash)
        audit.record(org, actor, "suppression.added", target=entry, details={"reason": reason, "channel": channel})
        return entry


def index_last_names(org: Organisation | None = None, *, batch: int = 500) -> int:
    """Backfill: give every contact created before the last-name index its keyed hash (and clear it
    on erased contacts). Reads only the columns it needs, so that it runs from a migration."""
    rows = (Contact.unscoped.all() if org is None else Contact.objects.for_org(org)).select_related("organisation")
    rows = rows.only("id", "organisation", "data_key_id", "last_name", "status", "last_name_index")
    done = 0
    with transaction.atomic():
        done += rows.filter(status=Contact.Status.ERASED, last_name_index__isnull=False).update(last_name_index=None)
    todo = rows.filter(last_name_index__isnull=True).exclude(status=Contact.Status.ERASED)
    for contact in todo.iterator(chunk_size=batch):
        try:
            hashed = _index_value(contact.organisation, "last_name", contact.last_name)
        except keys.KeyDestroyed:
            continue
        if hashed is not None:
            Contact.unscoped.filter(pk=contact.pk).update(last_name_index=hashed)
            done += 1
    return done


# --- reads: every one audited (R-65) -------------------------------------------------------
def _contact_id(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


@transaction.atomic
def get_contact(org: Organisation, contact_id, *, actor: Actor) -> Contact | None:
    """The organisation's contact with this id, or None (another organisation's contact is None too).
    Returns the sealed object: its personal data is read through read_personal_data(). A miss is
    audited as a lookup by id."""
    pk = _contact_id(contact_id)
    contact = Contact.objects.for_org(org).filter(pk=pk).first() if pk else None
    if contact is None:
        audit.record(org, actor, "contact.lookup", target_type="contacts.contact", target_id=str(pk or ""),
                     details={"kind": "id", "found": 0})
    return contact


def _find(org: Organisation, kind: str, normalised: str | None, *, actor: Actor) -> list[Contact]:
    """The first LOOKUP_LIMIT matches (a switchboard number may be shared by a whole company)."""
    found = []
    if normalised is not None:
        hashed = index_for(org, kind, normalised)
        matches = Contact.objects.for_org(org).filter(**{INDEXED[kind]: hashed}).order_by("created_at", "pk")
        found = list(matches[:LOOKUP_LIMIT])
    details = {"kind": kind, "found": len(found)}
    if len(found) > 1:
        details["contacts"] = [str(c.pk) for c in found]
    audit.record(org, actor, "contact.lookup", target=found[0] if len(found) == 1 else None,
                 target_type="" if len(found) == 1 else "contacts.contact", details=details)
    return found


def _clean_one(org: Organisation, field: str, value):
    try:
        return validation.CLEANERS[field](org, value)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages})


@transaction.atomic
def find_by_phone(org: Organisation, raw, *, actor: Actor) -> list[Contact]:
    """Every contact with this number (family members may share one), by its keyed hash."""
    return _find(org, "phone", _clean_one(org, "phone", raw), actor=actor)


@transaction.atomic
def find_by_email(org: Organisation, raw, *, actor: Actor) -> list[Contact]:
    return _find(org, "email", _clean_one(org, "email", raw), actor=actor)


@transaction.atomic
def find_by_last_name(org: Organisation, raw, *, actor: Actor) -> list[Contact]:
    """Exact last name, whatever its accents, case, hyphens (R-61: by its keyed hash, the only way
    a sealed name can be found). Erased contacts are never found."""
    found = _find(org, "last_name", name_key(_clean_one(org, "last_name", raw)), actor=actor)
    return [contact for contact in found if contact.status != Contact.Status.ERASED]


@transaction.atomic
def find_by_external_ref(org: Organisation, raw, *, actor: Actor) -> Contact | None:
    found = _find(org, "external_ref", _clean_one(org, "external_ref", raw), actor=actor)
    return found[0] if found else None


def lookup(org: Organisation, *, actor: Actor, phone=None, email=None, external_ref=None) -> list[Contact]:
    """Exactly one of phone, email or external_ref (the API's lookup)."""
    given = {name: value for name, value in
             {"phone": phone, "email": email, "external_ref": external_ref}.items() if value not in (None, "")}
    if len(given) != 1:
        message = _("Give exactly one of phone, email or external_ref.")
        raise ValidationError({name: [message] for name in (given or ("phone", "email", "external_ref"))})
    (kind, value), = given.items()
    if kind == "external_ref":
        found = find_by_external_ref(org, value, actor=actor)
        return [found] if found else []
    return (find_by_phone if kind == "phone" else find_by_email)(org, value, actor=actor)


def find_duplicates(org: Organisation, *, phone=None, email=None) -> list[Contact]:
    """Contacts sharing this phone or e-mail (allowed, but worth showing before creating one more)."""
    hashes = {}
    for kind, raw in (("phone", phone), ("email", email)):
        try:
            hashes[INDEXED[kind]] = index_for(org, kind, validation.CLEANERS[kind](org, raw))
        except ValidationError:
            continue
    query = Q()
    for column, hashed in hashes.items():
        if hashed is not None:
            query |= Q(**{column: hashed})
    if not query:
        return []
    return list(Contact.objects.for_org(org).filter(query).order_by("created_at", "pk"))


@transaction.atomic
def read_personal_data(contact: Contact, *, actor: Actor, purpose: str = "view") -> dict:
    """THE door to a contact's clear personal fields: writes `contact.read` (R-65)."""
    if not PURPOSE_RE.match(purpose):
        raise ValueError("purpose is a short code such as 'view' or 'api.get'")
    audit.record(contact.organisation, actor, "contact.read", target=contact, details={"purpose": purpose})
    if contact.status == Contact.Status.ERASED:
        return dict.fromkeys(PERSONAL_FIELDS)
    data = {name: getattr(contact, name) for name in PERSONAL_FIELDS}
    data["minor"] = None if data["minor"] is None else data["minor"] == "yes"
    return data


@transaction.atomic
def read_personal_data_of_many(found: list[Contact], *, actor: Actor, purpose: str = "list") -> dict:
    """A page of contacts in clear (a list, search results): ONE `contact.read` naming them all."""
    if not PURPOSE_RE.match(purpose):
        raise ValueError("purpose is a short code such as 'view' or 'api.get'")
    if not found:
        return {}
    audit.record(found[0].organisation, actor, "contact.read", target_type="contacts.contact", details={
        "purpose": purpose, "count": len(found), "contacts": [str(contact.pk) for contact in found]})
    data = {}
    for contact in found:
        erased = contact.status == Contact.Status.ERASED
        data[contact.pk] = {name: None if erased else getattr(contact, name) for name in ("first_name", "last_name",
                                                                                         "phone", "email")}
    return data


__all__ = [
    "EDITABLE_FIELDS", "PERSONAL_FIELDS", "create_contact", "update_contact", "link_guardian", "restrict_contact",
    "lift_restriction", "mark_deceased", "record_delivery_failure", "record_delivery_success", "rectify_phone",
    "is_suppressed", "suppress_number", "suppress_hash", "get_contact", "find_by_phone", "find_by_email",
    "find_by_external_ref", "lookup", "find_duplicates", "read_personal_data",
    "find_by_last_name", "index_last_names", "read_personal_data_of_many", "name_key",
]
