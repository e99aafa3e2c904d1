"""The database side of the decision to send (R-20, R-21): read the facts, call the pure decide().

`facts_for()` reads everything decide() needs about one contact, purpose and channel — the contact's
status, age and reachability, the suppression list, the ledger projection, the information records —
and `decide_for()` adds the message's facts and calls `policy.decide`. Nothing here decides.
"""

from __future__ import annotations

from datetime import date, datetime

from relance.contacts.models import Contact, SuppressionEntry

from .ledger import status_after
from .models import ConsentEvent, ConsentState, Information, Purpose
from .policy import (
    Basis,
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    Decision,
    MessageFacts,
    PurposeFacts,
    below_consent_age,
    decide,
)


def _birth_date(contact: Contact) -> date | None:
    value = contact.birth_date
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _minor_flag(contact: Contact) -> bool | None:
    value = (contact.minor or "").strip().lower()
    return {"yes": True, "no": False}.get(value)


def recipient_for(contact: Contact, purpose: Purpose) -> Contact:
    """Whose number or address a message of this purpose goes to: R-14, for purposes that do not rest
    on consent, messages go to the guardian's number when one is set."""
    if contact.guardian_id and purpose.legal_basis != Basis.CONSENT and contact.guardian is not None:
        return contact.guardian
    return contact


def contact_facts(contact: Contact, purpose: Purpose | None = None) -> ContactFacts:
    recipient = recipient_for(contact, purpose) if purpose is not None else contact
    on_list = False
    if recipient.phone_index:
        on_list = SuppressionEntry.objects.for_org(contact.organisation_id).filter(
            channel="sms", phone_hash=recipient.phone_index).exists()
    return ContactFacts(
        status=contact.status,
        birth_date=_birth_date(contact),
        is_minor=_minor_flag(contact),
        number_valid=recipient.number_valid,
        email_valid=recipient.email_valid,
        on_suppression_list=on_list,
    )


def is_below_consent_age(contact: Contact, today: date) -> bool:
    """R-14: under the organisation's country's age of digital consent (or flagged as a minor)."""
    facts = ContactFacts(birth_date=_birth_date(contact), is_minor=_minor_flag(contact))
    return below_consent_age(facts, contact.organisation.country, today)


def purpose_facts(purpose: Purpose) -> PurposeFacts:
    return PurposeFacts(
        message_class=purpose.message_class,
        legal_basis=purpose.legal_basis,
        channels=frozenset(purpose.channels or ()),
        active=purpose.is_active,
        refresh_per_event=purpose.refresh_per_event,
        existing_customer_exception=purpose.existing_customer_exception,
    )


def informed(contact: Contact, purpose: Purpose, now: datetime) -> bool:
    """R-04: a notice of this purpose was recorded for the contact, or for the import batch it came from."""
    records = Information.objects.for_org(contact.organisation_id).filter(purpose=purpose, informed_at__lte=now)
    if records.filter(contact=contact).exists():
        return True
    return bool(contact.import_batch_id) and records.filter(
        contact__isnull=True, import_batch_id=contact.import_batch_id).exists()


def _order(event) -> tuple:
    return (event.occurred_at, event.seq)


def _per_event(contact: Contact, purpose: Purpose, channel: str, event_ref: str, state: ConsentState | None):
    """R-13 refresh_per_event: the person's latest decision for THIS event, unless a withdrawal or an
    objection came after it. A consent given for Tuesday's appointment stays valid for Tuesday even
    after another one is given for Friday's."""
    events = ConsentEvent.objects.for_org(contact.organisation_id).filter(
        contact=contact, purpose=purpose, channel=channel).exclude(expressed_by=ConsentEvent.ExpressedBy.GUARDIAN)
    mine = max(events.filter(event_ref=event_ref), key=_order, default=None)
    if mine is None:
        return None
    block = max(events.filter(action__in=["withdrawn", "objected"]), key=_order, default=None)
    if block is not None and _order(block) > _order(mine):
        return None
    status = status_after(mine.action, purpose.consent_based)
    return status, (mine.valid_until if status == ConsentStatus.GIVEN else None), mine.event_ref


def consent_facts(contact: Contact, purpose: Purpose, channel: str, *, now: datetime,
                  event_ref: str | None = None) -> ConsentFacts:
    state = ConsentState.objects.for_org(contact.organisation_id).filter(
        contact=contact, purpose=purpose, channel=channel).first()
    status = state.status if state else ConsentStatus.NONE
    valid_until = state.valid_until if state else None
    ref = (state.event_ref or None) if state else None
    if purpose.refresh_per_event and event_ref and status not in (ConsentStatus.WITHDRAWN, ConsentStatus.OBJECTED):
        found = _per_event(contact, purpose, channel, event_ref, state)
        if found is not None:
            status, valid_until, ref = found
    return ConsentFacts(
        status=status,
        valid_until=valid_until,
        event_ref=ref,
        guardian_status=state.guardian_status if state else ConsentStatus.NONE,
        guardian_valid_until=state.guardian_valid_until if state else None,
        informed=informed(contact, purpose, now),
    )


def facts_for(contact: Contact, purpose: Purpose, channel: str, *, now: datetime,
              event_ref: str | None = None) -> tuple[ContactFacts, PurposeFacts, ConsentFacts]:
    if contact.organisation_id != purpose.organisation_id:
        raise ValueError("the contact and the purpose belong to different organisations (R-05)")
    return (contact_facts(contact, purpose), purpose_facts(purpose),
            consent_facts(contact, purpose, channel, now=now, event_ref=event_ref))


def decide_for(contact: Contact, purpose: Purpose, channel: str, *, now: datetime, event_ref: str | None = None,
               valid_until: datetime | None = None, event_cancelled: bool = False,
               not_before: datetime | None = None) -> Decision:
    """decide() for one message: the facts from the database, the message's own facts from the caller."""
    contact_f, purpose_f, consent_f = facts_for(contact, purpose, channel, now=now, event_ref=event_ref)
    org = contact.organisation
    message = MessageFacts(channel=channel, country=org.country, organisation_paused=org.paused,
                           valid_until=valid_until, event_cancelled=event_cancelled, event_ref=event_ref,
                           not_before=not_before)
    return decide(contact_f, purpose_f, consent_f, message, now)
