"""Erasure by crypto-shredding (R-43), and the deceased (R-45).

`erase_contact()` walks THE list (personal_data.HOLDINGS) with one handler per key, in one
transaction of the main database: rows are deleted, kept rows lose their personal columns, the
contact becomes a tombstone (status "erased", every sealed field and keyed index cleared), the
number's keyed hash stays on the suppression list (R-31), the audit gets counts only and connected
systems get the `contact.erased` webhook (Art. 19). Only after that commit is the subject's data
key destroyed in the key store (another database: it cannot share the transaction). A crash between
the two leaves a tombstone whose `data_key_id` is still set: `destroy_leftover_keys()`, run by the
worker, finishes the job. Once the key is gone, every copy of the main database (backups included)
holds only ciphertext nobody can open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import ConsentEvent, ConsentState, Information
from relance.contacts import services as contacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.keystore import services as keys
from relance.keystore.fields import EncryptedTextField
from relance.lib.logs import looks_personal
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.reminders.models import Event
from relance.webhooks import services as webhooks

from .models import AccessExport, BreachSubject, RightsRequest, VerificationCode
from .personal_data import HOLDINGS

log = logging.getLogger("relance.privacy")

REASONS = ("request", "retention", "deceased", "staff")
BATCH = 100


class AlreadyErased(Exception):
    """Erasing an erased contact changes nothing; the message says so."""

    def __init__(self):
        super().__init__(_("This contact was already erased: nothing of the person is left to erase."))
        self.message = self.args[0]


# --- one handler per holding (personal_data.HOLDINGS); each returns the rows it acted on -------
def _contact(contact: Contact) -> int:
    """The tombstone: every sealed field and keyed index cleared, guardian links removed."""
    sealed = {field.attname: None for field in Contact._meta.concrete_fields if isinstance(field, EncryptedTextField)}
    keyed = {field.attname: None for field in Contact._meta.concrete_fields if field.attname.endswith("_index")}
    rows = Contact.objects.for_org(contact.organisation_id)
    rows.filter(guardian=contact).update(guardian=None, guardian_relation="")
    rows.filter(pk=contact.pk).update(
        **sealed, **keyed, guardian=None, guardian_relation="",
        status=Contact.Status.ERASED, status_changed_at=timezone.now(), updated_at=timezone.now())
    return 1


def _suppression(contact: Contact, actor: Actor) -> int:
    """R-31/R-43: the number's keyed hash stays, so that no later import re-enrols the person."""
    if not contact.phone_index:
        return 0
    contacts.suppress_hash(contact.organisation, contact.phone_index, actor=actor,
                           reason=SuppressionEntry.Reason.ERASURE, channel="sms")
    return 1


def _messages_of(contact: Contact):
    return Message.objects.for_org(contact.organisation_id).filter(Q(contact=contact) | Q(recipient=contact))


def _message_events(contact: Contact) -> int:
    ids = _messages_of(contact).values("pk")
    return MessageEvent.objects.for_org(contact.organisation_id).filter(message__in=ids).delete()[0]


def _messages(contact: Contact) -> int:
    return _messages_of(contact).delete()[1].get(Message._meta.label, 0)


def _inbound(contact: Contact) -> int:
    mine = Q(contact=contact)
    if contact.phone_index:  # replies from the number that were never matched to anyone
        mine |= Q(contact__isnull=True, phone_hash=contact.phone_index)
    return InboundMessage.objects.for_org(contact.organisation_id).filter(mine).delete()[0]


def _events(contact: Contact) -> int:
    return Event.objects.for_org(contact.organisation_id).filter(contact=contact).delete()[0]


def _consent_events(contact: Contact) -> int:
    """Kept (Art. 7(1), the hash chain): ids, codes and times; the evidence dies with the key."""
    return ConsentEvent.objects.for_org(contact.organisation_id).filter(Q(contact=contact) | Q(guardian=contact)).count()


def _consent_states(contact: Contact) -> int:
    return ConsentState.objects.for_org(contact.organisation_id).filter(contact=contact).delete()[0]


def _information(contact: Contact) -> int:
    return Information.objects.for_org(contact.organisation_id).filter(contact=contact).delete()[0]


def _requests(contact: Contact) -> int:
    """Kept as proof the request was answered (Art. 5(2)); the person's own words are cleared."""
    return RightsRequest.objects.for_org(contact.organisation_id).filter(contact=contact).update(details=None)


def _exports(contact: Contact) -> int:
    return AccessExport.objects.for_org(contact.organisation_id).filter(contact=contact).delete()[0]


def _breach_subjects(contact: Contact) -> int:
    return BreachSubject.objects.for_org(contact.organisation_id).filter(contact=contact).delete()[0]


def _verification_codes(contact: Contact) -> int:
    if not contact.phone_index:
        return 0
    codes = VerificationCode.objects.for_org(contact.organisation_id).filter(phone_hash=contact.phone_index)
    return codes.delete()[0]


HANDLERS: dict[str, Callable[..., int]] = {
    "contact": _contact, "suppression": _suppression, "message_events": _message_events, "messages": _messages,
    "inbound": _inbound, "events": _events, "consent_events": _consent_events, "consent_states": _consent_states,
    "information": _information, "requests": _requests, "exports": _exports, "breach_subjects": _breach_subjects,
    "verification_codes": _verification_codes,
}
# Timelines go before their messages; the tombstone last (the others read its indexes first).
ORDER = ("suppression", "message_events", "messages", "inbound", "events", "consent_states", "information",
         "consent_events", "requests", "exports", "breach_subjects", "verification_codes", "contact")


