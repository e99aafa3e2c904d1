"""The batched fact loader equals facts_for() contact by contact (R-20, R-21): same ContactFacts,
PurposeFacts and ConsentFacts for minors and guardians (R-14), import batches (R-04), per-event
consents (R-13), the suppression list (R-31), restricted, deceased and unreachable contacts (R-29,
R-44, R-45); and it reads them in a fixed number of queries, whatever the number of contacts."""

import uuid
from datetime import date, timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.decision import facts_for
from relance.contacts import services as contacts
from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.messaging.facts import load_facts
from relance.testing import SYSTEM, make_contact, make_org

from .campaign_helpers import give, inform, make_consent_purpose, make_purpose

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _years_ago(years: int) -> str:
    today = timezone.localdate()
    return str(date(today.year - years, today.month, 1) - timedelta(days=10))


def _fresh(contact_list):
    """The contacts as a campaign reads them: fresh rows, nothing cached on them."""
    ids = [c.pk for c in contact_list]
    org = contact_list[0].organisation
    return list(Contact.objects.for_org(org).filter(pk__in=ids).order_by("pk"))


def _assert_same(org, people, purpose, channel, *, now=None, event_refs=None):
    now = now or timezone.now()
    event_refs = event_refs or {}
    loaded = load_facts(org, _fresh(people), purpose, channel, now, event_refs=event_refs)
    assert set(loaded) == {c.pk for c in people}
    for contact in _fresh(people):
        expected = facts_for(contact, purpose, channel, now=now, event_ref=event_refs.get(contact.pk))
        assert loaded[contact.pk] == expected, (contact.pk, loaded[contact.pk], expected)
    return loaded


def _public_task_people(org, purpose):
    """Contacts covering every fact a non-consent purpose reads."""
    people = {}
    people["plain"] = make_contact(org)
    people["informed"] = make_contact(org)
    inform(people["informed"], purpose)
    batch = uuid.uuid4()
    people["batch"] = make_contact(org)
    people["other_batch"] = make_contact(org)
    Contact.objects.for_org(org).filter(pk=people["batch"].pk).update(import_batch_id=batch)
    Contact.objects.for_org(org).filter(pk=people["other_batch"].pk).update(import_batch_id=uuid.uuid4())
    consent.record_information(purpose, consent.current_notice(purpose, "fr"), actor=SYSTEM, method="import",
                               import_batch_id=batch, source="Registration forms, 2026")
    people["restricted"] = contacts.restrict_contact(make_contact(org), actor=SYSTEM)
    people["deceased"] = contacts.mark_deceased(make_contact(org), actor=SYSTEM)
    people["unreachable"] = make_contact(org)
    for _ in range(3):
        contacts.record_delivery_failure(people["unreachable"], permanent=True)
    people["stopped"] = make_contact(org, phone="+33612349001")
    contacts.suppress_number(org, "+33612349001", actor=SYSTEM, reason="stop")
    people["no_phone"] = make_contact(org, phone=None)
    parent = make_contact(org, birth_date="1980-02-02", phone="+33612349002")
    contacts.suppress_number(org, "+33612349002", actor=SYSTEM, reason="stop")
    people["parent"] = parent
    people["child"] = make_contact(org, birth_date=_years_ago(9), guardian=parent, guardian_relation="parent")
    inform(people["child"], purpose)
    broken_parent = make_contact(org, birth_date="1981-03-03")
    for _ in range(3):
        contacts.record_delivery_failure(broken_parent, permanent=True)
    people["child_of_unreachable"] = make_contact(org, minor=True, guardian=broken_parent, guardian_relation="parent")
    people["objected"] = make_contact(org)
    inform(people["objected"], purpose)
    consent.record_consent(people["objected"], purpose, "sms", "objected", actor=SYSTEM, expressed_by="subject",
                           method="paper_form")
    people["adult_flag"] = make_contact(org, minor=False)
    return people


def test_it_reads_the_same_facts_as_facts_for_on_a_public_task_purpose(world):
    """R-04, R-14, R-29, R-31, R-44, R-45: every kind of contact, both channels."""
    purpose = make_purpose(world.a)
    people = _public_task_people(world.a, purpose)
    loaded = _assert_same(world.a, list(people.values()), purpose, "sms")
    assert loaded[people["batch"].pk][2].informed and not loaded[people["other_batch"].pk][2].informed
    assert loaded[people["child"].pk][0].on_suppression_list  # the guardian's number
    assert not loaded[people["child_of_unreachable"].pk][0].number_valid
    assert loaded[people["stopped"].pk][0].on_suppression_list
    _assert_same(world.a, list(people.values()), purpose, "email")


def test_it_reads_information_recorded_before_now_only(world):
    """R-04: a notice recorded after `now` does not inform yet (the worker decides at its own `now`)."""
    purpose = make_purpose(world.a)
    contact = make_contact(world.a)
    told_at = timezone.now() - timedelta(hours=2)
    consent.record_information(purpose, consent.current_notice(purpose, "fr"), actor=SYSTEM, method="paper_form",
                               contact=contact, informed_at=told_at)
    before = told_at - timedelta(minutes=1)
    assert not _assert_same(world.a, [contact], purpose, "sms", now=before)[contact.pk][2].informed
    assert _assert_same(world.a, [contact], purpose, "sms")[contact.pk][2].informed


