"""Guardians (R-14's link), statuses (R-44, R-45) and number validity (R-29)."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError

from relance.contacts import services
from relance.contacts.models import Contact
from relance.testing import SYSTEM, make_contact, make_org

from .helpers import events

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def _fresh(contact) -> Contact:
    return Contact.objects.for_org(contact.organisation).get(pk=contact.pk)


# --- guardians -------------------------------------------------------------------------------
def test_it_links_a_guardian_and_audits_ids_only():
    """R-14: a minor's messages may go to a guardian of the same organisation."""
    org = make_org()
    parent, child = make_contact(org, birth_date="1980-02-03"), make_contact(org, minor=True)
    services.link_guardian(child, parent, "parent", actor=SYSTEM)
    assert _fresh(child).guardian == parent and child.guardian_relation == "parent"
    event = events(org, "contact.guardian_linked")[0]
    assert event.target_id == str(child.pk)
    assert event.details == {"guardian": str(parent.pk), "relation": "parent"}


def test_it_sets_a_guardian_at_creation():
    org = make_org()
    parent = make_contact(org)
    child = make_contact(org, minor=True, guardian=parent, guardian_relation="legal_guardian")
    assert _fresh(child).guardian_id == parent.pk
    assert "guardian_relation" in _errors(lambda: make_contact(org, guardian=parent))
    assert "guardian_relation" in _errors(lambda: make_contact(org, guardian_relation="parent"))


def test_it_refuses_a_guardian_of_another_organisation():
    """R-63: another organisation's contact is 'no such contact', whether given as object or id."""
    org = make_org()
    stranger = make_contact(make_org())
    child = make_contact(org, minor=True)
    assert list(_errors(lambda: services.link_guardian(child, stranger, "parent", actor=SYSTEM))) == ["guardian"]
    assert "guardian" in _errors(lambda: make_contact(org, guardian=stranger.pk, guardian_relation="parent"))
    assert "guardian" in _errors(lambda: make_contact(org, guardian="not-a-uuid", guardian_relation="parent"))
    assert _fresh(child).guardian_id is None


def test_it_refuses_a_circle_of_guardians():
    org = make_org()
    a, b, c = make_contact(org), make_contact(org), make_contact(org)
    services.link_guardian(b, a, "relative", actor=SYSTEM)
    services.link_guardian(c, b, "relative", actor=SYSTEM)
    assert "guardian" in _errors(lambda: services.link_guardian(a, c, "relative", actor=SYSTEM))
    assert "guardian" in _errors(lambda: services.link_guardian(a, a, "relative", actor=SYSTEM))
    assert "guardian" in _errors(lambda: services.update_contact(a, actor=SYSTEM, guardian=b, guardian_relation="proxy"))


def test_it_refuses_a_minor_as_guardian():
    org = make_org()
    child = make_contact(org)
    young = make_contact(org, birth_date=date(date.today().year - 10, 1, 1).isoformat())
    flagged = make_contact(org, minor=True)
    for guardian in (young, flagged):
        assert list(_errors(lambda g=guardian: services.link_guardian(child, g, "relative", actor=SYSTEM))) == ["guardian"]


def test_it_refuses_to_make_a_guardian_a_minor():
    org = make_org()
    parent, child = make_contact(org), make_contact(org, minor=True)
    services.link_guardian(child, parent, "parent", actor=SYSTEM)
    assert list(_errors(lambda: services.update_contact(parent, actor=SYSTEM, minor=True))) == ["minor"]


def test_it_refuses_a_deceased_guardian():
    org = make_org()
    parent, child = make_contact(org), make_contact(org)
    services.mark_deceased(parent, actor=SYSTEM)
    assert "guardian" in _errors(lambda: services.link_guardian(child, parent, "parent", actor=SYSTEM))


def test_it_unlinks_a_guardian():
    org = make_org()
    parent = make_contact(org)
    child = make_contact(org, guardian=parent, guardian_relation="parent")
    services.link_guardian(child, None, actor=SYSTEM)
    assert _fresh(child).guardian_id is None and child.guardian_relation == ""
    assert events(org, "contact.guardian_unlinked")


def test_it_clears_the_relation_when_an_update_removes_the_guardian():
    org = make_org()
    parent = make_contact(org)
    child = make_contact(org, guardian=parent, guardian_relation="proxy")
    services.update_contact(child, actor=SYSTEM, guardian=None)
    assert (_fresh(child).guardian_id, _fresh(child).guardian_relation) == (None, "")
    assert events(org, "contact.updated")[-1].details == {"fields": ["guardian", "guardian_relation"]}


# --- statuses ------------------------------------------------------------------------------
def test_it_restricts_and_lifts_a_restriction():
    """R-44: restriction is a status, with the time it changed, audited both ways."""
    contact = make_contact(make_org())
    services.restrict_contact(contact, actor=SYSTEM)
    fresh = _fresh(contact)
    assert fresh.status == contact.status == Contact.Status.RESTRICTED and fresh.status_changed_at
    services.restrict_contact(contact, actor=SYSTEM)  # already restricted: nothing more
    services.lift_restriction(contact, actor=SYSTEM)
    assert _fresh(contact).status == Contact.Status.ACTIVE
    assert [e.action for e in events(contact.organisation)][-2:] == ["contact.restricted", "contact.restriction_lifted"]
    count = len(events(contact.organisation))
    services.lift_restriction(contact, actor=SYSTEM)  # not restricted: nothing to lift, nothing recorded
    assert len(events(contact.organisation)) == count


