"""The simulated phone of the demo (/app/phone/): demo only, role-gated, one organisation's SMS, replies
through the real inbound path (R-30, R-33)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from relance.audit.models import AuditEvent
from relance.contacts.models import SuppressionEntry
from relance.messaging.sending import settings_for
from relance.messaging.tests.helpers import enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker

from .helpers import sign_in

pytestmark = [pytest.mark.django_db(databases=["default", "keys"]), pytest.mark.usefixtures("daytime")]
PHONE = reverse("backoffice:phone")


@pytest.fixture
def daytime():
    import time_machine

    from relance.messaging.tests.helpers import TUESDAY_MORNING

    with time_machine.travel(TUESDAY_MORNING, tick=True):
        yield


@pytest.fixture
def sent(world, settings):
    settings.RELANCE_DEMO = True
    for org, name in ((world.a, "Aline"), (world.b, "Bruno")):
        sending = settings_for(org)
        sending.sms_sender = org.slug[:11].upper()
        sending.save()
        purpose = service_purpose(org)
        enqueue(informed_contact(org, purpose, first_name=name), purpose, make_template(purpose))
    Worker().run_once()
    return world


def test_it_exists_only_in_demo_mode(sent, client, settings):
    settings.RELANCE_DEMO = False
    sign_in(client, sent.users_a["admin"], sent.a)
    assert client.get(PHONE).status_code == 404


def test_it_shows_the_organisations_sms_and_audits_the_read(sent, client):
    sign_in(client, sent.users_a["operator"], sent.a)
    page = client.get(PHONE).content.decode()
    assert "Bonjour Aline, rappel" in page and "Bruno" not in page  # one organisation only
    assert AuditEvent.objects.filter(organisation=sent.a, action="message.content_read").count() == 1


def test_an_auditor_may_not_read_the_texts(sent, client):
    sign_in(client, sent.users_a["auditor"], sent.a)
    assert client.get(PHONE).status_code == 403


def test_a_stop_typed_on_the_phone_suppresses_the_number(sent, client):
    from relance.contacts.models import Contact

    sign_in(client, sent.users_a["operator"], sent.a)
    aline = next(c for c in Contact.objects.for_org(sent.a) if c.first_name == "Aline")
    response = client.post(PHONE, {"contact": str(aline.pk), "text": "arrêt"}, follow=True)
    assert "stop" in response.content.decode()
    assert SuppressionEntry.objects.for_org(sent.a).filter(phone_hash=aline.phone_index).exists()


def test_a_reply_for_another_organisations_contact_is_refused(sent, client):
    from relance.contacts.models import Contact

    sign_in(client, sent.users_a["operator"], sent.a)
    bruno = Contact.objects.for_org(sent.b).get()
    response = client.post(PHONE, {"contact": str(bruno.pk), "text": "STOP"}, follow=True)
    assert "Choose a phone of the list." in response.content.decode() or "Choisissez" in response.content.decode()
    assert not SuppressionEntry.objects.for_org(sent.b).exists()
