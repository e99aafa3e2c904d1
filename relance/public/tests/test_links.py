"""R-12: the signed preference link of each message — short, unforgeable, expiring, bound to one
contact of one organisation (relance/contacts/links.py)."""

import uuid
from datetime import date, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.contacts import links
from relance.contacts import services as contacts
from relance.testing import SYSTEM, make_contact

KEY = links.derive_key("a test secret")
CONTACT, ORG, DAY = uuid.UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"), 7, date(2027, 3, 1)
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_it_round_trips_a_token_of_24_base64url_characters():
    token = links.make_token(CONTACT, ORG, DAY, KEY)
    assert len(token) == 24 and set(token) <= set(ALPHABET)
    parsed = links.parse_token(token)
    assert parsed.last_day == DAY and links.is_authentic(parsed, CONTACT, ORG, KEY)
    low, high = links.prefix_range(parsed.prefix)
    assert low <= CONTACT <= high


def test_it_refuses_a_token_with_any_character_changed():
    token = links.make_token(CONTACT, ORG, DAY, KEY)
    for position in range(len(token)):
        for replacement in {ALPHABET[(ALPHABET.index(token[position]) + 1) % 64], "A", "_"} - {token[position]}:
            tampered = token[:position] + replacement + token[position + 1:]
            parsed = links.parse_token(tampered)
            assert parsed is None or not links.is_authentic(parsed, CONTACT, ORG, KEY), (position, replacement)


def test_it_refuses_another_contact_another_organisation_and_another_key():
    parsed = links.parse_token(links.make_token(CONTACT, ORG, DAY, KEY))
    same_prefix = uuid.UUID(bytes=CONTACT.bytes[:8] + bytes(8))
    assert not links.is_authentic(parsed, same_prefix, ORG, KEY)
    assert not links.is_authentic(parsed, CONTACT, ORG + 1, KEY)
    assert not links.is_authentic(parsed, CONTACT, ORG, links.derive_key("another secret"))


def test_it_expires_after_its_last_day():
    parsed = links.parse_token(links.make_token(CONTACT, ORG, DAY, KEY))
    assert not links.is_expired(parsed, DAY)
    assert links.is_expired(parsed, DAY + timedelta(days=1))


@pytest.mark.parametrize("junk", ["", "short", "A" * 23, "A" * 25, "é" * 24, "A" * 22 + "==", None])
def test_it_refuses_what_is_not_a_token(junk):
    assert links.parse_token(junk) is None


@pytest.mark.django_db(databases=["default", "keys"])
class TestResolve:
    def test_it_finds_the_contact_and_records_the_opening_r65(self, world):
        contact = make_contact(world.a)
        found = links.resolve(links.token_for(contact), actor=SYSTEM)
        assert found == contact
        event = AuditEvent.objects.filter(organisation=world.a, action="contact.link_opened").get()
        assert event.target_id == str(contact.pk)

    def test_it_refuses_an_expired_link_with_the_default_of_90_days(self, world):
        contact = make_contact(world.a)
        today = date(2027, 1, 1)
        token = links.token_for(contact, today=today)
        assert links.resolve(token, today=today + timedelta(days=90)) == contact
        assert links.resolve(token, today=today + timedelta(days=91)) is None

    @override_settings(RELANCE_LINK_DAYS=3)
    def test_it_follows_the_relance_link_days_setting(self, world):
        contact = make_contact(world.a)
        today = date(2027, 1, 1)
        assert links.resolve(links.token_for(contact, today=today), today=today + timedelta(days=4)) is None

    def test_it_refuses_a_link_made_for_another_organisation(self, world):
        contact = make_contact(world.a)
        forged = links.make_token(contact.pk, world.b.pk, timezone.now().date() + timedelta(days=5), links._key())
        assert links.resolve(forged) is None

    def test_it_refuses_the_link_of_an_erased_or_deceased_contact(self, world):
        contact = make_contact(world.a)
        token = links.token_for(contact)
        contacts.mark_deceased(contact, actor=SYSTEM)
        assert links.resolve(token) is None
