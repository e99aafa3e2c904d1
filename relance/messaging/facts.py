"""The facts decide() needs, for many contacts at once (R-20, R-21).

`consent.decision.facts_for()` reads one contact's facts in five to seven queries; a campaign of a
million contacts (SPEC §7) and the worker's batches cannot afford that. `load_facts()` reads the same
facts for a chunk of contacts in a handful of queries — the guardians, the suppression list, the
ledger projection, the information records (the contact's own and its import batch's), the per-event
consents of refresh_per_event purposes — and builds exactly the dataclasses facts_for() builds
(test_facts.py compares the two on varied contacts). Nothing here decides: callers pass the facts to
the pure `policy.decide()`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime

from relance.accounts.models import Organisation
from relance.consent.decision import _birth_date, _minor_flag, purpose_facts
from relance.consent.ledger import status_after
from relance.consent.models import ConsentEvent, ConsentState, Information, Purpose
from relance.consent.policy import Basis, ConsentFacts, ConsentStatus, ContactFacts, PurposeFacts
from relance.contacts.models import Contact, SuppressionEntry
from relance.keystore import services as keys
from relance.keystore.models import ScopeKey, SubjectKey
from relance.lib import crypto

Facts = tuple[ContactFacts, PurposeFacts, ConsentFacts]
BLOCKING = ("withdrawn", "objected")


def load_facts(org: Organisation, contacts: Iterable[Contact], purpose: Purpose, channel: str, now: datetime, *,
               event_refs: Mapping | None = None) -> dict[uuid.UUID, Facts]:
    """{contact id: (ContactFacts, PurposeFacts, ConsentFacts)} for these contacts of `org`, as
    `facts_for(contact, purpose, channel, now=now, event_ref=event_refs.get(contact.id))` would read them."""
    contacts = list(contacts)
    if purpose.organisation_id != org.pk or any(c.organisation_id != org.pk for c in contacts):
        raise ValueError("the contacts and the purpose belong to different organisations (R-05)")
    if not contacts:
        return {}
    recipients = recipients_of(org, contacts, purpose)
    suppressed = _suppressed_hashes(org, [r.phone_index for r in recipients.values() if r.phone_index])
    states = _states(org, contacts, purpose, channel)
    informed = informed_ids(org, purpose, now, contacts)
    per_event = _per_event_consents(org, contacts, purpose, channel, event_refs or {}, states)
    prefetch_subject_keys(contacts)
    purpose_f = purpose_facts(purpose)
    facts = {}
    for contact in contacts:
        recipient = recipients[contact.pk]
        contact_f = _contact_facts(contact, recipient, recipient.phone_index in suppressed)
        consent_f = _consent_facts(states.get(contact.pk), per_event.get(contact.pk), contact.pk in informed)
        facts[contact.pk] = (contact_f, purpose_f, consent_f)
    return facts


# --- whose number and the suppression list (R-31) ----------------------------------------
def recipients_of(org: Organisation, contacts: list[Contact], purpose: Purpose) -> dict[uuid.UUID, Contact]:
    """`decision.recipient_for()` for each contact, the guardians read in one query (and cached on
    each contact, so that `outbox.build()` does not read them again one by one)."""
    to_guardian = purpose.legal_basis != Basis.CONSENT
    wanted = {c.guardian_id for c in contacts
              if c.guardian_id and to_guardian and not Contact.guardian.is_cached(c)}
    loaded = {g.pk: g for g in Contact.objects.for_org(org).filter(pk__in=wanted)} if wanted else {}
    recipients = {}
    for contact in contacts:
        guardian = None
        if contact.guardian_id and to_guardian:
            if not Contact.guardian.is_cached(contact) and contact.guardian_id in loaded:
                contact.guardian = loaded[contact.guardian_id]
            guardian = contact.guardian if Contact.guardian.is_cached(contact) else None
        recipients[contact.pk] = guardian or contact
    return recipients


def _suppressed_hashes(org: Organisation, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    return set(SuppressionEntry.objects.for_org(org).filter(channel="sms", phone_hash__in=set(hashes))
               .values_list("phone_hash", flat=True))


def _contact_facts(contact: Contact, recipient: Contact, on_list: bool) -> ContactFacts:
    # An erased contact's key is destroyed: its birth date is unreadable and decide() stops at `erased`.
    readable = contact.status != Contact.Status.ERASED
    return ContactFacts(
        status=contact.status,
        birth_date=_birth_date(contact) if readable else None,
        is_minor=_minor_flag(contact) if readable else None,
        number_valid=recipient.number_valid,
        email_valid=recipient.email_valid,
        on_suppression_list=on_list,
    )


# --- the ledger projection, per-event consents and information records (R-04) -------------
def _states(org, contacts, purpose, channel) -> dict[uuid.UUID, ConsentState]:
    rows = ConsentState.objects.for_org(org).filter(purpose=purpose, channel=channel,
                                                    contact_id__in=[c.pk for c in contacts])
    return {state.contact_id: state for state in rows}


def informed_ids(org, purpose, now, people, *, id_range: bool = False) -> set[uuid.UUID]:
    """R-04: the ids among `people` (with `id` and `import_batch_id`) told about the purpose by `now`, by a
    record of their own or of their import batch. `id_range`: the people are sorted by id and their own
    records are read by the range of their ids (a campaign's chunk) instead of an IN list."""
    if not people:
        return set()
    records = Information.objects.for_org(org).filter(purpose=purpose, informed_at__lte=now)
    own = (records.filter(contact_id__gte=people[0].id, contact_id__lte=people[-1].id) if id_range
           else records.filter(contact_id__in=[p.id for p in people]))
    found = set(own.values_list("contact_id", flat=True))
    batches = {p.import_batch_id for p in people if p.import_batch_id and p.id not in found}
    if batches:
        informed_batches = set(records.filter(contact__isnull=True, import_batch_id__in=batches)
                               .values_list("import_batch_id", flat=True))
        found |= {p.id for p in people if p.import_batch_id in informed_batches}
    return found


def _per_event_consents(org, contacts, purpose, channel, event_refs, states) -> dict[uuid.UUID, tuple]:
    """`decision._per_event()` for every contact with an event_ref: the person's latest decision for
    THIS event, unless a withdrawal or an objection came after it."""
    if not purpose.refresh_per_event:
        return {}
    wanted = {c.pk: event_refs[c.pk] for c in contacts if event_refs.get(c.pk)
              and (states[c.pk].status if c.pk in states else ConsentStatus.NONE) not in BLOCKING}
    if not wanted:
        return {}
    rows = (ConsentEvent.objects.for_org(org)
            .filter(contact_id__in=list(wanted), purpose=purpose, channel=channel)
            .exclude(expressed_by=ConsentEvent.ExpressedBy.GUARDIAN)
            .values_list("contact_id", "event_ref", "action", "occurred_at", "seq", "valid_until"))
    mine, block = {}, {}
    for contact_id, ref, action, occurred_at, seq, valid_until in rows:
        order = (occurred_at, seq)
        if ref == wanted[contact_id] and (contact_id not in mine or order > mine[contact_id][0]):
            mine[contact_id] = (order, action, valid_until, ref)
        if action in BLOCKING and (contact_id not in block or order > block[contact_id]):
            block[contact_id] = order
    found = {}
    for contact_id, (order, action, valid_until, ref) in mine.items():
        if contact_id in block and block[contact_id] > order:
            continue
        status = status_after(action, purpose.consent_based)
        found[contact_id] = (status, valid_until if status == ConsentStatus.GIVEN else None, ref)
    return found


def _consent_facts(state: ConsentState | None, per_event: tuple | None, informed: bool) -> ConsentFacts:
    status = state.status if state else ConsentStatus.NONE
    valid_until = state.valid_until if state else None
    ref = (state.event_ref or None) if state else None
    if per_event is not None:
        status, valid_until, ref = per_event
    return ConsentFacts(
        status=status,
        valid_until=valid_until,
        event_ref=ref,
        guardian_status=state.guardian_status if state else ConsentStatus.NONE,
        guardian_valid_until=state.guardian_valid_until if state else None,
        informed=informed,
    )


# --- the subjects' keys, unwrapped in one query --------------------------------------------------
def prefetch_subject_keys(contacts: Iterable[Contact]) -> None:
    """Unwrap the data keys of these contacts with one query on the key store, so that reading their
    birth dates does not cost one key-store query per contact. Keys already cached are left alone;
    a destroyed key is simply absent (reading then fails as it would anyway)."""
    wanted = {c.data_key_id for c in contacts
              if c.data_key_id and c.status != Contact.Status.ERASED and keys._subject_cache.get(c.data_key_id) is None}
    if not wanted:
        return
    rows = SubjectKey.objects.filter(id__in=wanted).values_list("id", "scope", "wrap_version", "wrapped")
    for key_id, scope, wrap_version, wrapped in rows:  # plain rows: no model instance per key
        _, wrap_key = keys.scope_key(scope, ScopeKey.WRAP, wrap_version)
        data_key = crypto.open_sealed(wrap_key, bytes(wrapped), crypto.key_aad("subject", str(key_id)))
        keys._subject_cache.put(key_id, data_key)
