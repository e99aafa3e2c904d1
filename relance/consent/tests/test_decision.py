"""The database side of decide() (R-20): facts read from contacts, the ledger projection, information
records and the suppression list; minors with guardians (R-14), STOP everywhere (R-12, R-31), expiry
(R-13)."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from relance.consent import services
from relance.consent.decision import contact_facts, decide_for, facts_for
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.policy import ConsentStatus, Reason
from relance.contacts import services as contacts
from relance.testing import SYSTEM, make_contact, make_org

from .helpers import give, make_consent_purpose, make_purpose, notice_of

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _years_ago(years: int, days: int = 10) -> str:
    today = timezone.localdate()
    return str(date(today.year - years, today.month, 1) - timedelta(days=days))


def _inform(contact, purpose):
    return services.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="paper_form", contact=contact)


def _reason(contact, purpose, channel="sms", **kwargs):
    decision = decide_for(contact, purpose, channel, now=kwargs.pop("now", timezone.now()), **kwargs)
    return "send" if decision.sends else decision.reason


# --- facts ---------------------------------------------------------------------------------------
def test_it_sends_on_a_public_task_only_to_an_informed_contact(world):
    """R-04: not informed → not_informed; a notice recorded for the contact → send."""
    purpose, contact = make_purpose(world.a), make_contact(world.a)
    assert _reason(contact, purpose) == Reason.NOT_INFORMED
    _inform(contact, purpose)
    assert _reason(contact, purpose) == "send"


def test_it_counts_information_given_to_the_contacts_import_batch(world):
    """R-04: an import batch informed at organisation level, with its stated source, informs its rows."""
    import uuid

    from relance.contacts.models import Contact

    purpose, contact = make_purpose(world.a), make_contact(world.a)
    batch = uuid.uuid4()
    Contact.objects.for_org(world.a).filter(pk=contact.pk).update(import_batch_id=batch)
    contact.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        services.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="import", import_batch_id=batch)
    assert set(caught.value.message_dict) == {"source"}
    services.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="import", import_batch_id=batch,
                                source="Registration forms of the Nord library, 2026")
    assert facts_for(contact, purpose, "sms", now=timezone.now())[2].informed
    assert not facts_for(make_contact(world.a), purpose, "sms", now=timezone.now())[2].informed


def test_it_reads_the_contacts_status_and_reachability(world):
    """R-44, R-45, R-29: restricted, deceased and invalid numbers come from the contact."""
    purpose, contact = make_purpose(world.a), make_contact(world.a)
    _inform(contact, purpose)
    contacts.restrict_contact(contact, actor=SYSTEM)
    assert _reason(contact, purpose) == Reason.RESTRICTED
    other = make_contact(world.a)
    _inform(other, purpose)
    for _ in range(3):
        contacts.record_delivery_failure(other, permanent=True)
    assert _reason(other, purpose) == Reason.INVALID_NUMBER
    assert _reason(other, purpose, "email") == "send"


def test_it_reads_the_suppression_list_by_the_numbers_keyed_hash(world):
    """R-31: a number on the organisation's suppression list gets no SMS, whatever the contact row."""
    purpose = make_purpose(world.a)
    contact = make_contact(world.a, phone="+33612340001")
    _inform(contact, purpose)
    contacts.suppress_number(world.a, "+33612340001", actor=SYSTEM, reason="stop")
    assert contact_facts(contact, purpose).on_suppression_list
    assert _reason(contact, purpose) == Reason.OBJECTED
    assert _reason(contact, purpose, "email") == "send"
    twin = make_contact(world.b, phone="+33612340001")  # another organisation: its own list
    assert not contact_facts(twin).on_suppression_list


def test_it_sends_to_the_guardians_number_for_non_consent_purposes(world):
    """R-14: for a purpose not resting on consent, messages go to the guardian's number when one is set;
    the reachability facts are the guardian's."""
    purpose = make_purpose(world.a)
    parent = make_contact(world.a, birth_date="1980-02-02", phone="+33612340002")
    child = make_contact(world.a, birth_date=_years_ago(10), guardian=parent, guardian_relation="parent")
    _inform(child, purpose)
    contacts.suppress_number(world.a, "+33612340002", actor=SYSTEM, reason="stop")
    assert _reason(child, purpose) == Reason.OBJECTED


def test_it_is_inactive_until_the_purpose_is_activated(world):
    """R-01: a draft purpose sends nothing."""
    purpose, contact = make_purpose(world.a, activate=False), make_contact(world.a)
    assert _reason(contact, purpose) == Reason.PURPOSE_INACTIVE


def test_it_refuses_to_mix_organisations(world):
    """R-05: a contact of A with a purpose of B is a programming error, not a decision."""
    with pytest.raises(ValueError):
        facts_for(make_contact(world.a), make_purpose(world.b), "sms", now=timezone.now())


