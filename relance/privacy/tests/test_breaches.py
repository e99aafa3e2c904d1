"""The breach register (R-71): the 72-hour / 24-hour clock, the services and their audit events, and
the contacts an incident concerns."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.accounts import services as accounts
from relance.audit.models import AuditEvent
from relance.contacts.models import Contact
from relance.privacy import breaches
from relance.privacy.models import Breach, BreachSubject
from relance.privacy.tests.breach_helpers import make_breach
from relance.reminders.tests.helpers import reminder_setup, upsert
from relance.testing import SYSTEM, make_contact, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
AWARE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def actions(org):
    return list(AuditEvent.objects.filter(organisation=org, action__startswith="privacy.breach")
                .order_by("seq").values_list("action", flat=True))


# --- the clock (pure) ------------------------------------------------------------------------
def test_it_gives_72_hours_from_awareness_R71():
    assert breaches.deadline(AWARE, electronic_communications=False) == AWARE + timedelta(hours=72)


def test_it_gives_24_hours_only_to_electronic_communications_providers_R71():
    """SPEC §9: the 24-hour deadline is the electronic-communications providers' (Regulation 611/2013)."""
    assert breaches.deadline(AWARE, electronic_communications=True) == AWARE + timedelta(hours=24)


def test_it_counts_the_hours_across_a_daylight_saving_change_R71():
    """72 hours are 72 real hours, even over the night clocks go forward in Paris (29 March 2026)."""
    aware = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert breaches.deadline(aware, electronic_communications=False) - aware == timedelta(hours=72)


def test_it_tells_the_time_left_and_when_it_is_late_R71(world):
    with time_machine.travel(AWARE, tick=False):
        breach = make_breach(world.a, aware_at=AWARE)
    assert breaches.time_left(breach, AWARE + timedelta(hours=70)) == timedelta(hours=2)
    assert not breaches.is_late(breach, AWARE + timedelta(hours=72))
    assert breaches.is_late(breach, AWARE + timedelta(hours=72, seconds=1))
    assert breaches.time_left(breach, AWARE + timedelta(hours=73)) == timedelta(hours=-1)
    assert breaches.clock(breach, AWARE + timedelta(hours=73))["overdue"]


def test_the_clock_of_a_provider_runs_out_after_24_hours_R71(db_both):
    org = accounts.update_organisation(make_org("company"), actor=SYSTEM, electronic_communications_provider=True)
    with time_machine.travel(AWARE, tick=False):
        breach = make_breach(org, aware_at=AWARE)
    assert breaches.is_late(breach, AWARE + timedelta(hours=25))


def test_an_unlikely_risk_is_never_late_R71(world):
    with time_machine.travel(AWARE, tick=False):
        breach = make_breach(world.a, aware_at=AWARE)
        breach = breaches.assess_risk(breach, actor=SYSTEM, risk="unlikely", reason="Encrypted disk, key safe.")
    assert not breaches.is_late(breach, AWARE + timedelta(days=30))


# --- services --------------------------------------------------------------------------------
def test_it_numbers_incidents_per_organisation_and_year_R71(world):
    with time_machine.travel(AWARE, tick=False):
        first, second = make_breach(world.a), make_breach(world.a)
        other = make_breach(world.b)
    assert (first.reference, second.reference, other.reference) == ("INC-2026-001", "INC-2026-002", "INC-2026-001")
    assert actions(world.a) == ["privacy.breach_recorded"] * 2


def test_it_refuses_bad_values_and_says_which_R71(world):
    with pytest.raises(ValidationError) as caught:
        make_breach(world.a, kinds=["theft"], data_categories=["dna"], nature=" ",
                    aware_at=timezone.now() + timedelta(hours=1))
    assert set(caught.value.message_dict) == {"kinds", "data_categories", "nature", "aware_at"}
    assert not Breach.objects.for_org(world.a).exists()


def test_it_updates_an_open_incident_and_audits_the_field_names_R71(world):
    breach = make_breach(world.a)
    breach = breaches.update_breach(breach, actor=SYSTEM, consequences="Phishing possible.", approx_records=40)
    event = AuditEvent.objects.filter(organisation=world.a, action="privacy.breach_updated").get()
    assert event.details["fields"] == ["approx_records", "consequences"]
    assert "Phishing" not in str(event.details)


def test_a_late_notification_needs_its_reasons_R71(world):
    """Art. 33(1): past the deadline, the notification is accompanied by the reasons for the delay."""
    with time_machine.travel(AWARE, tick=False):
        breach = make_breach(world.a, aware_at=AWARE)
    with time_machine.travel(AWARE + timedelta(hours=80), tick=False):
        breach = breaches.assess_risk(breach, actor=SYSTEM, risk="risk", reason="Names and numbers exposed.")
        with pytest.raises(ValidationError) as caught:
            breaches.mark_notified(breach, actor=SYSTEM, notified_at=timezone.now(), authority_reference="CNIL-1")
        assert "delay_reason" in caught.value.message_dict
        breach = breaches.mark_notified(breach, actor=SYSTEM, notified_at=timezone.now(),
                                        authority_reference="CNIL-1", delay_reason="Forensics took four days.")
    assert breach.status == "notified" and breaches.is_late(breach, AWARE + timedelta(days=9))
    assert not breaches.is_overdue(breach, AWARE + timedelta(days=9))
    assert AuditEvent.objects.get(organisation=world.a, action="privacy.breach_notified").details["late"] is True