def _run_handlers(contact: Contact, actor: Actor) -> dict[str, int]:
    missing = {holding.key for holding in HOLDINGS} - set(HANDLERS)
    if missing:
        raise RuntimeError(f"erasure has no handler for {sorted(missing)}: add one in privacy/erasure.py")
    counts = {}
    for key in ORDER:
        handler = HANDLERS[key]
        counts[key] = handler(contact, actor) if key == "suppression" else handler(contact)
    return counts


# --- the services --------------------------------------------------------------------------
def _external_ref(contact: Contact) -> str | None:
    """The integrator's id, for the webhook; a value that looks like a phone or e-mail is not sent."""
    try:
        value = contact.external_ref
    except keys.KeyDestroyed:
        return None
    return None if value is None or looks_personal(value) else value


def _destroy_after_commit(contact_id, key_id) -> None:
    def destroy():
        try:
            keys.destroy_subject_key(key_id)
        except Exception:  # the worker's destroy_leftover_keys() tries again
            log.exception("data key destruction failed; left to destroy_leftover_keys", extra={"contact": str(contact_id)})
            return
        Contact.unscoped.filter(pk=contact_id, status=Contact.Status.ERASED).update(data_key_id=None)

    transaction.on_commit(destroy)


@transaction.atomic
def erase_contact(contact: Contact, *, actor: Actor, request=None, reason: str = "request") -> dict[str, int]:
    """Erase one contact (R-43); returns the rows acted on per holding. Raises AlreadyErased."""
    if reason not in REASONS:
        raise ValueError(f"reason is one of {REASONS}")
    fresh = (Contact.objects.for_org(contact.organisation_id).select_related("organisation")
             .select_for_update(of=("self",)).get(pk=contact.pk))
    if fresh.status == Contact.Status.ERASED:
        raise AlreadyErased()
    org, key_id, external_ref = fresh.organisation, fresh.data_key_id, _external_ref(fresh)
    counts = _run_handlers(fresh, actor)
    details = {"reason": reason, "counts": counts}
    if request is not None:
        details["request"] = str(request.pk)
    audit.record(org, actor, "privacy.contact_erased", target=fresh, details=details)
    webhooks.emit(org, "contact.erased", {"contact": str(fresh.pk), "external_ref": external_ref, "reason": reason})
    if key_id is not None:
        _destroy_after_commit(fresh.pk, key_id)
    fresh.refresh_from_db()
    contact.__dict__.update({k: v for k, v in fresh.__dict__.items() if not k.startswith("_sealed_clear_")})
    for name in [name for name in contact.__dict__ if name.startswith("_sealed_clear_")]:
        del contact.__dict__[name]
    return counts


def erase_contacts(org, contact_ids: Iterable, *, actor: Actor, reason: str = "retention",
                   progress: Callable[[int, int], None] | None = None, batch: int = BATCH) -> dict:
    """Erase many contacts of one organisation (retention): each its own transaction, so a failure
    stops nothing already done and each key is destroyed as soon as its erasure commits. Contacts
    already erased or not in the organisation are skipped. Returns totals."""
    ids = list(dict.fromkeys(contact_ids))
    totals = {"erased": 0, "skipped": 0, "counts": {}}
    for start in range(0, len(ids), batch):
        chunk = Contact.objects.for_org(org).filter(pk__in=ids[start:start + batch]).exclude(status=Contact.Status.ERASED)
        found = list(chunk)
        totals["skipped"] += len(ids[start:start + batch]) - len(found)
        for contact in found:
            try:
                counts = erase_contact(contact, actor=actor, reason=reason)
            except AlreadyErased:  # erased meanwhile by someone else
                totals["skipped"] += 1
                continue
            totals["erased"] += 1
            for key, count in counts.items():
                totals["counts"][key] = totals["counts"].get(key, 0) + count
        if progress:
            progress(min(start + batch, len(ids)), len(ids))
    return totals


@transaction.atomic
def mark_deceased(contact: Contact, *, actor: Actor, erase_now: bool = False) -> Contact:
    """R-45: sending stops at once. With the person's directive to erase (`erase_now`), the data is
    erased now; otherwise the organisation's "deceased_contacts" retention erases it later."""
    contact = contacts.mark_deceased(contact, actor=actor)
    if erase_now:
        erase_contact(contact, actor=actor, reason="deceased")
    return contact


def destroy_leftover_keys(limit: int = 500) -> int:
    """Destroy the keys of tombstones whose key outlived their erasure (a crash after the commit).
    A platform-wide job for the worker (hourly); returns how many keys it destroyed."""
    leftovers = list(Contact.unscoped.filter(status=Contact.Status.ERASED, data_key_id__isnull=False)
                     .values_list("pk", "data_key_id")[:limit])
    for contact_id, key_id in leftovers:
        keys.destroy_subject_key(key_id)
        Contact.unscoped.filter(pk=contact_id, status=Contact.Status.ERASED).update(data_key_id=None)
    return len(leftovers)
