"""decide() (R-20): table tests, each row naming the rule it checks, and properties (hypothesis)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relance.consent.policy import (
    Basis,
    ConsentFacts,
    ConsentStatus,
    ContactFacts,
    MessageClass,
    MessageFacts,
    PurposeFacts,
    Reason,
    decide,
)

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=30)
EARLIER = NOW - timedelta(days=1)

SERVICE_PUBLIC = PurposeFacts(MessageClass.SERVICE, Basis.PUBLIC_TASK)
SERVICE_CONTRACT = PurposeFacts(MessageClass.SERVICE, Basis.CONTRACT)
NEWS_CONSENT = PurposeFacts(MessageClass.PROMOTIONAL_NONCOMMERCIAL, Basis.CONSENT)
PROMO_CONSENT = PurposeFacts(MessageClass.PROMOTIONAL_COMMERCIAL, Basis.CONSENT)
PROMO_LEGIT = PurposeFacts(MessageClass.PROMOTIONAL_COMMERCIAL, Basis.LEGITIMATE_INTEREST)
PROMO_CUSTOMER = PurposeFacts(MessageClass.PROMOTIONAL_COMMERCIAL, Basis.LEGITIMATE_INTEREST,
                              existing_customer_exception=True)
SPST_CONSENT = PurposeFacts(MessageClass.SERVICE, Basis.CONSENT, refresh_per_event=True)
VITAL = PurposeFacts(MessageClass.SERVICE, Basis.VITAL_INTEREST)
ASK = PurposeFacts(MessageClass.CONSENT_REQUEST, Basis.LEGITIMATE_INTEREST)
ASK_SPST = PurposeFacts(MessageClass.CONSENT_REQUEST, Basis.LEGITIMATE_INTEREST, refresh_per_event=True)
RIGHTS = PurposeFacts(MessageClass.RIGHTS_REQUEST, Basis.LEGAL_OBLIGATION)
BREACH = PurposeFacts(MessageClass.BREACH_NOTICE, Basis.LEGAL_OBLIGATION)

ADULT = ContactFacts(birth_date=date(1980, 5, 1))
CHILD_14 = ContactFacts(birth_date=date(2012, 6, 1))  # 14 on NOW
TEEN_15 = ContactFacts(birth_date=date(2011, 11, 22))  # 15 today
INFORMED = ConsentFacts(informed=True)
GIVEN = ConsentFacts(status=ConsentStatus.GIVEN)
SMS = MessageFacts("sms")


def row(rule, contact, purpose, consent, message, expected):
    return pytest.param(contact, purpose, consent, message, expected, id=rule)


TABLE = [
    row("R-04 public task, informed, not objecting: send", ADULT, SERVICE_PUBLIC, INFORMED, SMS, "send"),
    row("R-04 contract, informed: send", ADULT, SERVICE_CONTRACT, INFORMED, SMS, "send"),
    row("R-04 not informed: suppressed", ADULT, SERVICE_PUBLIC, ConsentFacts(), SMS, Reason.NOT_INFORMED),
    row("R-04 objected: suppressed", ADULT, SERVICE_PUBLIC,
        ConsentFacts(status=ConsentStatus.OBJECTED, informed=True), SMS, Reason.OBJECTED),
    row("R-31 STOP on a non-consent purpose is an objection", ADULT, SERVICE_PUBLIC,
        ConsentFacts(status=ConsentStatus.WITHDRAWN, informed=True), SMS, Reason.OBJECTED),
    row("R-31 number on the suppression list, non-consent basis", ContactFacts(on_suppression_list=True),
        SERVICE_PUBLIC, INFORMED, SMS, Reason.OBJECTED),
    row("R-31 number on the suppression list, consent basis", ContactFacts(on_suppression_list=True),
        NEWS_CONSENT, GIVEN, SMS, Reason.WITHDRAWN),
    row("R-31 the suppression list is for SMS: e-mail still goes", ContactFacts(on_suppression_list=True),
        SERVICE_PUBLIC, INFORMED, MessageFacts("email"), "send"),
    row("R-04 vital interest needs no prior information", ADULT, VITAL, ConsentFacts(), SMS, "send"),
    row("R-10 consent given: send", ADULT, NEWS_CONSENT, GIVEN, SMS, "send"),
    row("R-10 no consent: suppressed", ADULT, NEWS_CONSENT, ConsentFacts(), SMS, Reason.NO_CONSENT),
    row("R-10 refused: suppressed", ADULT, NEWS_CONSENT, ConsentFacts(status=ConsentStatus.REFUSED), SMS,
        Reason.NO_CONSENT),
    row("R-12 withdrawn: suppressed", ADULT, NEWS_CONSENT, ConsentFacts(status=ConsentStatus.WITHDRAWN), SMS,
        Reason.WITHDRAWN),
    row("R-13 consent past its validity", ADULT, NEWS_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, valid_until=EARLIER), SMS, Reason.CONSENT_EXPIRED),
    row("R-13 consent still valid", ADULT, NEWS_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, valid_until=LATER), SMS, "send"),
    row("R-13 expired in the ledger", ADULT, NEWS_CONSENT, ConsentFacts(status=ConsentStatus.EXPIRED), SMS,
        Reason.CONSENT_EXPIRED),
    row("R-13 refresh per event: consent for another appointment", ADULT, SPST_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, event_ref="appt-1"), MessageFacts("sms", event_ref="appt-2"),
        Reason.CONSENT_EXPIRED),
    row("R-13 refresh per event: consent for this appointment", ADULT, SPST_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, event_ref="appt-2"), MessageFacts("sms", event_ref="appt-2"),
        "send"),
    row("R-13 a consent request may go when consent expired", ADULT, ASK,
        ConsentFacts(status=ConsentStatus.EXPIRED), SMS, "send"),
    row("R-13 no consent request after a refusal", ADULT, ASK, ConsentFacts(status=ConsentStatus.REFUSED), SMS,
        Reason.NO_CONSENT),
    row("R-13 SPST asks again at each appointment even after a refusal", ADULT, ASK_SPST,
        ConsentFacts(status=ConsentStatus.REFUSED), SMS, "send"),
    row("R-12 no consent request after a withdrawal", ADULT, ASK, ConsentFacts(status=ConsentStatus.WITHDRAWN),
        SMS, Reason.WITHDRAWN),
    row("R-03 promotional commercial needs consent", ADULT, PROMO_LEGIT, INFORMED, SMS, Reason.NO_CONSENT),
    row("R-03 existing-customer exception, informed", ADULT, PROMO_CUSTOMER, INFORMED, SMS, "send"),
    row("R-03 promotional with consent", ADULT, PROMO_CONSENT, GIVEN, SMS, "send"),
    row("R-14 FR 14-year-old, own consent only", CHILD_14, NEWS_CONSENT, GIVEN, SMS,
        Reason.MINOR_WITHOUT_GUARDIAN_CONSENT),
    row("R-14 FR 14-year-old, guardian only (France wants both)", CHILD_14, NEWS_CONSENT,
        ConsentFacts(guardian_status=ConsentStatus.GIVEN), SMS, Reason.MINOR_WITHOUT_GUARDIAN_CONSENT),
    row("R-14 FR 14-year-old, child and guardian", CHILD_14, NEWS_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, guardian_status=ConsentStatus.GIVEN), SMS, "send"),
    row("R-14 BE 14-year-old consents alone (age 13)", CHILD_14, NEWS_CONSENT, GIVEN,
        MessageFacts("sms", country="BE"), "send"),
    row("R-14 DE 14-year-old: the guardian alone suffices", CHILD_14, NEWS_CONSENT,
        ConsentFacts(guardian_status=ConsentStatus.GIVEN), MessageFacts("sms", country="DE"), "send"),
    row("R-14 FR 15 today consents alone", TEEN_15, NEWS_CONSENT, GIVEN, SMS, "send"),
    row("R-14 minor flag without birth date needs the guardian", ContactFacts(is_minor=True), NEWS_CONSENT,
        GIVEN, SMS, Reason.MINOR_WITHOUT_GUARDIAN_CONSENT),
    row("R-12 guardian withdrew", CHILD_14, NEWS_CONSENT,
        ConsentFacts(status=ConsentStatus.GIVEN, guardian_status=ConsentStatus.WITHDRAWN), SMS, Reason.WITHDRAWN),
    row("R-14 non-consent purposes do not need the guardian's consent", CHILD_14, SERVICE_PUBLIC, INFORMED, SMS,
        "send"),
    row("R-44 restricted: nothing", ContactFacts(status="restricted"), SERVICE_PUBLIC, INFORMED, SMS,
        Reason.RESTRICTED),
    row("R-45 deceased: nothing", ContactFacts(status="deceased"), RIGHTS, INFORMED, SMS, Reason.DECEASED),
    row("R-43 erased: nothing", ContactFacts(status="erased"), BREACH, INFORMED, SMS, Reason.ERASED),
    row("R-29 invalid number", ContactFacts(number_valid=False), SERVICE_PUBLIC, INFORMED, SMS,
        Reason.INVALID_NUMBER),
    row("R-29 invalid number does not block e-mail", ContactFacts(number_valid=False), SERVICE_PUBLIC, INFORMED,
        MessageFacts("email"), "send"),
    row("R-23 past validity", ADULT, SERVICE_PUBLIC, INFORMED, MessageFacts("sms", valid_until=NOW),
        Reason.EXPIRED),
    row("R-27 event cancelled", ADULT, SERVICE_PUBLIC, INFORMED, MessageFacts("sms", event_cancelled=True),
        Reason.EVENT_CANCELLED),
    row("R-34 organisation paused", ADULT, SERVICE_PUBLIC, INFORMED, MessageFacts("sms", organisation_paused=True),
        Reason.ORGANISATION_PAUSED),
    row("R-01 inactive purpose", ADULT, PurposeFacts(MessageClass.SERVICE, Basis.PUBLIC_TASK, active=False),
        INFORMED, SMS, Reason.PURPOSE_INACTIVE),
    row("Art. 12 an answer to the person's own request goes even if restricted and STOPped",
        ContactFacts(status="restricted", on_suppression_list=True), RIGHTS, ConsentFacts(), SMS, "send"),
    row("Art. 34 a breach notice goes despite an objection", ADULT, BREACH,
        ConsentFacts(status=ConsentStatus.OBJECTED), SMS, "send"),
    row("R-22 outside the window: deferred", ADULT, SERVICE_PUBLIC, INFORMED,
        MessageFacts("sms", not_before=LATER), "defer"),
    row("R-22 a suppression wins over a deferral", ADULT, SERVICE_PUBLIC, ConsentFacts(),
        MessageFacts("sms", not_before=LATER), Reason.NOT_INFORMED),
]


@pytest.mark.parametrize(("contact", "purpose", "consent", "message", "expected"), TABLE)
def test_it_decides_each_rule(contact, purpose, consent, message, expected):
    decision = decide(contact, purpose, consent, message, NOW)
    if expected in ("send", "defer"):
        assert decision.action == expected, decision
        assert decision.reason is None
    else:
        assert decision.action == "suppress" and decision.reason == expected, decision
        assert decision.rule.startswith("R-")


def test_it_defers_to_the_next_slot():
    """R-22: defer(until) carries the slot."""
    decision = decide(ADULT, SERVICE_PUBLIC, INFORMED, MessageFacts("sms", not_before=LATER), NOW)
    assert decision.until == LATER


def test_it_refuses_a_channel_the_purpose_does_not_declare():
    """R-01: a purpose lists its channels; a message on another one is a configuration error, not a silence."""
    with pytest.raises(ValueError, match="channel"):
        decide(ADULT, PurposeFacts(MessageClass.SERVICE, Basis.CONTRACT, channels=frozenset({"email"})),
               INFORMED, SMS, NOW)


# --- properties ------------------------------------------------------------------------------
statuses = st.sampled_from(list(ConsentStatus))
moments = st.one_of(st.none(), st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 1, 1),
                                            timezones=st.just(UTC)))
contacts = st.builds(ContactFacts, status=st.sampled_from(["active", "restricted", "deceased", "erased"]),
                     birth_date=st.one_of(st.none(), st.dates(date(1920, 1, 1), date(2026, 11, 22))),
                     is_minor=st.one_of(st.none(), st.booleans()), number_valid=st.booleans(),
                     email_valid=st.booleans(), on_suppression_list=st.booleans())
purposes = st.builds(PurposeFacts, message_class=st.sampled_from(list(MessageClass)),
                     legal_basis=st.sampled_from(list(Basis)), active=st.booleans(),
                     refresh_per_event=st.booleans(), existing_customer_exception=st.booleans())
consents = st.builds(ConsentFacts, status=statuses, valid_until=moments, event_ref=st.sampled_from([None, "e1"]),
                     guardian_status=statuses, guardian_valid_until=moments, informed=st.booleans())
messages = st.builds(MessageFacts, channel=st.sampled_from(["sms", "email"]),
                     country=st.sampled_from(["FR", "BE", "DE", "IT", "ZZ"]), organisation_paused=st.booleans(),
                     valid_until=moments, event_cancelled=st.booleans(), event_ref=st.sampled_from([None, "e1"]),
                     not_before=moments)
nows = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(contacts, purposes, consents, messages, nows)
def test_it_never_sends_to_a_withdrawn_objected_restricted_deceased_or_erased_person(c, p, k, m, now):
    """R-12, R-44, R-45, R-43: outside the obligatory classes, these never receive anything."""
    decision = decide(c, p, k, m, now)
    if not decision.sends or p.message_class in {MessageClass.RIGHTS_REQUEST, MessageClass.BREACH_NOTICE}:
        return
    assert c.status == "active"
    assert k.status not in (ConsentStatus.WITHDRAWN, ConsentStatus.OBJECTED)
    assert not (m.channel == "sms" and c.on_suppression_list)


@given(contacts, purposes, consents, messages, nows)
def test_it_never_sends_to_the_dead_or_erased_at_all(c, p, k, m, now):
    """R-43, R-45: not even obligatory messages."""
    if c.status in ("deceased", "erased"):
        assert not decide(c, p, k, m, now).sends


@given(contacts, purposes, consents, messages, nows)
def test_it_never_sends_promotion_without_consent(c, p, k, m, now):
    """R-03: promotional commercial messages need a valid consent (or the existing-customer exception)."""
    if p.message_class != MessageClass.PROMOTIONAL_COMMERCIAL or p.existing_customer_exception:
        return
    if decide(c, p, k, m, now).sends:
        assert p.legal_basis == Basis.CONSENT and k.status == ConsentStatus.GIVEN
        assert k.valid_until is None or k.valid_until > now


@given(st.dates(date(2011, 11, 23), date(2012, 11, 22)), purposes, consents, nows)
def test_it_never_sends_to_a_french_14_year_old_without_the_guardian(birth, p, k, _now):
    """R-14: in France, under 15, a consent purpose needs the guardian's consent (and the child's)."""
    if p.legal_basis != Basis.CONSENT or p.message_class in {MessageClass.RIGHTS_REQUEST,
                                                             MessageClass.BREACH_NOTICE,
                                                             MessageClass.CONSENT_REQUEST}:
        return
    k = ConsentFacts(status=k.status, valid_until=k.valid_until, guardian_status=ConsentStatus.NONE)
    assert not decide(ContactFacts(birth_date=birth), p, k, MessageFacts("sms"), NOW).sends


@given(st.sampled_from([Basis.PUBLIC_TASK, Basis.CONTRACT, Basis.LEGAL_OBLIGATION, Basis.LEGITIMATE_INTEREST]),
       st.sampled_from(["sms", "email"]), nows)
def test_it_sends_service_on_a_non_consent_basis_to_an_informed_non_objecting_contact(basis, channel, now):
    """R-04: the ordinary case goes out."""
    decision = decide(ContactFacts(), PurposeFacts(MessageClass.SERVICE, basis), ConsentFacts(informed=True),
                      MessageFacts(channel), now)
    assert decision.sends


@given(contacts, purposes, consents, messages, nows)
def test_it_always_gives_a_reason_when_it_suppresses(c, p, k, m, now):
    """R-20: nothing is dropped silently."""
    decision = decide(c, p, k, m, now)
    assert (decision.action == "suppress") == (decision.reason is not None)
    assert (decision.action == "defer") == (decision.until is not None)
