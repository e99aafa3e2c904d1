"""Events and their reminders (R-23, R-27): validity, cancel, reschedule, return, escalation."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.messaging.models import Message, MessageEvent
from relance.messaging.tests.helpers import make_template
from relance.messaging.worker import Worker
from relance.providers.locmem import LocmemProvider
from relance.reminders import services
from relance.reminders.models import Event
from relance.testing import SYSTEM, make_contact, make_org, make_site

from .helpers import messages_of, reminder_setup, upsert

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def clinic(world, daytime):
    purpose, rule, contact = reminder_setup(world.a)
    return world.a, purpose, rule, contact


def run_worker_at(moment):
    with time_machine.travel(moment, tick=False):
        return Worker(batch_size=100).run_once()


def test_it_schedules_the_future_steps_with_the_appointment_as_validity_R23(clinic):
    org, purpose, rule, contact = clinic
    event, created = upsert(org, contact, purpose, starts_at=timezone.now() + timedelta(days=3))
    assert created and event.plan.past == 0
    rows = messages_of(event)
    assert [(m.step, m.channel, m.status) for m in rows] == [(0, "email", "scheduled"), (1, "email", "scheduled"),
                                                             (2, "sms", "scheduled")]
    assert all(m.valid_until == event.starts_at for m in rows)
    assert [m.due_at for m in rows] == [event.starts_at - timedelta(minutes=o) for o in (2880, 1440, 120)]
    params = json.loads(rows[2].params)
    assert params["starts_at"] == event.starts_at.isoformat()
    assert AuditEvent.objects.filter(organisation=org, action="event.created", target_id=str(event.pk)).exists()


def test_it_leaves_out_steps_already_past_and_counts_them(clinic):
    org, purpose, rule, contact = clinic
    event, _ = upsert(org, contact, purpose, starts_at=timezone.now() + timedelta(hours=30))
    assert event.plan.past == 1 and [m.step for m in messages_of(event)] == [1, 2]
    audit = AuditEvent.objects.filter(organisation=org, action="event.created").get()
    assert audit.details["past_steps"] == 1 and audit.details["steps"] == 2


def test_it_never_sends_a_reminder_after_the_appointment_starts_R23(clinic):
    org, purpose, rule, contact = clinic
    event, _ = upsert(org, contact, purpose, starts_at=timezone.now() + timedelta(hours=3))
    sms = messages_of(event)[-1]
    run_worker_at(event.starts_at + timedelta(minutes=1))  # the worker was down until after the start
    sms.refresh_from_db()
    assert sms.status == Message.Status.EXPIRED and sms.reason == "expired"
    assert not [o for o in LocmemProvider.outbox if o.channel == "sms"]


def test_it_escalates_from_email_to_sms_R27(clinic):
    org, purpose, rule, contact = clinic
    event, _ = upsert(org, contact, purpose, starts_at=timezone.now() + timedelta(days=3))
    for row in messages_of(event):
        run_worker_at(row.due_at + timedelta(seconds=1))
    assert [o.channel for o in LocmemProvider.outbox] == ["email", "email", "sms"]
    assert {m.status for m in messages_of(event)} == {Message.Status.SENT}


def test_cancelling_cancels_the_pending_steps_at_once_R27(clinic):
    org, purpose, rule, contact = clinic
    event, _ = upsert(org, contact, purpose)
    services.cancel_event(event, actor=SYSTEM)
    rows = messages_of(event)
    assert {(m.status, m.reason, m.rule) for m in rows} == {("cancelled", "event_cancelled", "R-27")}
    line = MessageEvent.unscoped.filter(message=rows[0], kind="cancelled").get()
    assert line.detail == {"why": "cancelled"}
    for row in rows:
        run_worker_at(row.due_at + timedelta(seconds=1))
    assert LocmemProvider.outbox == []
    assert services.cancel_event(event, actor=SYSTEM).status == "cancelled"  # idempotent


def test_rescheduling_replaces_the_pending_steps_in_the_same_transaction_R27(clinic):
    org, purpose, rule, contact = clinic
    first, _ = upsert(org, contact, purpose, starts_at=timezone.now() + timedelta(days=3))
    old = messages_of(first)
    later = first.starts_at + timedelta(days=2)
    event, created = upsert(org, contact, purpose, starts_at=later)
    assert not created and event.pk == first.pk and event.version == 2
    assert {m.status for m in messages_of(event, "cancelled")} == {"cancelled"}
    assert {m.pk for m in messages_of(event, "cancelled")} == {m.pk for m in old}
    assert MessageEvent.unscoped.filter(message=old[0], kind="cancelled").get().detail == {"why": "rescheduled"}
    new = messages_of(event, "scheduled")
    assert [m.due_at for m in new] == [later - timedelta(minutes=o) for o in (2880, 1440, 120)]
    assert all(m.valid_until == later for m in new)
    audit = AuditEvent.objects.filter(organisation=org, action="event.rescheduled").get()
    assert audit.details["fields"] == ["starts_at"] and audit.details["cancelled_steps"] == 3


def test_the_same_event_sent_again_changes_nothing(clinic):
    org, purpose, rule, contact = clinic
    start = timezone.now() + timedelta(days=3)
    first, _ = upsert(org, contact, purpose, starts_at=start, params={"callback": "01 02 03 04 05"})
    again, created = upsert(org, contact, purpose, starts_at=start, params={"callback": "01 02 03 04 05"})
    assert not created and again.plan is None and again.version == 1
    assert len(messages_of(first)) == 3


def test_returning_the_item_stops_the_ten_day_reminder_R27(world, daytime):
    purpose, rule, contact = reminder_setup(world.a, kind="loan_due")
    site = make_site(world.a, name="Médiathèque Nord")
    event, _ = upsert(world.a, contact, purpose, kind="loan_due", external_id="PRET-9",
                      starts_at=timezone.now() + timedelta(hours=1), site=site)
    three, ten, twenty_one = messages_of(event)
    assert three.valid_until is None  # a loan reminder has no end: the return stops it
    run_worker_at(three.due_at + timedelta(seconds=1))
    assert len(LocmemProvider.outbox) == 1 and "Médiathèque Nord" in LocmemProvider.outbox[0].body
    with time_machine.travel(three.due_at + timedelta(days=1), tick=False):
        services.complete_event(event, actor=SYSTEM)
    run_worker_at(ten.due_at + timedelta(seconds=1))
    run_worker_at(twenty_one.due_at + timedelta(seconds=1))
    assert len(LocmemProvider.outbox) == 1
    ten.refresh_from_db()
    assert ten.status == "cancelled"
    assert MessageEvent.unscoped.filter(message=ten, kind="cancelled").get().detail == {"why": "completed"}
    assert AuditEvent.objects.filter(organisation=world.a, action="event.completed").count() == 1


def test_a_reserved_item_notice_is_valid_until_the_hold_ends_R23(world, daytime):
    steps = [{"offset_minutes": 0, "channel": "sms", "template": "retard"},
             {"offset_minutes": 2 * 1440, "channel": "sms", "template": "retard"}]
    purpose, rule, contact = reminder_setup(world.a, kind="reserved_item", steps=steps)
    start = timezone.now() + timedelta(minutes=10)
    event, _ = upsert(world.a, contact, purpose, kind="reserved_item", starts_at=start,
                      ends_at=start + timedelta(days=1))
    assert [m.valid_until for m in messages_of(event)] == [event.ends_at, event.ends_at]
    with pytest.raises(ValidationError) as caught:
        upsert(world.a, contact, purpose, kind="reserved_item", external_id="R-2", starts_at=start)
    assert "ends_at" in caught.value.message_dict


def test_it_chooses_the_template_in_the_persons_language_or_the_organisations(daytime, db_both):
    org = make_org("library", languages=["fr", "en"])
    purpose, rule, _fr = reminder_setup(org)
    make_template(purpose, channel="sms", code="rappel-h2", language="en", body="Hello {first_name} {date} {time}")
    english = make_contact(org, language="en")
    french = make_contact(org, language="fr")
    for n, person in enumerate((english, french)):
        from relance.consent import services as consent
        from relance.consent.tests.helpers import notice_of

        consent.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="web_form", contact=person)
        event, _ = upsert(org, person, purpose, external_id=f"L-{n}")
        rows = messages_of(event)
        # e-mail templates exist in French only: the organisation's default language
        assert [m.language for m in rows] == ["fr", "fr", person.language]


def test_it_reports_every_invalid_field_and_refuses_a_closed_events_change(clinic, world):
    org, purpose, rule, contact = clinic
    with pytest.raises(ValidationError) as caught:
        services.upsert_event(org, actor=SYSTEM, external_id=" ", kind="party", contact=make_contact(world.b),
                              purpose=purpose, starts_at="tomorrow", params={"diagnosis": "x"})
    assert set(caught.value.message_dict) == {"external_id", "kind", "starts_at", "contact", "params.diagnosis"}
    event, _ = upsert(org, contact, purpose)
    services.cancel_event(event, actor=SYSTEM)
    with pytest.raises(ValidationError) as caught:
        upsert(org, contact, purpose, starts_at=event.starts_at + timedelta(hours=1))
    assert "external_id" in caught.value.message_dict


def test_the_same_external_id_is_a_different_event_in_each_organisation_R63(world, daytime):
    purpose_a, _ra, contact_a = reminder_setup(world.a)
    purpose_b, _rb, contact_b = reminder_setup(world.b)
    event_a, created_a = upsert(world.a, contact_a, purpose_a, external_id="SAME")
    event_b, created_b = upsert(world.b, contact_b, purpose_b, external_id="SAME")
    assert created_a and created_b and event_a.pk != event_b.pk
    assert event_a.external_id_index != event_b.external_id_index  # keyed per organisation
    services.cancel_event(event_b, actor=SYSTEM)
    assert {m.status for m in messages_of(event_a)} == {"scheduled"}
    assert Event.objects.for_org(world.a).get(pk=event_a.pk).external_id == "SAME"


def test_a_health_organisation_cannot_store_a_visits_reason_R24(world, daytime):
    purpose, _rule, contact = reminder_setup(world.b)
    with pytest.raises(ValidationError) as caught:
        upsert(world.b, contact, purpose, params={"reason": "IRM", "place": "Cabinet Sud"})
    assert list(caught.value.message_dict) == ["params.reason"]