def test_it_reads_the_same_facts_as_facts_for_on_a_consent_purpose(world):
    """R-10, R-12, R-13, R-14: consent given, withdrawn, refused, expired; minors with and without
    their guardian's consent; a guardian's number is NOT the recipient on consent purposes."""
    purpose = make_consent_purpose(world.a, consent_validity_days=30)
    parent = make_contact(world.a, birth_date="1980-02-02", phone="+33612349003")
    contacts.suppress_number(world.a, "+33612349003", actor=SYSTEM, reason="stop")
    people = {"none": make_contact(world.a), "given": make_contact(world.a), "withdrawn": make_contact(world.a),
              "refused": make_contact(world.a), "parent": parent}
    give(people["given"], purpose)
    give(people["withdrawn"], purpose)
    consent.record_consent(people["withdrawn"], purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject",
                           method="sms_keyword")
    consent.record_consent(people["refused"], purpose, "sms", "refused", actor=SYSTEM, expressed_by="subject",
                           method="paper_form")
    for name in ("child_alone", "child_and_guardian", "guardian_only"):
        people[name] = make_contact(world.a, birth_date=_years_ago(13), guardian=parent, guardian_relation="parent")
    give(people["child_alone"], purpose)
    give(people["child_and_guardian"], purpose)
    give(people["child_and_guardian"], purpose, expressed_by="guardian", guardian=parent)
    give(people["guardian_only"], purpose, expressed_by="guardian", guardian=parent)
    people["flagged_minor"] = make_contact(world.a, minor=True)
    loaded = _assert_same(world.a, list(people.values()), purpose, "sms")
    assert loaded[people["child_and_guardian"].pk][2].guardian_status == "given"
    assert not loaded[people["child_alone"].pk][0].on_suppression_list
    _assert_same(world.a, list(people.values()), purpose, "sms", now=timezone.now() + timedelta(days=31))
    _assert_same(world.a, list(people.values()), purpose, "email")


def test_it_reads_per_event_consents_like_facts_for(world):
    """R-13 refresh_per_event: each contact's consent for ITS event, a later STOP cancelling it."""
    purpose = make_consent_purpose(world.a, consent_validity_days=None, refresh_per_event=True)
    tuesday, friday, stopped, blank = (make_contact(world.a) for _ in range(4))
    give(tuesday, purpose, event_ref="tuesday")
    give(tuesday, purpose, event_ref="friday")
    give(friday, purpose, event_ref="friday")
    give(stopped, purpose, event_ref="tuesday")
    consent.withdraw_everywhere(stopped, "sms", actor=SYSTEM, method="sms_keyword")
    give(stopped, purpose, event_ref="monday")
    people = [tuesday, friday, stopped, blank]
    refs = {tuesday.pk: "tuesday", friday.pk: "tuesday", stopped.pk: "tuesday", blank.pk: "tuesday"}
    loaded = _assert_same(world.a, people, purpose, "sms", event_refs=refs)
    assert loaded[tuesday.pk][2].event_ref == "tuesday"
    assert loaded[friday.pk][2].event_ref == "friday"
    _assert_same(world.a, people, purpose, "sms", event_refs={c.pk: "monday" for c in people})
    _assert_same(world.a, people, purpose, "sms")  # no event: the projection as it is


def test_it_reads_the_age_of_a_belgian_minor_like_facts_for(world):
    """R-14: the birth date is read through the subject's key, whatever the country."""
    belgian = make_org("library", country="BE")
    purpose = make_consent_purpose(belgian)
    parent = make_contact(belgian, birth_date="1980-02-02")
    child = make_contact(belgian, birth_date=_years_ago(12), guardian=parent, guardian_relation="parent")
    give(child, purpose, expressed_by="guardian", guardian=parent)
    _assert_same(belgian, [parent, child], purpose, "sms")


def test_it_reads_a_chunk_in_a_fixed_number_of_queries(world):
    """SPEC §7 (audience of 1,000,000): the queries do not grow with the number of contacts."""
    purpose = make_purpose(world.a)
    parents = [make_contact(world.a, birth_date="1980-02-02") for _ in range(3)]

    def chunk(n):
        made = [make_contact(world.a, birth_date=_years_ago(9), guardian=parents[i % 3], guardian_relation="parent")
                for i in range(n)]
        for contact in made[::2]:
            inform(contact, purpose)
        return _fresh(made)

    def queries(people):
        keys.clear_caches()
        with CaptureQueriesContext(connections["default"]) as main, CaptureQueriesContext(connections["keys"]) as ks:
            load_facts(world.a, people, purpose, "sms", timezone.now())
        return len(main) + len(ks)

    small, large = chunk(3), chunk(30)
    assert queries(large) == queries(small) <= 8


def test_it_refuses_contacts_of_another_organisation(world):
    """R-05: a contact of B with a purpose of A is a programming error."""
    with pytest.raises(ValueError):
        load_facts(world.a, [make_contact(world.b)], make_purpose(world.a), "sms", timezone.now())
