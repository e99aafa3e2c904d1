"""Reads of personal data and lookups: every one audited, without personal values (R-61, R-65)."""

import pytest
from django.core.exceptions import ValidationError

from relance.audit.services import Actor
from relance.contacts import personal_data, services
from relance.testing import make_contact, make_org

from .helpers import details_text, events

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
READER = Actor("user", "42", "203.0.113.0")


def test_it_audits_every_read_of_personal_data():
    """R-65: read_personal_data writes contact.read with the actor, the target and the purpose."""
    contact = make_contact(make_org(), first_name="Jeanne", phone="0612345678", minor=True)
    data = services.read_personal_data(contact, actor=READER, purpose="api.get")
    assert data["first_name"] == "Jeanne" and data["phone"] == "+33612345678" and data["minor"] is True
    assert set(data) == set(services.PERSONAL_FIELDS)
    event = events(contact.organisation, "contact.read")[-1]
    assert (event.actor_kind, event.actor_id, event.ip) == ("user", "42", "203.0.113.0")
    assert event.target_id == str(contact.pk) and event.details == {"purpose": "api.get"}


def test_it_refuses_a_free_text_purpose():
    """R-65: the purpose is a code, so no personal value can slip into the audit trail through it."""
    contact = make_contact(make_org())
    with pytest.raises(ValueError):
        services.read_personal_data(contact, actor=READER, purpose="call Jeanne at 0612345678")


def test_it_finds_by_phone_in_any_format_and_audits_the_lookup():
    """R-61: exact match through the keyed hash; R-65: contact.lookup names the index, not the value."""
    org = make_org()
    contact = make_contact(org, phone="+33 6 12 34 56 78")
    assert services.find_by_phone(org, "06.12.34.56.78", actor=READER) == [contact]
    event = events(org, "contact.lookup")[-1]
    assert event.details == {"kind": "phone", "found": 1} and event.target_id == str(contact.pk)
    assert "612345678" not in details_text(event)


def test_it_finds_an_email_whatever_its_case():
    org = make_org()
    contact = make_contact(org, email="Jeanne.Martin@Example.org")
    assert services.find_by_email(org, "  JEANNE.martin@example.ORG", actor=READER) == [contact]


def test_it_finds_by_external_reference():
    org = make_org()
    contact = make_contact(org, external_ref="PAT-9")
    assert services.find_by_external_ref(org, "PAT-9", actor=READER) == contact
    assert services.find_by_external_ref(org, "pat-9", actor=READER) is None


def test_it_audits_lookups_that_find_nothing():
    """R-65: a miss is audited too, with the kind of index and no value."""
    org = make_org()
    make_contact(make_org(), email="elsewhere@example.org")  # another organisation's contact is not found
    assert services.find_by_email(org, "elsewhere@example.org", actor=READER) == []
    event = events(org, "contact.lookup")[-1]
    assert event.details == {"kind": "email", "found": 0}
    assert "elsewhere" not in details_text(event)


def test_it_lists_every_contact_sharing_a_number():
    org = make_org()
    one, two = make_contact(org, phone="0612345678"), make_contact(org, phone="0612345678")
    assert services.find_by_phone(org, "0612345678", actor=READER) == [one, two]
    assert events(org, "contact.lookup")[-1].details["contacts"] == [str(one.pk), str(two.pk)]


def test_it_refuses_an_invalid_lookup_value_without_auditing_it():
    org = make_org()
    with pytest.raises(ValidationError) as caught:
        services.find_by_phone(org, "not a number", actor=READER)
    assert list(caught.value.message_dict) == ["phone"]
    assert events(org, "contact.lookup") == []


def test_it_looks_up_by_exactly_one_kind():
    org = make_org()
    for kwargs in ({}, {"phone": "0612345678", "email": "a@example.org"}):
        with pytest.raises(ValidationError):
            services.lookup(org, actor=READER, **kwargs)
    contact = make_contact(org, external_ref="X1")
    assert services.lookup(org, actor=READER, external_ref="X1") == [contact]


def test_it_gets_a_contact_of_the_organisation_only():
    """R-63: another organisation's contact, or a malformed id, is None; the miss is audited."""
    org = make_org()
    mine, theirs = make_contact(org), make_contact(make_org())
    assert services.get_contact(org, mine.pk, actor=READER) == mine
    assert services.get_contact(org, str(mine.pk), actor=READER) == mine
    assert services.get_contact(org, theirs.pk, actor=READER) is None
    assert services.get_contact(org, "nope", actor=READER) is None
    assert [e.details for e in events(org, "contact.lookup")] == [{"kind": "id", "found": 0}] * 2
    assert events(theirs.organisation, "contact.lookup") == []


def test_it_exports_every_personal_field():
    """R-42: export() holds every personal field of the contact, in clear."""
    org = make_org()
    parent = make_contact(org)
    contact = make_contact(org, first_name="Jeanne", last_name="Martin", phone="0612345678",
                           email="j@example.org", birth_date="2012-01-02", external_ref="R1",
                           guardian=parent, guardian_relation="parent")
    data = personal_data.export(contact)
    assert {name: data[name] for name in services.PERSONAL_FIELDS} == {
        "first_name": "Jeanne", "last_name": "Martin", "phone": "+33612345678", "email": "j@example.org",
        "birth_date": "2012-01-02", "minor": None, "external_ref": "R1"}
    assert data["guardian"] == str(parent.pk) and data["guardian_relation"] == "parent"
    assert personal_data.export(parent)["guardian_of"] == [str(contact.pk)]
