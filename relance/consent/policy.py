"""The decision to send (R-20): one pure function, the whole legal logic of SPEC §3.1–3.2.

`decide(contact, purpose, consent, message, now)` takes plain values and returns `send`,
`defer(until)` or `suppress(reason)`; it is called when a message is scheduled and again just
before it is sent (R-21). Every check below names its rule; docs/decide.md explains them for a DPO
in the same order. Nothing here reads the database or the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from .ages import consent_age


class Reason(StrEnum):
    NO_CONSENT = "no_consent"
    CONSENT_EXPIRED = "consent_expired"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"
    NOT_INFORMED = "not_informed"
    RESTRICTED = "restricted"
    DECEASED = "deceased"
    ERASED = "erased"
    MINOR_WITHOUT_GUARDIAN_CONSENT = "minor_without_guardian_consent"
    INVALID_NUMBER = "invalid_number"
    EXPIRED = "expired"
    EVENT_CANCELLED = "event_cancelled"
    ORGANISATION_PAUSED = "organisation_paused"
    PURPOSE_INACTIVE = "purpose_inactive"


class Basis(StrEnum):
    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTEREST = "legitimate_interest"


class MessageClass(StrEnum):
    SERVICE = "service"
    PROMOTIONAL_COMMERCIAL = "promotional_commercial"
    PROMOTIONAL_NONCOMMERCIAL = "promotional_noncommercial"
    CONSENT_REQUEST = "consent_request"
    RIGHTS_REQUEST = "rights_request"
    BREACH_NOTICE = "breach_notice"


class ConsentStatus(StrEnum):
    """The projected state of one contact × purpose × channel (renewed and restored project to given)."""

    NONE = "none"
    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"
    OBJECTED = "objected"
    EXPIRED = "expired"


# Messages the person asked for or the law requires the organisation to send whatever the person's
# preferences: answers to their own rights requests (Art. 12) and breach notices (Art. 34).
OBLIGATORY_CLASSES = {MessageClass.RIGHTS_REQUEST, MessageClass.BREACH_NOTICE}
PROMOTIONAL_CLASSES = {MessageClass.PROMOTIONAL_COMMERCIAL, MessageClass.PROMOTIONAL_NONCOMMERCIAL}


@dataclass(frozen=True)
class Decision:
    action: str  # "send", "defer" or "suppress"
    reason: Reason | None = None
    until: datetime | None = None
    rule: str = ""

    @property
    def sends(self) -> bool:
        return self.action == "send"


def send(rule: str = "R-20") -> Decision:
    return Decision("send", rule=rule)


def defer(until: datetime, rule: str) -> Decision:
    return Decision("defer", until=until, rule=rule)


def suppress(reason: Reason, rule: str) -> Decision:
    return Decision("suppress", reason=reason, rule=rule)


@dataclass(frozen=True)
class ContactFacts:
    status: str = "active"  # active, restricted, deceased, erased
    birth_date: date | None = None
    is_minor: bool | None = None  # used when the birth date is unknown
    number_valid: bool = True
    email_valid: bool = True
    on_suppression_list: bool = False  # the number said STOP to this organisation


@dataclass(frozen=True)
class PurposeFacts:
    message_class: str
    legal_basis: str
    channels: frozenset[str] = frozenset({"sms", "email"})
    active: bool = True
    refresh_per_event: bool = False  # consent asked again at each event (SPST)
    existing_customer_exception: bool = False  # similar products of the same organisation


@dataclass(frozen=True)
class ConsentFacts:
    """The ledger projection for this contact, purpose and channel, and the guardian's."""

    status: str = ConsentStatus.NONE
    valid_until: datetime | None = None
    event_ref: str | None = None  # the event a refresh_per_event consent was given for
    guardian_status: str = ConsentStatus.NONE
    guardian_valid_until: datetime | None = None
    informed: bool = False  # a notice was recorded for this contact (or its import batch)


@dataclass(frozen=True)
class MessageFacts:
    channel: str
    country: str = "FR"
    organisation_paused: bool = False
    valid_until: datetime | None = None  # the appointment's start, the end of a hold...
    event_cancelled: bool = False
    event_ref: str | None = None
    not_before: datetime | None = None  # next allowed slot, computed by the sending windows
    extra: dict = field(default_factory=dict, compare=False)


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def below_consent_age(contact: ContactFacts, country: str, today: date) -> bool:
    """R-14: under the country's age of digital consent. A bare minor flag counts as under it."""
    if contact.birth_date is not None:
        return age_on(contact.birth_date, today) < consent_age(country).age
    return bool(contact.is_minor)


def _valid(status: str, valid_until: datetime | None, now: datetime) -> bool:
    return status == ConsentStatus.GIVEN and (valid_until is None or valid_until > now)


def decide(contact: ContactFacts, purpose: PurposeFacts, consent: ConsentFacts, message: MessageFacts,
           now: datetime) -> Decision:
    if message.channel not in purpose.channels:
        raise ValueError(f"purpose does not declare the {message.channel!r} channel")
    return (
        _person(contact, purpose)
        or _message(purpose, message, now)
        or _reachability(contact, purpose, message)
        or _legal_basis(contact, purpose, consent, message, now)
        or _window(message, now)
        or send()
    )


