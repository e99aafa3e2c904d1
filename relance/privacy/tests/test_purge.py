"""The retention purge (R-50, R-51): counts equal rows removed, statistics survive, dry runs delete
nothing, chains still verify (R-11), the other organisation is untouched (R-63), the schedule runs
once a day."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from relance.audit.models import AuditEvent, ChainHead
from relance.audit.services import chain_for, verify
from relance.consent import services as consent
from relance.consent.models import ConsentEvent, ConsentState
from relance.consent.tests.helpers import give
from relance.contacts.models import Contact
from relance.messaging.models import InboundMessage, Message, MessageEvent
from relance.messaging.tests.helpers import (
    TUESDAY_MORNING,
    enqueue,
    informed_contact,
    make_template,
    promotional_purpose,
    service_purpose,
)
from relance.privacy import retention
from relance.privacy.models import AccessExport, MessageStat, PurgeReport
from relance.privacy.purge import TIMELINE, purge_all, run_purge, scheduled_purge
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])
LATER = TUESDAY_MORNING + timedelta(days=400)  # past the default metadata, audit and reply retention
STATUSES = [("delivered", "", 1), ("delivered", "", 2), ("failed", "invalid_number", 1), ("suppressed", "withdrawn", 0),
            ("sent", "", 3), ("expired", "expired", 0)]


@pytest.fixture
def clock():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller


def fill(org):
    """Finished messages of every kind, one still scheduled, a reply and an export."""
    purpose = service_purpose(org)
    template = make_template(purpose)
    contact = informed_contact(org, purpose)
    for status, reason, segments in STATUSES:
        message = enqueue(contact, purpose, template)
        Message.unscoped.filter(pk=message.pk).update(status=status, reason=reason, segments=segments)
    pending = enqueue(contact, purpose, template, due_at=timezone.now() + timedelta(days=500))
    InboundMessage.unscoped.create(organisation=org, contact=contact, phone_hash="a" * 64, to="36111", action="stop",
                                   received_at=timezone.now())
    export = AccessExport(organisation=org, contact=contact, document="{}", sha256="0" * 64, created_by_kind="system")
    export.data_key_id = contact.data_key_id
    export.save()
    return purpose, contact, pending


def snapshot(org) -> dict:
    return {"messages": Message.unscoped.filter(organisation=org).count(),
            "timeline": MessageEvent.unscoped.filter(organisation=org).count(),
            "inbound": InboundMessage.unscoped.filter(organisation=org).count(),
            "exports": AccessExport.unscoped.filter(organisation=org).count(),
            "audit": AuditEvent.objects.filter(chain=chain_for(org)).count(),
            "with_body": Message.unscoped.filter(organisation=org, body__isnull=False).count()}


def chains_ok():
    return [str(found) for _chain, found in verify() if found is not None]


def test_it_reports_counts_equal_to_the_rows_removed_R50(world, clock):
    fill(world.a)
    before = snapshot(world.a)
    report = run_purge(world.a, actor=SYSTEM, trigger="command", now=LATER, batch=2)
    after = snapshot(world.a)
    assert report.counts["message_metadata"] == before["messages"] - after["messages"] == len(STATUSES)
    assert report.counts[TIMELINE] == before["timeline"] - after["timeline"] > 0
    assert report.counts["inbound_messages"] == before["inbound"] - after["inbound"] == 1
    assert report.counts["exports"] == before["exports"] - after["exports"] == 1
    # the audit chain lost its prefix; the run's own event was added after it
    assert report.counts["audit_events"] == before["audit"] - (after["audit"] - 1) > 0
    assert after["messages"] == 1  # the scheduled message is never purged
    assert report.policies["message_metadata"] == {"days": 366, "preset": "", "default": True,
                                                   "cutoff": (LATER - timedelta(days=366)).isoformat()}
    assert AuditEvent.objects.filter(action="privacy.purge_run", target_id=str(report.pk)).exists()
    assert chains_ok() == []


def test_it_keeps_statistics_equal_to_the_purged_messages_R51(world, clock):
    purpose, _contact, _pending = fill(world.a)
    run_purge(world.a, actor=SYSTEM, trigger="command", now=LATER, categories=["message_metadata"], batch=4)
    stats = MessageStat.objects.for_org(world.a)
    counted = Counter()
    for stat in stats:
        assert (stat.purpose_code, stat.channel, stat.message_class) == (purpose.code, "sms", "service")
        assert stat.day == TUESDAY_MORNING.date()
        counted[(stat.status, stat.reason, "count")] += stat.count
        counted[(stat.status, stat.reason, "segments")] += stat.segments
    expected = Counter()
    for status, reason, segments in STATUSES:
        expected[(status, reason, "count")] += 1
        expected[(status, reason, "segments")] += segments
    assert counted == expected
    # a second purge of the same day, purpose, status... adds to the same row
    contact = informed_contact(world.a, purpose)
    message = enqueue(contact, purpose, make_template(purpose, code="autre"))
    Message.unscoped.filter(pk=message.pk).update(status="delivered", segments=5)
    run_purge(world.a, actor=SYSTEM, trigger="command", now=LATER, categories=["message_metadata"])
    delivered = MessageStat.objects.for_org(world.a).get(status="delivered")
    assert (delivered.count, delivered.segments) == (3, 8)


def test_it_deletes_nothing_in_a_dry_run(world, clock):
    fill(world.a)
    before = snapshot(world.a)
    report = run_purge(world.a, actor=SYSTEM, trigger="api", now=LATER, dry_run=True, batch=3)
    after = snapshot(world.a)
    assert report.dry_run and report.counts["message_metadata"] == len(STATUSES)
    assert report.counts["inbound_messages"] == report.counts["exports"] == 1
    assert report.counts["audit_events"] == before["audit"] > 0
    assert after == {**before, "audit": before["audit"] + 1}  # only the run's own audit event
    assert not MessageStat.objects.for_org(world.a).exists()
    real = run_purge(world.a, actor=SYSTEM, trigger="api", now=LATER)
    assert real.counts["message_metadata"] == report.counts["message_metadata"]
    assert real.counts["audit_events"] == report.counts["audit_events"] + 1  # the dry run's event is old too


def test_it_clears_content_and_keeps_the_row(world, clock):
    fill(world.a)
    retention.set_policy(world.a, "message_content", 30, actor=SYSTEM)
    report = run_purge(world.a, actor=SYSTEM, trigger="command", now=TUESDAY_MORNING + timedelta(days=40),
                       categories=["message_content", "message_metadata"])
    assert report.counts["message_metadata"] == 0
    assert report.counts["message_content"] == len(STATUSES)
    finished = Message.unscoped.filter(organisation=world.a).exclude(status="scheduled")
    assert finished.count() == len(STATUSES)
    assert all(m.body is None and m.params is None for m in finished)
    assert Message.unscoped.get(organisation=world.a, status="scheduled").params is not None


def test_it_leaves_the_other_organisation_untouched_R63(world, clock):
    fill(world.a)
    fill(world.b)
    before = snapshot(world.b)
    ledger_b = ConsentEvent.unscoped.filter(organisation=world.b).count()
    run_purge(world.a, actor=SYSTEM, trigger="command", now=LATER)
    assert snapshot(world.b) == before
    assert ConsentEvent.unscoped.filter(organisation=world.b).count() == ledger_b
    assert not MessageStat.unscoped.filter(organisation=world.b).exists()
    assert chains_ok() == []


def test_it_removes_only_a_prefix_of_the_ledger_and_verify_passes_R11(world, clock):
    org = world.a
    purpose = promotional_purpose(org)
    first, second = informed_contact(org, purpose), informed_contact(org, purpose)
    give(first, purpose)  # superseded below: may go
    consent.record_consent(first, purpose, "sms", "withdrawn", actor=SYSTEM, expressed_by="subject", method="web_form")
    give(second, purpose)  # current: stays, and so does everything after it
    give(first, purpose)
    retention.set_policy(org, "consent_proofs", 30, actor=SYSTEM)
    dry = run_purge(org, actor=SYSTEM, trigger="command", now=LATER, categories=["consent_proofs"], dry_run=True)
    report = run_purge(org, actor=SYSTEM, trigger="command", now=LATER, categories=["consent_proofs"])
    # seq 1 (given, replaced by the withdrawal) and 2 (withdrawal, replaced by the later giving) go;
    # seq 3 is second's current consent and holds back seq 4
    assert dry.counts["consent_proofs"] == report.counts["consent_proofs"] == 2
    assert list(ConsentEvent.unscoped.filter(organisation=org).order_by("seq").values_list("seq", flat=True)) == [3, 4]
    head = ChainHead.objects.get(chain=f"ledger:org:{org.pk}")
    assert head.base_seq == 2
    assert chains_ok() == []
    give(second, purpose)  # the chain keeps growing from its anchor
    assert chains_ok() == []
    assert ConsentState.unscoped.filter(organisation=org, contact=second).get().last_event.seq == 5


def test_it_erases_inactive_and_deceased_contacts(world, clock):
    from relance.contacts import services as contacts

    org = world.a
    purpose, active, _pending = fill(org)
    Message.unscoped.filter(organisation=org, status="scheduled").update(status="cancelled")
    idle = informed_contact(org, purpose)
    dead = informed_contact(org, purpose)
    contacts.mark_deceased(dead, actor=SYSTEM)
    retention.set_policy(org, "inactive_contacts", 300, actor=SYSTEM)
    messages = Message.unscoped.filter(organisation=org).count()
    report = run_purge(org, actor=SYSTEM, trigger="command", now=LATER,
                       categories=["inactive_contacts", "deceased_contacts"])
    assert report.counts["deceased_contacts"] == 1
    assert report.counts["inactive_contacts"] == 2  # `active`'s last message is old too
    assert set(Contact.unscoped.filter(pk__in=[active.pk, idle.pk, dead.pk]).values_list("status", flat=True)) == {"erased"}
    # their messages were counted before the erasure deleted them
    assert report.counts["message_metadata"] == messages
    assert sum(MessageStat.objects.for_org(org).values_list("count", flat=True)) == messages
    assert chains_ok() == []


def test_it_keeps_contacts_with_recent_activity(world, clock):
    org = world.a
    purpose = service_purpose(org)
    contact = informed_contact(org, purpose)
    retention.set_policy(org, "inactive_contacts", 300, actor=SYSTEM)
    clock.move_to(LATER - timedelta(days=10))
    enqueue(contact, purpose, make_template(purpose))
    report = run_purge(org, actor=SYSTEM, trigger="command", now=LATER, categories=["inactive_contacts"])
    assert report.counts["inactive_contacts"] == 0
    assert Contact.unscoped.get(pk=contact.pk).status == "active"


def test_it_runs_the_schedule_once_a_day(world, clock):
    fill(world.a)
    first = scheduled_purge()
    assert {r.organisation_id for r in first} >= {world.a.pk, world.b.pk}
    assert all(r.trigger == "schedule" and r.finished_at for r in first)
    assert scheduled_purge() == []  # same day: nothing
    clock.move_to(TUESDAY_MORNING + timedelta(days=1))
    again = scheduled_purge()
    assert {r.organisation_id for r in again} == {r.organisation_id for r in first}
    assert PurgeReport.objects.for_org(world.a).filter(trigger="schedule").count() == 2


def test_it_purges_every_organisation_with_purge_all(world, clock):
    fill(world.a)
    fill(world.b)
    reports = purge_all(actor=SYSTEM, trigger="command", now=LATER, categories=["message_metadata"])
    assert {r.organisation_id for r in reports} >= {world.a.pk, world.b.pk}
    assert not Message.unscoped.filter(organisation__in=[world.a, world.b]).exclude(status="scheduled").exists()


def make_purge_report(org) -> PurgeReport:
    """A purge report of `org` (tests/test_isolation.py builds one per organisation, R-63)."""
    return run_purge(org, actor=SYSTEM, trigger="api", dry_run=True, categories=["exports"])
