"""Issue 7: a newcomer after `make run` can open every screen. On the demo data (the same loaders as
`make run`, with the worker's first round so that messages exist), each role follows every link of
the back-office it is shown, from the dashboard: no page answers 5xx, no link leads to a page the
role may not open, every page has its heading, and the auditor's pages never show a demo contact's
name or number in clear (R-61, masking by role). The signed links carried by the sent messages open their preference pages.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from relance.accounts.models import Organisation, Role
from relance.accounts.services import find_user_by_email
from relance.backoffice.tests.helpers import sign_in
from relance.contacts.models import Contact
from relance.keystore.services import KeyDestroyed
from relance.messaging.models import Message
from relance.messaging.worker import Worker
from relance.ops.demo import load_demo
from relance.ops.demo_messaging import load_messaging_demo

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
LINK = re.compile(r'href="([^"#]+)"')
SKIP = re.compile(r"/(logout|download|language)/|/static/|\.(json|pdf|csv)$|[?&](download|format)=")
LIMIT = 400


@pytest.fixture
def demo(settings, time_machine):
    """The demo as `make run` loads it, on a Tuesday morning (inside every sending window), after the
    worker's rounds of the first minutes."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    time_machine.move_to(datetime(2026, 11, 17, 10, 0, tzinfo=ZoneInfo("Europe/Paris")), tick=False)
    load_demo()
    load_messaging_demo()
    for minutes in (0, 2, 5):
        Worker("demo").run_once(timezone.now() + timedelta(minutes=minutes))
    return Organisation.objects.get(slug="mediatheques-valmont")


def crawl(client, start: str = "/app/") -> dict[str, int]:
    seen: dict[str, int] = {}
    queue = [start]
    while queue and len(seen) < LIMIT:
        url = queue.pop(0)
        if url in seen:
            continue
        response = client.get(url)
        seen[url] = response.status_code
        if response.status_code != 200 or not response.get("Content-Type", "").startswith("text/html"):
            continue
        html = response.content.decode()
        assert "<h1" in html, f"{url} has no heading"
        for href in LINK.findall(html):
            target = urljoin(url, href.replace("&amp;", "&"))
            parts = urlsplit(target)
            if parts.netloc or not parts.path.startswith("/app/") or SKIP.search(target):
                continue
            if "page=" in (parts.query or "") and not parts.query.startswith("page=2"):
                continue  # the second page of a list is enough
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def demo_people(org) -> list[str]:
    values = []
    for contact in Contact.objects.for_org(org):
        try:
            values += [v for v in (contact.phone, contact.last_name) if v and len(v) >= 4]
        except KeyDestroyed:
            continue
    return values


@pytest.mark.parametrize("email, role", [("admin@relance.test", Role.ADMIN), ("auditor@relance.test", Role.AUDITOR),
                                         ("bibliothecaire@relance.test", Role.OPERATOR)])
def test_every_screen_of_the_demo_opens_for_each_role(client, demo, email, role):
    sign_in(client, find_user_by_email(email), demo)
    seen = crawl(client)
    broken = {url: status for url, status in seen.items() if status >= 500}
    assert not broken, broken
    refused = [url for url, status in seen.items() if status == 403]
    assert not refused, f"pages linked for a {role} that the role may not open: {refused}"
    assert len([s for s in seen.values() if s == 200]) >= (25 if role == Role.ADMIN else 10), seen
    if role == Role.AUDITOR:
        people = demo_people(demo)
        assert people
        for url in [u for u, s in seen.items() if s == 200]:
            html = client.get(url).content.decode()
            shown = [value for value in people if value in html]
            assert not shown, f"{url} shows {len(shown)} personal values to an auditor"


def test_the_links_in_the_demo_messages_open_the_preference_pages(client, demo):
    from relance.providers.locmem import LocmemProvider

    sent = Message.objects.for_org(demo).filter(channel="sms").exclude(status__in=Message.PENDING)
    assert sent.exists()
    bodies = [item.body for item in LocmemProvider.outbox]
    links = sorted({m for body in bodies for m in re.findall(r"https?://[^\s]+/p/s/[\w-]+/", body)})
    assert links, "the demo's sent SMS carry the preference link"
    for link in links[:5]:
        response = client.get(urlsplit(link).path)
        assert response.status_code == 200 and "<h1" in response.content.decode()
