"""Bulk upsert of events (R-27; SPEC §7: 10,000 events in one request ≤ 5 s)."""

import json
import time
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.tests.helpers import notice_of
from relance.contacts.models import Contact
from relance.keystore import services as keys
from relance.messaging import outbox
from relance.messaging.models import Message, MessageEvent, Template
from relance.reminders import services
from relance.reminders.models import Event
from relance.testing import SYSTEM, make_contact

from .helpers import messages_of, reminder_setup

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def item(contact, purpose, n, **overrides):
    values = {"external_id": f"RDV-{n}", "kind": "appointment", "contact_id": str(contact.pk),
              "purpose_id": purpose.pk, "starts_at": (timezone.now() + timedelta(days=3)).isoformat()}
    values.update(overrides)
    return values


def test_it_applies_the_good_items_and_reports_every_bad_one_with_its_index(world, daytime):
    purpose, rule, contact = reminder_setup(world.a)
    other = make_contact(world.b)
    items = [item(contact, purpose, 1),
             item(contact, purpose, 2, kind="party", starts_at="soon"),
             item(other, purpose, 3),  # another organisation's contact
             item(contact, purpose, 1),  # the same external_id twice
             item(contact, purpose, 5, contact_id=None, contact_external_ref="nobody"),
             "not an object",
             item(contact, purpose, 7, purpose_id=None, purpose_code=purpose.code, colour="red")]
    report = services.bulk_upsert_events(world.a, actor=SYSTEM, items=items)
    assert report.received == 7 and report.created == 1
    errors = {e["index"]: set(e["fields"]) for e in report.errors}
    assert errors == {1: {"kind", "starts_at"}, 2: {"contact_id"}, 3: {"external_id"}, 4: {"contact_external_ref"},
                      5: {"__all__"}, 6: {"colour"}}
    assert [(e["index"], e["outcome"]) for e in report.events] == [(0, "created")]
    # item 6 has an unknown field: refused whole, nothing half-applied
    assert Event.objects.for_org(world.a).count() == 1
    assert report.steps == 3


def test_it_reschedules_known_events_and_leaves_unchanged_ones(world, daytime):
    purpose, rule, contact = reminder_setup(world.a)
    start = timezone.now() + timedelta(days=3)
    first = [item(contact, purpose, n, starts_at=start.isoformat()) for n in range(3)]
    services.bulk_upsert_events(world.a, actor=SYSTEM, items=first)
    second = [first[0], item(contact, purpose, 1, starts_at=(start + timedelta(days=1)).isoformat()),
              item(contact, purpose, 2, starts_at=start.isoformat(), params={"callback": "0102030405"})]
    report = services.bulk_upsert_events(world.a, actor=SYSTEM, items=second)
    assert (report.unchanged, report.rescheduled, report.updated, report.cancelled_steps) == (1, 1, 1, 6)
    moved = Event.objects.for_org(world.a).get(pk=report.events[1]["id"])
    assert moved.version == 2 and moved.starts_at == start + timedelta(days=1)
    assert [m.due_at for m in messages_of(moved, "scheduled")] == [
        moved.starts_at - timedelta(minutes=o) for o in (2880, 1440, 120)]
    audit = AuditEvent.objects.filter(organisation=world.a, action="event.bulk_upserted").last()
    assert audit.details["rescheduled"] == 1 and audit.details["changed_ids"]


def test_bulk_and_single_upserts_decide_alike_at_scheduling_R21(world, daytime):
    """A contact never informed (R-04) gets the same schedule-time line whichever way its event came."""
    purpose, rule, informed = reminder_setup(world.a)
    uninformed = make_contact(world.a)
    report = services.bulk_upsert_events(world.a, actor=SYSTEM, items=[item(informed, purpose, 1),
                                                                      item(uninformed, purpose, 2)])
    ok, not_ok = (Event.objects.for_org(world.a).get(pk=row["id"]) for row in report.events)
    from relance.messaging.models import MessageEvent

    def first_lines(event):
        return {(line.kind, line.reason) for line in MessageEvent.unscoped.filter(
            message__source_id=str(event.pk), kind="scheduled")}

    assert first_lines(ok) == {("scheduled", "")}
    assert first_lines(not_ok) == {("scheduled", "not_informed")}