# --- consent ---------------------------------------------------------------------------------------
def test_it_sends_on_consent_until_it_expires_and_the_sweep_records_it(world, capsys):
    """R-13: valid consent → send; past validity → consent_expired; the sweep writes an `expired`
    event once, and `relance consent expire` shows its progress."""
    purpose, contact = make_consent_purpose(world.a, consent_validity_days=30), make_contact(world.a)
    assert _reason(contact, purpose) == Reason.NO_CONSENT
    event = give(contact, purpose)
    assert _reason(contact, purpose) == "send"
    later = event.valid_until + timedelta(seconds=1)
    assert _reason(contact, purpose, now=later) == Reason.CONSENT_EXPIRED
    assert services.expire_consents(event.valid_until - timedelta(seconds=1)) == 0
    with time_machine.travel(later, tick=False):
        assert services.expire_consents() == 1
    expired = ConsentEvent.objects.for_org(world.a).get(action="expired")
    assert (expired.occurred_at, expired.method, expired.actor_kind) == (event.valid_until, "system", "system")
    assert ConsentState.objects.for_org(world.a).get(contact=contact).status == ConsentStatus.EXPIRED
    assert services.expire_consents(later) == 0
    assert _reason(contact, purpose, now=later) == Reason.CONSENT_EXPIRED
    with time_machine.travel(later + timedelta(days=1), tick=False):
        give(contact, purpose)  # asked again: the new consent counts from then
        assert _reason(contact, purpose) == "send"
    call_command("consent", "expire")
    assert "0 consent(s) expired" in capsys.readouterr().out


def test_it_shows_the_expiry_sweeps_progress(world, capsys):
    """R-13, SPEC §4 (long work shows progress)."""
    purpose = make_consent_purpose(world.a, consent_validity_days=1)
    long_ago = timezone.now() - timedelta(days=3)
    for _ in range(3):
        give(make_contact(world.a), purpose, occurred_at=long_ago)
    call_command("consent", "expire")
    out = capsys.readouterr().out
    assert "3/3" in out and "3 consent(s) expired" in out


def test_it_keeps_each_appointments_consent_for_that_appointment(world):
    """R-13 refresh_per_event (SPST): consent for Tuesday's appointment does not cover Friday's, and a
    later consent for Friday does not cancel Tuesday's; a STOP cancels both."""
    purpose = make_consent_purpose(world.a, consent_validity_days=None, refresh_per_event=True)
    contact = make_contact(world.a)
    give(contact, purpose, event_ref="tuesday")
    assert _reason(contact, purpose, event_ref="tuesday") == "send"
    assert _reason(contact, purpose, event_ref="friday") == Reason.CONSENT_EXPIRED
    give(contact, purpose, event_ref="friday")
    assert _reason(contact, purpose, event_ref="tuesday") == "send"
    assert _reason(contact, purpose, event_ref="friday") == "send"
    services.withdraw_everywhere(contact, "sms", actor=SYSTEM, method="sms_keyword")
    assert _reason(contact, purpose, event_ref="tuesday") == Reason.WITHDRAWN
    give(contact, purpose, event_ref="monday")
    assert _reason(contact, purpose, event_ref="monday") == "send"
    assert _reason(contact, purpose, event_ref="tuesday") == Reason.CONSENT_EXPIRED


# --- minors (R-14) ------------------------------------------------------------------------------------
def _minor_setup(org):
    purpose = make_consent_purpose(org)
    parent = make_contact(org, birth_date="1980-02-02")
    child = make_contact(org, birth_date=_years_ago(13), guardian=parent, guardian_relation="parent")
    return purpose, parent, child


def test_it_needs_both_the_child_and_the_guardian_in_france(world):
    """R-14 (FR, loi Informatique et Libertés art. 45): under 15, the child AND the guardian consent."""
    purpose, parent, child = _minor_setup(world.a)
    give(child, purpose)
    assert _reason(child, purpose) == Reason.MINOR_WITHOUT_GUARDIAN_CONSENT
    give(child, purpose, expressed_by="guardian", guardian=parent)
    state = ConsentState.objects.for_org(world.a).get(contact=child)
    assert (state.status, state.guardian_status) == (ConsentStatus.GIVEN, ConsentStatus.GIVEN)
    assert _reason(child, purpose) == "send"


def test_it_needs_the_childs_own_consent_too_in_france(world):
    """R-14 (FR joint consent): the guardian alone is not enough."""
    purpose, parent, child = _minor_setup(world.a)
    give(child, purpose, expressed_by="guardian", guardian=parent)
    assert _reason(child, purpose) == Reason.MINOR_WITHOUT_GUARDIAN_CONSENT


