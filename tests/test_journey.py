"""The whole product on the embedded default (issue 4): the demo's event → reminders → console
provider → delivery receipt → STOP from the simulated phone → no more messages → the suppression
survives a re-import (R-21, R-27, R-29, R-30 … R-33)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from relance.accounts.models import Organisation, User
from relance.backoffice.tests.helpers import sign_in
from relance.contacts.models import Contact, SuppressionEntry
from relance.imports import services as imports
from relance.messaging.models import InboundMessage, Message
from relance.messaging.tests.helpers import TUESDAY_MORNING
from relance.messaging.worker import Worker
from relance.ops.demo import load_demo
from relance.ops.demo_messaging import load_messaging_demo
from relance.providers.console import ConsoleProvider
from relance.reminders.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

LEA = "+33612345601"


def drain(worker: Worker) -> None:
    while worker.run_once():
        pass


@pytest.fixture
def demo(settings):
    settings.RELANCE_DEMO = True
    with time_machine.travel(TUESDAY_MORNING, tick=False) as traveller:
        load_demo()
        load_messaging_demo()
        yield traveller


def test_a_reminder_flows_then_stop_ends_everything_for_that_number(demo, client):
    org = Organisation.objects.get(slug="mediatheques-valmont")
    console = io.StringIO()
    worker = Worker("journey", provider_for=lambda channel: ConsoleProvider(channel, stream=console))

    demo.shift(timedelta(minutes=2))  # the demo's reminders are due a minute after loading
    drain(worker)
    assert "Bonjour Léa, des documents empruntés sont à rendre" in console.getvalue()
    lea = Contact.objects.for_org(org).get(phone_index__isnull=False, pk__in=[
        c.pk for c in Contact.objects.for_org(org) if c.phone == LEA])
    first = Message.objects.for_org(org).get(recipient=lea, channel="sms", step=0)
    assert first.status == Message.Status.DELIVERED  # the console provider's receipt went through

    # Léa answers STOP from the simulated phone: the real inbound path.
    admin = User.objects.get(email_index__isnull=False, pk__in=[
        u.pk for u in User.objects.all() if u.email == "admin@relance.test"])
    sign_in(client, admin, org)
    response = client.post(reverse("backoffice:phone"), {"contact": str(lea.pk), "text": "Stop."})
    assert response.status_code == 302
    assert InboundMessage.objects.for_org(org).get().action == "stop"
    assert SuppressionEntry.objects.for_org(org).filter(phone_hash=lea.phone_index).exists()
    drain(worker)
    to_lea = "to +336…01 from"
    ack = console.getvalue().split(to_lea)[-1]
    assert "Vous ne recevrez plus de SMS de Réseau des médiathèques de Valmont" in ack

    # Her loan is rescheduled: the new reminders are decided again and not sent.
    event = Event.objects.for_org(org).get(contact=lea)
    from relance.ops.demo_messaging import ACTOR
    from relance.reminders import services as reminders

    reminders.upsert_event(org, actor=ACTOR, external_id="DEMO-PRET-1", kind="loan_due", contact=lea,
                           purpose=event.purpose, starts_at=event.starts_at + timedelta(minutes=5))
    sent_before = console.getvalue().count(to_lea)
    demo.shift(timedelta(minutes=10))
    drain(worker)
    assert console.getvalue().count(to_lea) == sent_before
    late = Message.objects.for_org(org).filter(recipient=lea, channel="sms").exclude(pk=first.pk).exclude(source="reply")
    assert not late.filter(status__in=["sending", "sent", "delivered"])
    redone = late.get(step=0, status="suppressed")  # the rescheduled first reminder, decided again
    assert (redone.reason, redone.rule) == ("objected", "R-31")

    # A later import of her number for a consent purpose does not re-enrol her.
    csv = ("first_name,last_name,phone,consent_source,consent_date,consent_ref,consent_collector\n"
           f"Léa,Fontaine,{LEA},web_form,2026-11-01,FORM-12,Valmont\n")
    plan = imports.plan_import(org, csv.encode(), purpose=org_purpose(org, "closure-news"))
    assert [row.status for row in plan.rows] == ["suppressed"]


def org_purpose(org, code):
    from relance.consent.models import Purpose

    return Purpose.objects.for_org(org).get(code=code)