def test_it_upserts_ten_thousand_events_in_one_request(world, daytime):
    """SPEC §7: 10,000 events in one request ≤ 5 s (measured here on the test database; printed)."""
    purpose, rule, _contact = reminder_setup(world.a)
    template = Contact.objects.for_org(world.a).first()
    contacts = [make_contact(world.a) for _ in range(200)]
    batch = __import__("uuid").uuid4()
    Contact.objects.for_org(world.a).filter(pk__in=[c.pk for c in contacts]).update(import_batch_id=batch)
    consent.record_information(purpose, notice_of(purpose), actor=SYSTEM, method="import", import_batch_id=batch,
                               source="inscriptions 2026")
    assert template is not None
    start = timezone.now() + timedelta(days=3)
    items = [{"external_id": f"RDV-{n}", "kind": "appointment", "contact_id": str(contacts[n % 200].pk),
              "purpose_code": purpose.code, "starts_at": (start + timedelta(minutes=n)).isoformat(),
              "params": {"callback": "01 02 03 04 05"}} for n in range(10_000)]
    keys.clear_caches()  # as in a fresh process: the keys are read from the key store
    began = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        report = services.bulk_upsert_events(world.a, actor=SYSTEM, items=items)
    elapsed = time.perf_counter() - began
    print(f"\nbulk upsert of 10,000 events on {connection.vendor}: {elapsed:.2f} s, {len(queries)} queries "
          f"({report.steps} reminders scheduled)")
    assert report.created == 10_000 and not report.errors and report.steps == 30_000
    assert Message.objects.for_org(world.a).filter(source="event", status="scheduled").count() == 30_000
    assert MessageEvent.objects.for_org(world.a).filter(kind="scheduled").count() == 30_000
    # No query per event: reads are a fixed handful, writes are batches. On PostgreSQL the events,
    # the messages and their timeline lines go by COPY (one statement each per enqueue, which the
    # capture does not list); SQLite's are INSERT batches, small ones: its 999-variable limit cuts a
    # batch of 35-column messages to 28 rows.
    if connection.vendor == "sqlite":
        assert len(queries) <= 30 + 2 * 30_000 // 28 + 10_000 // 28
    else:
        assert len(queries) <= 30
    # R-27 idempotency: the same request again changes nothing and writes nothing.
    keys.clear_caches()
    with CaptureQueriesContext(connection) as again:
        second = services.bulk_upsert_events(world.a, actor=SYSTEM, items=items)
    assert (second.unchanged, second.created, second.steps) == (10_000, 0, 0)
    assert Message.objects.for_org(world.a).filter(source="event").count() == 30_000
    assert not [q for q in again if not q["sql"].lstrip().upper().startswith(("SELECT", "SAVEPOINT", "RELEASE"))]
    assert AuditEvent.objects.filter(organisation=world.a, action="event.bulk_upserted").count() == 1


def test_insert_many_writes_what_bulk_create_writes(world, daytime):
    """SPEC §7 path: outbox.insert_many() (COPY on PostgreSQL) stores the same values as bulk_create,
    sealed fields included (R-60), and sets the rows' state as bulk_create does."""
    purpose, rule, contact = reminder_setup(world.a)
    template = Template.objects.for_org(world.a).get(code="rappel-h2")
    due = timezone.now() + timedelta(days=1)

    def built(source_id):
        return outbox.build(contact, purpose, "sms", template=template, due_at=due, source="event",
                            source_id=source_id, step=2, valid_until=due + timedelta(hours=2),
                            params={"callback": "01 02 03 04 05", "n": 1})

    copied, created = built("copied"), built("created")
    lines = [outbox.line(copied, "scheduled", at=due, reason="not_informed", rule="R-04", detail={"note": "é"}),
             outbox.line(created, "scheduled", at=due, reason="not_informed", rule="R-04", detail={"note": "é"})]
    with transaction.atomic():
        outbox.insert_many(Message, [copied])
        Message.objects.bulk_create([created])
        outbox.insert_many(MessageEvent, lines[:1])
        MessageEvent.objects.bulk_create(lines[1:])
    assert not copied._state.adding and copied._state.db == created._state.db
    skip = {"id", "source_id", "created_at", "params", "message"}
    a, b = (Message.objects.for_org(world.a).get(source_id=name) for name in ("copied", "created"))
    assert {f.attname: getattr(a, f.attname) for f in Message._meta.concrete_fields if f.name not in skip} == \
        {f.attname: getattr(b, f.attname) for f in Message._meta.concrete_fields if f.name not in skip}
    assert a.params == b.params and json.loads(a.params)["callback"] == "01 02 03 04 05"
    assert bytes(Message.objects.for_org(world.a).filter(pk=a.pk).values_list("params", flat=True)[0]) != \
        a.params.encode()  # sealed in the database
    assert abs(a.created_at - b.created_at) < timedelta(minutes=1)
    line_a, line_b = (MessageEvent.objects.for_org(world.a).get(message=m) for m in (a, b))
    assert (line_a.at, line_a.kind, line_a.reason, line_a.rule, line_a.detail) == (
        line_b.at, line_b.kind, line_b.reason, line_b.rule, line_b.detail) == (due, "scheduled", "not_informed",
                                                                               "R-04", {"note": "é"})


def test_insert_many_reports_a_conflict_as_an_integrity_error(world, daytime):
    """bulk_upsert_events() retries once on IntegrityError (an event created meanwhile, R-27): the COPY
    path must raise Django's IntegrityError as bulk_create does."""
    purpose, rule, contact = reminder_setup(world.a)
    report = services.bulk_upsert_events(world.a, actor=SYSTEM, items=[item(contact, purpose, 1)])
    known = Event.objects.for_org(world.a).get(pk=report.events[0]["id"])
    twin = Event(organisation=world.a, external_id_index=known.external_id_index, kind=known.kind, contact=contact,
                 purpose=purpose, starts_at=known.starts_at, data_key_id=contact.data_key_id)
    twin.external_id = "RDV-1"
    with pytest.raises(IntegrityError), transaction.atomic():
        outbox.insert_many(Event, [twin])
    assert Event.objects.for_org(world.a).count() == 1
