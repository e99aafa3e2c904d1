"""Creating and updating contacts: parsing, normalisation, validation, indexes, duplicates, audit
(R-60, R-61, R-65)."""

import re
from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from relance.contacts import services
from relance.contacts.models import Contact
from relance.testing import SYSTEM, make_contact, make_org, make_site

from .helpers import details_text, events, raw_row

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def _errors(call) -> dict:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


# --- phone numbers -------------------------------------------------------------------------
def test_it_reads_a_french_national_number_with_a_french_organisation():
    """R-61 (normalised before hashing): '06 12 34 56 78' in a FR organisation is +33612345678."""
    contact = make_contact(make_org(country="FR"), phone="06 12 34 56 78")
    assert Contact.objects.for_org(contact.organisation).get(pk=contact.pk).phone == "+33612345678"


def test_it_reads_a_belgian_number_with_a_belgian_organisation():
    """+32 and the Belgian national format give the same E.164 number in a BE organisation."""
    org = make_org(country="BE")
    assert make_contact(org, phone="+32 470 12 34 56").phone == "+32470123456"
    assert make_contact(org, phone="0470 12 34 57").phone == "+32470123457"


def test_it_refuses_a_landline_for_sms():
    """R-29: a number that cannot receive SMS is refused with a clear message, not stored."""
    org = make_org(country="FR")
    errors = _errors(lambda: make_contact(org, phone="01 42 68 53 00"))
    assert list(errors) == ["phone"]
    assert "mobile" in errors["phone"][0]
    assert Contact.objects.for_org(org).count() == 0


@pytest.mark.parametrize("garbage", ["hello", "12", "+", "06 12", "🙂", "+33 6 12 34 56 78 90 12"])
def test_it_refuses_garbage_as_a_phone_number(garbage):
    errors = _errors(lambda: make_contact(make_org(), phone=garbage))
    assert list(errors) == ["phone"]


def test_it_never_repeats_the_refused_value_in_its_message():
    """R-61: error messages carry no personal data."""
    errors = _errors(lambda: make_contact(make_org(), phone="01 42 68 53 00", email="jeanne.martin@nowhere"))
    assert "53 00" not in str(errors) and "jeanne" not in str(errors)


def test_it_lets_a_contact_have_no_phone():
    contact = make_contact(make_org(), phone=None)
    assert contact.phone is None and contact.phone_index is None


# --- every field, every error at once ------------------------------------------------------
def test_it_names_every_invalid_field_at_once():
    """SPEC §4: 422 lists every invalid field; the service gives one error per field."""
    org = make_org(languages=["fr"])
    errors = _errors(lambda: services.create_contact(
        org, actor=SYSTEM, phone="nope", email="not-an-address", birth_date="31/12/1990", minor="maybe",
        language="de", guardian_relation="cousin", source="fax", first_name="x" * 201))
    assert set(errors) == {"phone", "email", "birth_date", "minor", "language", "guardian_relation", "source",
                           "first_name"}


def test_it_reports_rules_across_fields_with_the_fields_own_errors():
    """SPEC §4: a duplicate reference or a relation without guardian is reported with a bad e-mail."""
    org = make_org()
    make_contact(org, external_ref="R-1")
    errors = _errors(lambda: make_contact(org, email="bad", external_ref="R-1", guardian_relation="parent",
                                          birth_date="1970-01-01", minor=True))
    assert set(errors) == {"email", "external_ref", "guardian_relation", "minor"}
    contact = make_contact(org)
    errors = _errors(lambda: services.update_contact(contact, actor=SYSTEM, email="bad", external_ref="R-1"))
    assert set(errors) == {"email", "external_ref"}


def test_it_normalises_the_email_and_names():
    contact = make_contact(make_org(), email="  Jeanne.Martin@Example.ORG ", first_name="  Jeanne ", last_name="")
    assert contact.email == "jeanne.martin@example.org"
    assert contact.first_name == "Jeanne" and contact.last_name is None


def test_it_takes_a_birth_date_as_a_date_or_an_iso_string():
    org = make_org()
    assert make_contact(org, birth_date=date(1990, 5, 17)).birth_date == "1990-05-17"
    assert make_contact(org, birth_date="1991-06-18").birth_date == "1991-06-18"


def test_it_refuses_a_birth_date_in_the_future():
    tomorrow = date.today() + timedelta(days=2)
    assert "birth_date" in _errors(lambda: make_contact(make_org(), birth_date=tomorrow))


def test_it_stores_the_minor_flag_as_yes_or_no():
    org = make_org()
    assert make_contact(org, minor=True).minor == "yes"
    assert make_contact(org, minor=False).minor == "no"
    assert make_contact(org).minor is None


def test_it_refuses_a_minor_flag_that_contradicts_the_birth_date():
    errors = _errors(lambda: make_contact(make_org(), birth_date="1970-01-01", minor=True))
    assert list(errors) == ["minor"]


def test_it_uses_the_organisations_default_language_and_only_its_languages():
    org = make_org(languages=["en", "fr"])
    assert make_contact(org, language=None).language == "en"
    assert "language" in _errors(lambda: make_contact(make_org(languages=["fr"]), language="en"))


def test_it_accepts_only_a_site_of_the_same_organisation():
    """R-63: another organisation's site is 'no such site'."""
    org, other = make_org(), make_org()
    assert make_contact(org, site=make_site(org)).site.organisation == org
    assert "site" in _errors(lambda: make_contact(org, site=make_site(other)))
    assert "site" in _errors(lambda: make_contact(org, site=make_site(other).pk))


