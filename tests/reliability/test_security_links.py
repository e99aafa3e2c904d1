"""R-12, R-63, R-64 (issue 9, §3.7): the signed preference links through the web, attacked.

relance/public/tests/test_links.py proves the token functions; here every attack goes through the
real pages (/p/s/<token>/ and /p/s/<token>/stop/, GET and POST): each character position changed,
truncated and extended tokens, junk, a token signed for another organisation, a token of contact X
carrying contact Y's prefix, an expired link (time_machine past RELANCE_LINK_DAYS), an erased
contact. All give the same plain "this link no longer works" page — never a 500, never the
contact's data, and a POST changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from relance.consent.models import ConsentEvent
from relance.contacts import links
from relance.privacy import erasure
from relance.public.tests.helpers import person, public_org
from relance.testing import SYSTEM, make_org
from tests.reliability.scale import record, scale
from tests.reliability.test_security_csrf import row_counts

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
INVALID = "This link no longer works"


class Stage:
    def __init__(self):
        self.org, self.service, self.news = public_org()
        self.contact = person(self.org, first_name="Zzzelphine", phone="+33612340001")
        self.other = person(self.org, first_name="Zzzyannick", phone="+33612340002")
        self.token = links.token_for(self.contact)
        self.markers = ["Zzzelphine", "Zzzyannick", self.org.name, "06 12 34", "+3361234", str(self.contact.pk)]


@pytest.fixture
def stage(db_both):
    return Stage()


def plain(client, token, stage, *, post=False):
    """Open the preferences and STOP pages with `token`; assert each is the plain invalid-link page
    without data; return the HTML (all the same)."""
    bodies = set()
    for path in (f"/p/s/{token}/", f"/p/s/{token}/stop/"):
        response = client.post(path, {"purpose": "news", "channel": "sms", "action": "withdraw"},
                               HTTP_ACCEPT_LANGUAGE="en") if post \
            else client.get(path, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 404, (token, path, response.status_code)
        body = response.content.decode()
        assert INVALID in body, token
        leaked = [marker for marker in stage.markers if marker in body]
        assert not leaked, (token, leaked)
        bodies.add(body.replace(token, "<token>"))
    return bodies


def test_the_real_link_opens_and_shows_the_person(client, stage):
    """The control: the untouched token opens the page (so the refusals below are the check's)."""
    response = client.get(f"/p/s/{stage.token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200 and INVALID not in response.content.decode()


@pytest.mark.chaos
def test_every_altered_character_gives_the_same_plain_page(client, stage):
    """R-12: each position × a few replacements (all 63 at the long scale), GET and POST: the same page,
    no data, nothing changed."""
    replacements = scale(3, 63)
    before = row_counts()
    pages, tried = set(), 0
    for position, char in enumerate(stage.token):
        start = ALPHABET.index(char)
        for step in range(1, replacements + 1):
            tampered = stage.token[:position] + ALPHABET[(start + step) % 64] + stage.token[position + 1:]
            pages |= plain(client, tampered, stage)
            tried += 1
    for tampered in (stage.token[:5] + "A" + stage.token[6:], stage.token[:-1] + "B"):
        if tampered != stage.token:
            pages |= plain(client, tampered, stage, post=True)
    assert row_counts() == before
    assert len(pages) == 2, "one page for the preferences and one for STOP, whatever was changed"
    record("security-links-tampering", {"tokens_tried": tried, "distinct_pages": len(pages), "errors_5xx": 0})


@pytest.mark.parametrize("shape", ["truncated", "extended", "padded", "junk", "unicode", "dots", "long"])
def test_malformed_tokens_give_the_same_plain_page(client, stage, shape):
    token = {"truncated": stage.token[:-1], "extended": stage.token + "A", "padded": stage.token[:22] + "==",
             "junk": "not-a-token", "unicode": "é" * 24, "dots": "..", "long": "A" * 100}[shape]
    response = client.get(f"/p/s/{token}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404 and not any(m in response.content.decode() for m in stage.markers)


def test_a_link_signed_for_another_organisation_or_another_contact_is_refused(client, stage):
    """R-63: the contact's id signed with another organisation's id; X's signature on Y's prefix."""
    elsewhere = make_org(name="Zzz other organisation")
    key = links.derive_key(django_settings.SECRET_KEY)
    last_day = timezone.now().date() + timedelta(days=30)
    forged = links.make_token(stage.contact.pk, elsewhere.pk, last_day, key)
    plain(client, forged, stage)
    x, y = links.parse_token(stage.token), links.token_for(stage.other)
    swapped = y[:11] + stage.token[11:]  # Y's prefix (8 bytes = the first 10.67 characters), X's day and MAC
    assert links.parse_token(swapped) is None or links.parse_token(swapped).prefix != x.prefix
    plain(client, swapped, stage)
    other_key = links.make_token(stage.contact.pk, stage.org.pk, last_day, links.derive_key("not our secret"))
    plain(client, other_key, stage)


def test_an_expired_link_gives_the_same_plain_page(client, stage, settings):
    """R-12: RELANCE_LINK_DAYS after it was made, the link is refused (time_machine), GET and POST."""
    before = ConsentEvent.objects.for_org(stage.org).count()
    with time_machine.travel(timezone.now() + timedelta(days=settings.RELANCE_LINK_DAYS), tick=False):
        assert client.get(f"/p/s/{stage.token}/").status_code == 200  # still its last day
    with time_machine.travel(timezone.now() + timedelta(days=settings.RELANCE_LINK_DAYS + 1), tick=False):
        plain(client, stage.token, stage)
        plain(client, stage.token, stage, post=True)
    assert ConsentEvent.objects.for_org(stage.org).count() == before


def test_an_erased_contacts_link_gives_the_same_plain_page(client, stage):
    """R-43: once the person is erased, the link shows nothing of them, and changes nothing."""
    erasure.erase_contact(stage.contact, actor=SYSTEM)
    plain(client, stage.token, stage)
    plain(client, stage.token, stage, post=True)


def test_the_link_check_catches_a_page_that_leaks(client, stage):
    """The detector fails on a planted fault: the valid link's page holds the contact's data."""
    response = client.get(f"/p/s/{stage.token}/stop/", HTTP_ACCEPT_LANGUAGE="en")
    with pytest.raises(AssertionError):
        assert response.status_code == 404 and INVALID in response.content.decode()
