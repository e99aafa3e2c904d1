"""Consent requests by SMS (R-13, R-28): the request carries the notice version it links to, and
pending_request_for() finds it again when the person replies OUI."""

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.consent import services as consent
from relance.consent.tests.helpers import give, make_consent_purpose, notice_of
from relance.messaging import consent_requests
from relance.messaging.models import Message
from relance.messaging.tests.helpers import make_template
from relance.messaging.worker import Worker
from relance.providers.locmem import LocmemProvider
from relance.testing import SYSTEM, make_contact

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

BODY = "{org} : acceptez-vous nos actualités par SMS ? Répondez {keyword}. Détails : {notice_link} {stop}"


@pytest.fixture
def news(world, daytime):
    purpose = make_consent_purpose(world.a, channels=["sms"])
    make_template(purpose, code="consent-request", body=BODY)
    return purpose


def test_it_sends_a_request_with_the_keyword_and_the_notice_link_R28(world, news, settings):
    settings.RELANCE_PUBLIC_URL = "https://relance.example.org/"
    contact = make_contact(world.a)
    message = consent_requests.request_consent(contact, news, actor=SYSTEM)
    notice = notice_of(news, "fr")
    assert (message.source, message.source_id, message.message_class) == ("consent_request", str(notice.pk),
                                                                         "consent_request")
    Worker().run_once()
    sent = LocmemProvider.outbox[-1]
    assert "Répondez OUI" in sent.body
    assert f"https://relance.example.org/p/notices/{notice.uid}/" in sent.body
    assert Message.objects.for_org(world.a).get(pk=message.pk).status == "sent"


def test_pending_request_for_finds_the_latest_request_sent_in_the_last_30_days_R28(world, news):
    contact = make_contact(world.a)
    assert consent_requests.pending_request_for(world.a, contact, timezone.now()) is None
    message = consent_requests.request_consent(contact, news, actor=SYSTEM)
    assert consent_requests.pending_request_for(world.a, contact, timezone.now()) is None  # not sent yet
    Worker().run_once()
    found = consent_requests.pending_request_for(world.a, contact, timezone.now())
    assert found.pk == message.pk and found.purpose == news
    assert consent_requests.pending_request_for(world.a, contact, timezone.now() + timedelta(days=31)) is None
    assert consent_requests.pending_request_for(world.b, contact, timezone.now()) is None


def test_a_new_notice_version_is_the_one_a_new_request_carries_R11(world, news):
    contact = make_contact(world.a)
    newer = consent.publish_notice(news, actor=SYSTEM, language="fr", text="Nouvelle version de l'information.")
    message = consent_requests.request_consent(contact, news, actor=SYSTEM)
    assert message.source_id == str(newer.pk)


def test_it_refuses_a_request_after_a_withdrawal_R12(world, news):
    contact = make_contact(world.a)
    give(contact, news, "sms")
    consent.record_consent(contact, news, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject", method="api")
    with pytest.raises(ValidationError) as caught:
        consent_requests.request_consent(contact, news, actor=SYSTEM)
    assert "withdrawn" in caught.value.message_dict["contact"][0]


def test_it_needs_a_consent_purpose_and_a_template(world, daytime):
    from relance.messaging.tests.helpers import service_purpose

    contact = make_contact(world.a)
    with pytest.raises(ValidationError) as caught:
        consent_requests.request_consent(contact, service_purpose(world.a), actor=SYSTEM)
    assert "purpose" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        consent_requests.request_consent(contact, make_consent_purpose(world.a), actor=SYSTEM)
    assert "consent-request" in caught.value.message_dict["purpose"][0]


def test_a_request_sent_an_hour_ago_is_still_pending_after_time_passes(world, news):
    contact = make_contact(world.a)
    consent_requests.request_consent(contact, news, actor=SYSTEM)
    Worker().run_once()
    with time_machine.travel(timezone.now() + timedelta(days=29), tick=False):
        assert consent_requests.pending_request_for(world.a, contact, timezone.now()) is not None