def test_it_marks_a_contact_deceased_and_keeps_when():
    """R-45: sending stops at once (status), and the time is kept for the erasure policy."""
    contact = make_contact(make_org())
    services.restrict_contact(contact, actor=SYSTEM)
    services.mark_deceased(contact, actor=SYSTEM)
    fresh = _fresh(contact)
    assert fresh.status == Contact.Status.DECEASED
    changed_at = fresh.status_changed_at
    services.mark_deceased(contact, actor=SYSTEM)
    assert _fresh(contact).status_changed_at == changed_at
    assert "status" in _errors(lambda: services.restrict_contact(contact, actor=SYSTEM))
    assert "status" in _errors(lambda: services.lift_restriction(contact, actor=SYSTEM))
    assert events(contact.organisation, "contact.deceased")[0].details == {"from": "restricted", "to": "deceased"}


def test_it_changes_nothing_on_an_erased_contact():
    contact = make_contact(make_org())
    Contact.objects.for_org(contact.organisation).filter(pk=contact.pk).update(status=Contact.Status.ERASED)
    assert "status" in _errors(lambda: services.update_contact(contact, actor=SYSTEM, first_name="X"))
    assert "status" in _errors(lambda: services.mark_deceased(contact, actor=SYSTEM))


# --- number validity (R-29) ----------------------------------------------------------------
def test_it_marks_the_number_invalid_after_three_permanent_failures():
    """R-29: three permanent failures mark the number invalid; temporary ones do not count."""
    contact = make_contact(make_org())
    for _ in range(2):
        services.record_delivery_failure(contact, permanent=True)
    services.record_delivery_failure(contact, permanent=False)
    assert _fresh(contact).number_valid
    services.record_delivery_failure(contact, permanent=True)
    fresh = _fresh(contact)
    assert not fresh.number_valid and not contact.number_valid and fresh.permanent_failures == 3
    assert events(contact.organisation, "contact.number_invalidated")[0].actor_kind == "system"


def test_it_resets_the_count_on_a_success():
    """R-29: the three failures must be in a row."""
    contact = make_contact(make_org())
    services.record_delivery_failure(contact, permanent=True)
    services.record_delivery_failure(contact, permanent=True)
    services.record_delivery_success(contact)
    assert _fresh(contact).permanent_failures == 0
    services.record_delivery_failure(contact, permanent=True)
    services.record_delivery_failure(contact, permanent=True)
    assert _fresh(contact).number_valid


def test_it_makes_a_rectified_number_valid_again():
    """R-29: excluded until rectified; a new number starts with no failures."""
    contact = make_contact(make_org(), phone="0612345678")
    for _ in range(3):
        services.record_delivery_failure(contact, permanent=True)
    services.rectify_phone(contact, "06 98 76 54 32", actor=SYSTEM)
    fresh = _fresh(contact)
    assert fresh.number_valid and fresh.permanent_failures == 0 and fresh.phone == "+33698765432"
    assert services.find_duplicates(contact.organisation, phone="0698765432") == [fresh]
    assert events(contact.organisation, "contact.phone_rectified")[0].details == {"changed": True}
    assert "phone" in _errors(lambda: services.rectify_phone(contact, "01 42 68 53 00", actor=SYSTEM))


def test_it_makes_a_number_changed_by_update_valid_again():
    contact = make_contact(make_org(), phone="0612345678")
    for _ in range(3):
        services.record_delivery_failure(contact, permanent=True)
    services.update_contact(contact, actor=SYSTEM, phone="0698765432")
    assert _fresh(contact).number_valid


# --- suppression list (R-31) ---------------------------------------------------------------
def test_it_keeps_a_suppressed_number_as_a_keyed_hash_per_organisation():
    """R-31: the list holds the number's keyed hash only, and belongs to one organisation."""
    org, other = make_org(), make_org()
    entry = services.suppress_number(org, "06 12 34 56 78", actor=SYSTEM, reason="stop")
    assert "612345678" not in entry.phone_hash and len(entry.phone_hash) == 64
    assert services.is_suppressed(org, "+33612345678")
    assert not services.is_suppressed(org, "+33612345678", channel="email")
    assert not services.is_suppressed(other, "+33612345678")
    assert not services.is_suppressed(org, "garbage")
    assert services.suppress_number(org, "+33612345678", actor=SYSTEM, reason="objection") == entry
    assert len(events(org, "suppression.added")) == 1


def test_it_suppresses_by_the_hash_a_contact_keeps():
    """R-31, R-43: erasure keeps the contact's phone_index on the list."""
    org = make_org()
    contact = make_contact(org, phone="0612345678")
    services.suppress_hash(org, contact.phone_index, actor=SYSTEM, reason="erasure")
    assert services.is_suppressed(org, "06 12 34 56 78")
    with pytest.raises(ValueError):
        services.suppress_hash(org, "+33612345678", actor=SYSTEM, reason="erasure")
    assert "reason" in _errors(lambda: services.suppress_hash(org, contact.phone_index, actor=SYSTEM, reason="x"))