def test_an_on_time_notification_needs_no_reason_R71(world):
    breach = make_breach(world.a)
    breach = breaches.mark_notified(breach, actor=SYSTEM, notified_at=timezone.now(), authority_reference="CNIL-2")
    assert breach.notified_at and not breaches.is_late(breach, timezone.now() + timedelta(days=10))


def test_an_unlikely_risk_closes_without_notification_and_stays_listed_R71(world):
    """Art. 33(5): every incident is documented, notified or not."""
    breach = make_breach(world.a)
    breach = breaches.assess_risk(breach, actor=SYSTEM, risk="unlikely", reason="Data encrypted at rest.")
    breach = breaches.close_breach(breach, actor=SYSTEM)
    assert breach.status == "closed" and breach.notified_at is None
    assert list(Breach.objects.for_org(world.a).values_list("reference", flat=True)) == [breach.reference]
    with pytest.raises(ValidationError):
        breaches.update_breach(breach, actor=SYSTEM, title="Changed")
    assert actions(world.a) == ["privacy.breach_recorded", "privacy.breach_assessed", "privacy.breach_closed"]


def test_a_risk_closes_only_once_notified_and_a_high_risk_once_people_are_told_R71(world):
    breach = make_breach(world.a)
    with pytest.raises(ValidationError):
        breaches.close_breach(breach, actor=SYSTEM)  # not assessed
    breach = breaches.assess_risk(breach, actor=SYSTEM, risk="high", reason="Health data.")
    with pytest.raises(ValidationError):
        breaches.close_breach(breach, actor=SYSTEM)  # not notified
    breach = breaches.mark_notified(breach, actor=SYSTEM, notified_at=timezone.now(), authority_reference="C-3")
    with pytest.raises(ValidationError) as caught:
        breaches.close_breach(breach, actor=SYSTEM)
    assert "reason" in caught.value.message_dict
    breach = breaches.close_breach(breach, actor=SYSTEM, reason="Art. 34(3)(a): the data was encrypted.")
    assert breach.status == "closed"


def test_an_assessment_needs_a_known_level_and_a_reason_R71(world):
    with pytest.raises(ValidationError) as caught:
        breaches.assess_risk(make_breach(world.a), actor=SYSTEM, risk="medium", reason="")
    assert set(caught.value.message_dict) == {"risk", "reason"}


# --- affected contacts -----------------------------------------------------------------------
def test_it_lists_the_contacts_that_existed_in_the_period_and_no_one_elses_R71(world):
    before = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)
    with time_machine.travel(before, tick=False):
        old, erased = make_contact(world.a), make_contact(world.a)
        make_contact(world.b)
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False):
        make_contact(world.a)  # came after the period
    Contact.objects.for_org(world.a).filter(pk=erased.pk).update(status="erased")
    with time_machine.travel(datetime(2026, 3, 2, tzinfo=UTC), tick=False):
        breach = make_breach(world.a, occurred_from=datetime(2026, 1, 1, tzinfo=UTC),
                             occurred_to=datetime(2026, 2, 1, tzinfo=UTC), aware_at=datetime(2026, 2, 2, tzinfo=UTC))
        assert breaches.compute_affected(breach, actor=SYSTEM) == 1
    assert list(BreachSubject.objects.for_org(world.a).values_list("contact_id", flat=True)) == [old.pk]
    assert not BreachSubject.objects.for_org(world.b).exists()
    breach.refresh_from_db()
    assert breach.approx_subjects == 1
    event = AuditEvent.objects.get(organisation=world.a, action="privacy.breach_subjects_computed")
    assert event.details["count"] == 1


def test_appointment_data_concerns_only_people_with_an_appointment_in_the_period_R71(world):
    purpose, _rule, seen = reminder_setup(world.a)
    make_contact(world.a)  # no appointment
    upsert(world.a, seen, purpose, starts_at=timezone.now() + timedelta(days=2))
    breach = make_breach(world.a, data_categories=["appointment"], occurred_from=timezone.now() - timedelta(days=1),
                         occurred_to=timezone.now(), aware_at=timezone.now())
    assert breaches.compute_affected(breach, actor=SYSTEM) == 1
    assert BreachSubject.objects.for_org(world.a).get().contact_id == seen.pk


def test_computing_again_keeps_the_rows_and_does_not_overwrite_a_given_estimate_R71(world):
    make_contact(world.a)
    breach = make_breach(world.a, approx_subjects=500, aware_at=timezone.now())
    assert breaches.compute_affected(breach, actor=SYSTEM) == 1
    make_contact(world.a)
    breach.refresh_from_db()
    assert breaches.compute_affected(breach, actor=SYSTEM) == 1  # the second came after the incident's end
    breach.refresh_from_db()
    assert breach.approx_subjects == 500