def test_it_takes_the_guardian_alone_where_the_law_says_so(world):
    """R-14: in Belgium (13, guardian alone) the guardian's consent is enough below the age."""
    belgian = make_org("library", country="BE")
    purpose = make_consent_purpose(belgian)
    parent = make_contact(belgian, birth_date="1980-02-02")
    child = make_contact(belgian, birth_date=_years_ago(12), guardian=parent, guardian_relation="parent")
    give(child, purpose, expressed_by="guardian", guardian=parent)
    assert _reason(child, purpose) == "send"


def test_it_stops_when_the_guardian_withdraws(world):
    """R-12, R-14: a guardian's withdrawal stops consent-based messages to the minor."""
    purpose, parent, child = _minor_setup(world.a)
    give(child, purpose)
    give(child, purpose, expressed_by="guardian", guardian=parent)
    services.record_consent(child, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="guardian",
                            guardian=parent, method="phone_call")
    assert _reason(child, purpose) == Reason.WITHDRAWN


def test_it_refuses_a_guardians_consent_for_an_adult(world):
    """R-14: guardian consent concerns minors under the age of digital consent."""
    purpose = make_consent_purpose(world.a)
    parent, adult = make_contact(world.a, birth_date="1960-01-01"), make_contact(world.a, birth_date="1990-01-01")
    with pytest.raises(ValidationError) as caught:
        give(adult, purpose, expressed_by="guardian", guardian=parent)
    assert set(caught.value.message_dict) == {"expressed_by"}
    with pytest.raises(ValidationError) as caught:
        give(adult, purpose, expressed_by="guardian")
    assert set(caught.value.message_dict) == {"guardian", "expressed_by"} or "guardian" in caught.value.message_dict


def test_it_expires_a_guardians_consent_too(world):
    """R-13, R-14: the sweep expires the guardian's consent as well; the minor's messages stop."""
    purpose, parent, child = _minor_setup(world.a)
    give(child, purpose)
    guardian_event = give(child, purpose, expressed_by="guardian", guardian=parent)
    later = guardian_event.valid_until + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        assert services.expire_consents() == 2
    state = ConsentState.objects.for_org(world.a).get(contact=child)
    assert (state.status, state.guardian_status) == (ConsentStatus.EXPIRED, ConsentStatus.EXPIRED)
    expired = ConsentEvent.objects.for_org(world.a).filter(action="expired", expressed_by="guardian").get()
    assert expired.guardian == parent


def test_it_records_a_guardians_objection_as_the_minors_on_other_bases(world):
    """R-14, R-04: on a public-task purpose the guardian exercises the minor's right to object."""
    purpose = make_purpose(world.a)
    parent = make_contact(world.a, birth_date="1980-02-02")
    child = make_contact(world.a, birth_date=_years_ago(9), guardian=parent, guardian_relation="parent")
    _inform(child, purpose)
    services.record_consent(child, purpose, "sms", "objected", actor=SYSTEM, expressed_by="guardian", guardian=parent,
                            method="paper_form")
    assert ConsentState.objects.for_org(world.a).get(contact=child).status == ConsentStatus.OBJECTED
    assert _reason(child, purpose) == Reason.OBJECTED


# --- STOP everywhere (R-12, R-31) --------------------------------------------------------------------
def test_it_withdraws_or_objects_on_every_purpose_of_the_channel(world):
    """R-12, R-31: STOP withdraws consent purposes and objects to the others, for every purpose of the
    organisation using SMS; e-mail-only purposes and other organisations are untouched; twice is once."""
    news = make_consent_purpose(world.a, code="news")
    overdue = make_purpose(world.a, code="overdue")
    mail_only = make_purpose(world.a, code="mail-only", channels=["email"])
    draft = make_purpose(world.a, code="later", activate=False)
    foreign = make_purpose(world.b, code="overdue")
    contact = make_contact(world.a)
    give(contact, news)
    _inform(contact, overdue)
    events = services.withdraw_everywhere(contact, "sms", actor=SYSTEM, method="sms_keyword",
                                          evidence={"keyword": "STOP"})
    assert {(e.purpose.code, e.action) for e in events} == {("news", "withdrawn"), ("overdue", "objected"),
                                                            ("later", "objected")}
    assert all(e.method == "sms_keyword" and e.channel == "sms" for e in events)
    assert _reason(contact, news) == Reason.WITHDRAWN
    assert _reason(contact, overdue) == Reason.OBJECTED
    assert _reason(contact, overdue, "email") == "send"
    assert not ConsentEvent.objects.for_org(world.a).filter(purpose=mail_only).exists()
    assert not ConsentEvent.objects.for_org(world.b).filter(purpose=foreign).exists()
    assert draft.status == "draft"
    assert services.withdraw_everywhere(contact, "sms", actor=SYSTEM, method="sms_keyword") == []