# --- indexes (R-61) ------------------------------------------------------------------------
def test_it_stores_no_clear_value_in_any_column():
    """R-60, R-61: the row holds ciphertexts and keyed hashes only."""
    contact = make_contact(make_org(), first_name="Jeanne", last_name="Martin", phone="06 12 34 56 78",
                           email="jeanne.martin@example.org", birth_date="1990-05-17", external_ref="PAT-4711")
    row = raw_row(contact)
    # Ids and keyed hashes are hex: the bare digits "4711" turn up in one of them now and then by chance.
    hexless = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32,}", "", row)
    for clear in ("Jeanne", "Martin", "612345678", "jeanne.martin", "1990-05-17", "PAT-4711"):
        assert clear not in row, clear
    assert "4711" not in hexless
    assert len(contact.phone_index) == len(contact.email_index) == len(contact.external_ref_index) == 64


def test_it_keys_the_indexes_per_organisation():
    """R-61: the same number has a different hash in another organisation."""
    one, two = make_contact(make_org(), phone="0612345678"), make_contact(make_org(), phone="0612345678")
    assert one.phone_index != two.phone_index


def test_it_refuses_a_duplicate_external_reference_naming_the_field():
    org = make_org()
    make_contact(org, external_ref="PAT-1")
    errors = _errors(lambda: make_contact(org, external_ref=" PAT-1 "))
    assert list(errors) == ["external_ref"]
    make_contact(make_org(), external_ref="PAT-1")  # another organisation may use it


def test_it_allows_duplicates_by_phone_and_email_and_reports_them():
    """Families share a number: allowed, and find_duplicates() shows them."""
    org = make_org()
    parent = make_contact(org, phone="06 12 34 56 78", email="famille@example.org")
    child = make_contact(org, phone="+33612345678", email="other@example.org")
    third = make_contact(org, phone="0611111111", email="FAMILLE@example.org")
    make_contact(make_org(), phone="0612345678")
    assert services.find_duplicates(org, phone="06 12 34 56 78") == [parent, child]
    assert services.find_duplicates(org, email="famille@example.org") == [parent, third]
    assert services.find_duplicates(org, phone="0612345678", email="famille@example.org") == [parent, child, third]
    assert services.find_duplicates(org, phone="garbage") == []
    assert services.find_duplicates(org) == []


def test_it_audits_the_creation_with_field_names_only():
    """R-65: contact.created names the filled fields, never their values."""
    contact = make_contact(make_org(), first_name="Jeanne", phone="0612345678", email="j@example.org")
    event = events(contact.organisation, "contact.created")[0]
    assert event.target_id == str(contact.pk)
    assert "phone" in event.details["fields"] and "birth_date" not in event.details["fields"]
    assert "Jeanne" not in details_text(event) and "612345678" not in details_text(event)


# --- updates ---------------------------------------------------------------------------------
def test_it_updates_with_the_same_rules_and_recomputes_the_indexes():
    contact = make_contact(make_org(), phone="0612345678", email="old@example.org")
    old_index = contact.phone_index
    services.update_contact(contact, actor=SYSTEM, phone="07 81 23 45 67", email="New@Example.org")
    fresh = Contact.objects.for_org(contact.organisation).get(pk=contact.pk)
    assert fresh.phone == contact.phone == "+33781234567"
    assert fresh.email == "new@example.org"
    assert fresh.phone_index != old_index
    assert services.find_duplicates(contact.organisation, phone="0781234567") == [fresh]
    assert services.find_duplicates(contact.organisation, phone="0612345678") == []


def test_it_audits_only_the_names_of_the_fields_that_changed():
    """R-65: contact.updated lists changed field names; an unchanged value is not listed."""
    contact = make_contact(make_org(), first_name="Jeanne", phone="0612345678")
    services.update_contact(contact, actor=SYSTEM, first_name="Jeanne", phone="06 98 76 54 32", last_name="Durand")
    event = events(contact.organisation, "contact.updated")[-1]
    assert event.details == {"fields": ["last_name", "phone"]}
    count = len(events(contact.organisation))
    services.update_contact(contact, actor=SYSTEM, first_name="Jeanne")
    assert len(events(contact.organisation)) == count  # nothing changed, nothing recorded


def test_it_refuses_bad_or_unknown_fields_on_update_and_changes_nothing():
    contact = make_contact(make_org(), email="keep@example.org")
    errors = _errors(lambda: services.update_contact(contact, actor=SYSTEM, email="bad", status="erased",
                                                     source="api", phone_index="x"))
    assert set(errors) == {"email", "status", "source", "phone_index"}
    assert Contact.objects.for_org(contact.organisation).get(pk=contact.pk).email == "keep@example.org"


def test_it_refuses_a_duplicate_external_reference_on_update():
    org = make_org()
    make_contact(org, external_ref="A-1")
    contact = make_contact(org, external_ref="A-2")
    assert list(_errors(lambda: services.update_contact(contact, actor=SYSTEM, external_ref="A-1"))) == ["external_ref"]
    services.update_contact(contact, actor=SYSTEM, external_ref="A-2", first_name="Same ref is fine")


def test_it_can_clear_a_field():
    contact = make_contact(make_org(), email="gone@example.org")
    services.update_contact(contact, actor=SYSTEM, email=None)
    fresh = Contact.objects.for_org(contact.organisation).get(pk=contact.pk)
    assert fresh.email is None and fresh.email_index is None


def test_it_keeps_a_suppressed_number_as_a_contact():
    """R-31: a number on the suppression list can still be a contact (e-mail service messages)."""
    org = make_org()
    services.suppress_number(org, "0612345678", actor=SYSTEM, reason="stop")
    contact = make_contact(org, phone="06 12 34 56 78")
    assert services.is_suppressed(org, contact.phone)
