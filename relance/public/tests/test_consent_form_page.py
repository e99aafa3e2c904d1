"""R-10/R-11: the consent form an organisation links to or embeds records a `given` event with the
exact notice shown, after the number is proved by a one-time code; nothing pre-ticked; framing only
from the configured origins."""

import pytest
from django.test import override_settings

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.models import ConsentEvent
from relance.contacts.models import Contact

from .helpers import last_code, person, public_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
NUMBER = "06 12 34 00 09"


@pytest.fixture
def setup(db):
    org, service, news = public_org()
    return org, news, f"/p/{org.slug}/consent/news/"


def ask(client, url, notice, agree=True, phone=NUMBER, **extra):
    data = {"step": "send_code", "phone": phone, "notice": str(notice.uid)}
    if agree:
        data["agree"] = "on"
    return client.post(url, data, HTTP_ACCEPT_LANGUAGE="en", **extra)


def test_it_shows_the_current_notice_and_an_unticked_box(client, setup):
    org, news, url = setup
    body = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    notice = consent.current_notice(news, "en")
    assert notice.text in body and f'value="{notice.uid}"' in body
    assert 'type="checkbox" name="agree"' in body and "checked" not in body


def test_it_records_the_consent_with_the_notice_shown_after_the_code(client, setup):
    org, news, url = setup
    notice = consent.current_notice(news, "en")
    step = ask(client, url, notice, HTTP_USER_AGENT="Mozilla/5.0", REMOTE_ADDR="198.51.100.23")
    assert step.status_code == 200 and "Confirm your number" in step.content.decode()
    (contact,) = Contact.objects.for_org(org).all()
    assert contact.source == "web_form" and not ConsentEvent.objects.for_org(org).exists()
    done = client.post(url, {"step": "confirm", "phone": NUMBER, "notice": str(notice.uid), "code": last_code(org)},
                       HTTP_ACCEPT_LANGUAGE="en", HTTP_USER_AGENT="Mozilla/5.0", REMOTE_ADDR="198.51.100.23")
    assert "your consent is recorded" in done.content.decode()
    event = ConsentEvent.objects.for_org(org).get()
    assert (event.contact_id, event.action, event.method, event.channel) == (contact.pk, "given", "web_form", "sms")
    assert (event.notice_id, event.notice_version, event.notice_sha256) == (notice.pk, notice.version, notice.sha256)
    evidence = consent.evidence_of(event)
    assert evidence["ip"] == "198.51.100.0" and evidence["form_url"].endswith(url)
    assert evidence["user_agent"].startswith("sha256:") and "Mozilla" not in evidence["user_agent"]


def test_it_uses_the_existing_contact_of_the_number(client, setup):
    org, news, url = setup
    contact = person(org, phone=NUMBER)
    notice = consent.current_notice(news, "fr")
    ask(client, url, notice)
    client.post(url, {"step": "confirm", "phone": NUMBER, "notice": str(notice.uid), "code": last_code(org)})
    assert ConsentEvent.objects.for_org(org).get().contact_id == contact.pk
    assert Contact.objects.for_org(org).count() == 1


def test_it_records_nothing_without_the_box_or_with_a_wrong_code(client, setup):
    org, news, url = setup
    notice = consent.current_notice(news, "en")
    refused = ask(client, url, notice, agree=False)
    assert refused.status_code == 400 and "Tick the box" in refused.content.decode()
    assert not Contact.objects.for_org(org).exists()
    ask(client, url, notice)
    code = last_code(org)
    wrong = client.post(url, {"step": "confirm", "phone": NUMBER, "notice": str(notice.uid),
                              "code": "000000" if code != "000000" else "111111"}, HTTP_ACCEPT_LANGUAGE="en")
    assert wrong.status_code == 400 and "wrong or has expired" in wrong.content.decode()
    assert not ConsentEvent.objects.for_org(org).exists()
    assert AuditEvent.objects.filter(organisation=org, action="consent.code_rejected").count() == 1


def test_it_answers_404_for_a_purpose_that_does_not_rest_on_consent(client, setup):
    org, news, url = setup
    assert client.get(f"/p/{org.slug}/consent/overdue/").status_code == 404
    assert client.get(f"/p/{org.slug}/consent/nothing/").status_code == 404
    assert client.get("/p/no-such-org/consent/news/").status_code == 404


def test_it_is_not_framed_unless_the_origin_is_configured(client, setup):
    org, news, url = setup
    plain = client.get(url + "?embed=1")
    assert plain["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in plain["Content-Security-Policy"]
    assert 'class="public-foot"' not in plain.content.decode()
    with override_settings(RELANCE_EMBED_ORIGINS=["https://www.mediatheques.example"]):
        framed = client.get(url + "?embed=1")
        normal = client.get(url)
    assert "X-Frame-Options" not in framed
    assert "frame-ancestors https://www.mediatheques.example" in framed["Content-Security-Policy"]
    assert normal["X-Frame-Options"] == "DENY"
