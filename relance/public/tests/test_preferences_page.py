"""R-12 (withdrawal as easy as giving), R-04 (objection), R-10 (web consent with its notice), R-31
(stop everything) and R-65 (opening the link is audited): the preferences page of the signed link."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.tests.helpers import give
from relance.contacts import links

from .helpers import person, public_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def setup(db):
    org, service, news = public_org()
    contact = person(org)
    return org, service, news, contact, f"/p/s/{links.token_for(contact)}/"


def state(contact, purpose, channel="sms"):
    row = ConsentState.objects.for_org(contact.organisation_id).filter(contact=contact, purpose=purpose,
                                                                        channel=channel).first()
    return row.status if row else "none"


def test_it_shows_each_purpose_with_its_basis_and_state_and_audits_the_opening(client, setup):
    org, service, news, contact, url = setup
    give(contact, news)
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Overdue reminders" in body and "News" in body
    assert "public service mission" in body and "You agreed to receive them" in body
    assert "You receive them: you gave your consent." in body and "••\u00a0••\u00a0••\u00a0••\u00a001" in body
    assert contact.phone not in body
    assert AuditEvent.objects.filter(organisation=org, action="contact.link_opened", actor_kind="subject").count() == 1


def test_it_withdraws_one_purpose_on_one_channel_with_the_web_method_r12(client, setup):
    org, service, news, contact, url = setup
    give(contact, news)
    give(contact, news, channel="email")
    response = client.post(url, {"purpose": "news", "channel": "sms", "action": "withdraw"},
                           HTTP_USER_AGENT="Mozilla/5.0 (phone)", REMOTE_ADDR="203.0.113.77", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == url
    assert (state(contact, news), state(contact, news, "email")) == ("withdrawn", "given")
    event = ConsentEvent.objects.for_org(org).filter(contact=contact).order_by("-seq").first()
    assert (event.action, event.method, event.expressed_by, event.actor_kind) == (
        "withdrawn", "web_form", "subject", "subject")
    evidence = consent.evidence_of(event)
    assert evidence["ip"] == "203.0.113.0" and evidence["user_agent"].startswith("sha256:")
    with translation.override("en"):
        page = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "you will no longer receive “News” by SMS" in page


def test_it_gives_consent_with_the_notice_shown_and_objects_to_a_service_purpose_r04(client, setup):
    org, service, news, contact, url = setup
    client.post(url, {"purpose": "news", "channel": "sms", "action": "give"}, HTTP_ACCEPT_LANGUAGE="en")
    given = ConsentEvent.objects.for_org(org).get(contact=contact, action="given")
    assert given.notice == consent.current_notice(news, "fr") or given.notice.purpose_id == news.pk
    assert given.notice_sha256 == given.notice.sha256 and state(contact, news) == "given"
    client.post(url, {"purpose": "overdue", "channel": "sms", "action": "object"})
    assert state(contact, service) == "objected"
    client.post(url, {"purpose": "overdue", "channel": "sms", "action": "restore"})
    assert state(contact, service) == "none"


def test_it_refuses_an_action_the_state_does_not_offer(client, setup):
    org, service, news, contact, url = setup
    response = client.post(url, {"purpose": "news", "channel": "sms", "action": "withdraw"}, follow=True)
    assert state(contact, news) == "none" and response.status_code == 200
    assert not ConsentEvent.objects.for_org(org).filter(contact=contact).exists()
    client.post(url, {"purpose": "news", "channel": "fax", "action": "give"})
    assert not ConsentEvent.objects.for_org(org).filter(contact=contact).exists()


def test_it_stops_everything_only_after_confirmation_r31(client, setup):
    org, service, news, contact, url = setup
    give(contact, news)
    page = client.get(url + "stop/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200 and "Stop all messages?" in page.content.decode()
    assert state(contact, news) == "given"
    done = client.post(url + "stop/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "you will receive nothing more" in done and "START" in done
    for channel in ("sms", "email"):
        assert (state(contact, news, channel), state(contact, service, channel)) == ("withdrawn", "objected")


@pytest.mark.parametrize("mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t[:12], lambda t: "x"])
def test_it_shows_a_plain_page_for_a_tampered_link_never_an_error(client, setup, mangle):
    org, service, news, contact, url = setup
    token = url.split("/")[3]
    for suffix in ("", "stop/"):
        response = client.get(f"/p/s/{mangle(token)}/{suffix}", HTTP_ACCEPT_LANGUAGE="en")
        body = response.content.decode()
        assert response.status_code == 404 and "This link no longer works" in body and "reply STOP" in body
    response = client.post(f"/p/s/{mangle(token)}/", {"purpose": "news", "channel": "sms", "action": "give"})
    assert response.status_code == 404 and not ConsentEvent.objects.for_org(org).exists()


def test_it_shows_the_same_page_for_an_expired_link(client, setup):
    org, service, news, contact, url = setup
    old = links.token_for(contact, today=timezone.now().date() - timedelta(days=91))
    with translation.override("fr"):
        response = client.get(f"/p/s/{old}/", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.status_code == 404 and "Ce lien ne fonctionne plus" in response.content.decode()
    assert not AuditEvent.objects.filter(organisation=org, action="contact.link_opened").exists()