def _person(contact: ContactFacts, purpose: PurposeFacts) -> Decision | None:
    if contact.status == "erased":
        return suppress(Reason.ERASED, "R-43")
    if contact.status == "deceased":
        return suppress(Reason.DECEASED, "R-45")
    if contact.status == "restricted" and purpose.message_class not in OBLIGATORY_CLASSES:
        return suppress(Reason.RESTRICTED, "R-44")
    return None


def _message(purpose: PurposeFacts, message: MessageFacts, now: datetime) -> Decision | None:
    if not purpose.active:
        return suppress(Reason.PURPOSE_INACTIVE, "R-01")
    if message.event_cancelled:
        return suppress(Reason.EVENT_CANCELLED, "R-27")
    if message.valid_until is not None and message.valid_until <= now:
        return suppress(Reason.EXPIRED, "R-23")
    if message.organisation_paused and purpose.message_class not in OBLIGATORY_CLASSES:
        return suppress(Reason.ORGANISATION_PAUSED, "R-34")
    return None


def _reachability(contact: ContactFacts, purpose: PurposeFacts, message: MessageFacts) -> Decision | None:
    if message.channel == "sms" and not contact.number_valid:
        return suppress(Reason.INVALID_NUMBER, "R-29")
    if message.channel == "email" and not contact.email_valid:
        return suppress(Reason.INVALID_NUMBER, "R-29")
    if purpose.message_class in OBLIGATORY_CLASSES:
        return None
    if message.channel == "sms" and contact.on_suppression_list:
        consent_based = purpose.legal_basis == Basis.CONSENT
        return suppress(Reason.WITHDRAWN if consent_based else Reason.OBJECTED, "R-31")
    return None


def _legal_basis(contact, purpose, consent, message, now) -> Decision | None:
    if purpose.message_class in OBLIGATORY_CLASSES:
        return None
    if purpose.message_class == MessageClass.CONSENT_REQUEST:
        return _consent_request(purpose, consent)
    if purpose.legal_basis == Basis.CONSENT:
        return _consent_based(contact, purpose, consent, message, now)
    if purpose.message_class == MessageClass.PROMOTIONAL_COMMERCIAL and not purpose.existing_customer_exception:
        return suppress(Reason.NO_CONSENT, "R-03")
    return _other_basis(purpose, consent)


def _consent_request(purpose: PurposeFacts, consent: ConsentFacts) -> Decision | None:
    """R-13/R-28: a consent request may go when there is no valid consent, never after a no."""
    if consent.status == ConsentStatus.WITHDRAWN:
        return suppress(Reason.WITHDRAWN, "R-12")
    if consent.status == ConsentStatus.OBJECTED:
        return suppress(Reason.OBJECTED, "R-12")
    if consent.status == ConsentStatus.REFUSED and not purpose.refresh_per_event:
        return suppress(Reason.NO_CONSENT, "R-13")
    return None


def _consent_based(contact, purpose, consent, message, now) -> Decision | None:
    for status in (consent.status, consent.guardian_status):
        if status == ConsentStatus.WITHDRAWN:
            return suppress(Reason.WITHDRAWN, "R-12")
        if status == ConsentStatus.OBJECTED:
            return suppress(Reason.OBJECTED, "R-12")
    if below_consent_age(contact, message.country, now.date()):
        return _minor(consent, message, now)
    return _own_consent(purpose, consent, message, now)


def _own_consent(purpose, consent, message, now) -> Decision | None:
    if consent.status in (ConsentStatus.NONE, ConsentStatus.REFUSED):
        return suppress(Reason.NO_CONSENT, "R-10")
    if not _valid(consent.status, consent.valid_until, now):
        return suppress(Reason.CONSENT_EXPIRED, "R-13")
    if purpose.refresh_per_event and consent.event_ref != message.event_ref:
        return suppress(Reason.CONSENT_EXPIRED, "R-13")
    return None


def _minor(consent: ConsentFacts, message: MessageFacts, now: datetime) -> Decision | None:
    """R-14: below the age, the guardian consents; in France the child and the guardian both do."""
    guardian_ok = _valid(consent.guardian_status, consent.guardian_valid_until, now)
    child_ok = _valid(consent.status, consent.valid_until, now)
    if not guardian_ok or (consent_age(message.country).joint and not child_ok):
        return suppress(Reason.MINOR_WITHOUT_GUARDIAN_CONSENT, "R-14")
    return None


def _other_basis(purpose: PurposeFacts, consent: ConsentFacts) -> Decision | None:
    """R-04: contract, public task, legitimate interest, legal obligation: informed and not objecting."""
    if consent.status in (ConsentStatus.OBJECTED, ConsentStatus.WITHDRAWN):
        return suppress(Reason.OBJECTED, "R-04")
    if not consent.informed and purpose.legal_basis != Basis.VITAL_INTEREST:
        return suppress(Reason.NOT_INFORMED, "R-04")
    return None


def _window(message: MessageFacts, now: datetime) -> Decision | None:
    if message.not_before is not None and message.not_before > now:
        return defer(message.not_before, "R-22")
    return None
