"""The worker: claim, decide again (R-21), windows (R-22), validity (R-23), send, record, retry, R-29."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from relance.consent import services as consent
from relance.contacts.models import Contact
from relance.messaging import outbox
from relance.messaging.models import Message, MessageEvent
from relance.messaging.tests.helpers import enqueue, informed_contact, make_template, promotional_purpose, service_purpose
from relance.messaging.worker import Worker, stop_on_signals
from relance.providers.base import ProviderError
from relance.providers.locmem import LocmemProvider
from relance.testing import SYSTEM

pytestmark = [pytest.mark.django_db(databases=["default", "keys"]), pytest.mark.usefixtures("daytime")]


@pytest.fixture
def setup(world):
    purpose = service_purpose(world.a)
    template = make_template(purpose)
    contact = informed_contact(world.a, purpose, first_name="Aline", phone="+33612345678")
    return purpose, template, contact


def timeline(message) -> list[str]:
    return list(MessageEvent.objects.for_org(message.organisation_id).filter(message=message).values_list("kind", flat=True))


def fresh(message) -> Message:
    return Message.objects.for_org(message.organisation_id).get(pk=message.pk)


def test_it_sends_a_due_message_and_records_the_result(setup):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    assert Worker("w1").run_once() == 1
    [sent] = LocmemProvider.outbox
    assert sent.to == "+33612345678" and sent.body.startswith("Bonjour Aline, rappel")
    assert sent.encoding == "GSM7" or sent.encoding.startswith("GSM") or sent.encoding == "UCS2"
    message = fresh(message)
    assert message.status == Message.Status.SENT and message.provider == "locmem" and message.provider_ref
    assert message.body == sent.body  # kept as proof of what was said...
    assert b"Aline" not in message.sealed_bytes("body")  # ...sealed with the contact's key
    assert timeline(message) == ["scheduled", "sent"]


def test_it_does_not_send_what_is_not_due_yet(setup):
    purpose, template, contact = setup
    enqueue(contact, purpose, template, due_at=timezone.now() + timedelta(hours=1))
    assert Worker().run_once() == 0 and LocmemProvider.outbox == []


def test_it_decides_again_just_before_sending_R21(setup):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    consent.record_consent(contact, purpose, "sms", "objected", actor=SYSTEM, expressed_by="subject", method="api")
    Worker().run_once()
    message = fresh(message)
    assert LocmemProvider.outbox == []
    assert (message.status, message.reason, message.rule) == ("suppressed", "objected", "R-04")
    assert timeline(message) == ["scheduled", "suppressed"]


def test_it_never_sends_after_the_validity_R23(setup):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template, valid_until=timezone.now() + timedelta(minutes=5))
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        Worker().run_once()
    assert fresh(message).status == Message.Status.EXPIRED and fresh(message).reason == "expired"
    assert LocmemProvider.outbox == []


def test_it_defers_a_promotional_message_due_on_sunday_to_monday_morning_R22(world):
    purpose = promotional_purpose(world.a)
    template = make_template(purpose, body="{org} : nouveautés de la semaine. {stop}")
    contact = informed_contact(world.a, purpose)
    from relance.consent.tests.helpers import give

    give(contact, purpose)
    sunday = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)  # 10:00 in Paris, a Sunday
    with time_machine.travel(sunday, tick=False):
        message = enqueue(contact, purpose, template, due_at=sunday)
        Worker().run_once()
    message = fresh(message)
    assert message.status == Message.Status.SCHEDULED and message.reason == "window"
    assert message.due_at == datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 Paris
    with time_machine.travel(message.due_at, tick=False):
        assert Worker().run_once() == 1
    assert fresh(message).status == Message.Status.SENT
    assert timeline(message) == ["scheduled", "deferred", "sent"]


def test_it_retries_a_temporary_failure_with_back_off_then_sends(setup, settings):
    settings.RELANCE_RETRY_BASE_SECONDS = 60
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    LocmemProvider.fail_next(1, permanent=False, error="throttled")
    Worker().run_once()
    retried = fresh(message)
    assert retried.status == Message.Status.SCHEDULED and retried.reason == "throttled" and retried.attempts == 1
    delay = (retried.due_at - timezone.now()).total_seconds()
    assert 25 <= delay <= 95  # 60 s ± 50 % jitter
    with time_machine.travel(retried.due_at + timedelta(seconds=1), tick=False):
        Worker().run_once()
    assert fresh(message).status == Message.Status.SENT and fresh(message).attempts == 2
    assert timeline(message) == ["scheduled", "retry", "sent"]


def test_it_gives_up_after_the_last_attempt(setup, settings):
    settings.RELANCE_MAX_ATTEMPTS = 1
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    LocmemProvider.fail_next(1, permanent=False)
    Worker().run_once()
    assert (fresh(message).status, fresh(message).reason) == ("failed", "max_attempts")


def test_three_permanent_failures_invalidate_the_number_R29(setup):
    purpose, template, contact = setup
    LocmemProvider.fail_for("+33612345678")
    messages = [enqueue(contact, purpose, template) for _ in range(4)]
    Worker(batch_size=1).run_once()
    Worker(batch_size=1).run_once()
    Worker(batch_size=1).run_once()
    assert [fresh(m).status for m in messages[:3]] == ["failed"] * 3
    assert Contact.objects.for_org(contact.organisation).get(pk=contact.pk).number_valid is False
    Worker().run_once()
    assert (fresh(messages[3]).status, fresh(messages[3]).reason) == ("suppressed", "invalid_number")


def test_a_batch_wide_provider_error_retries_every_message(setup):
    purpose, template, contact = setup
    messages = [enqueue(contact, purpose, template) for _ in range(3)]
    LocmemProvider.raise_next(ProviderError("connection refused"))
    Worker().run_once()
    assert {fresh(m).status for m in messages} == {"scheduled"}
    LocmemProvider.raise_next(ProviderError("account closed", permanent=True, code="account_closed"))
    with time_machine.travel(timezone.now() + timedelta(hours=7), tick=False):
        Worker().run_once()
    assert {(fresh(m).status, fresh(m).reason) for m in messages} == {("failed", "account_closed")}


def test_a_message_cancelled_while_claimed_is_not_sent_R33(setup):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template, source="event", source_id="evt-1")
    worker = Worker("w1")
    ids = worker.claim(timezone.now())
    with transaction.atomic():
        assert outbox.cancel_pending(contact.organisation, source="event", source_id="evt-1") == 1
    worker.process(ids, timezone.now())
    assert LocmemProvider.outbox == [] and fresh(message).status == Message.Status.CANCELLED
    assert timeline(message) == ["scheduled", "cancelled"]


def test_it_takes_back_claims_of_a_worker_that_died(setup, settings):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    Worker("dead").claim(timezone.now())
    assert Worker("alive").run_once() == 0
    later = timezone.now() + timedelta(seconds=settings.RELANCE_WORKER_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert Worker("alive").run_once() == 1
    assert fresh(message).status == Message.Status.SENT
    assert timeline(message) == ["scheduled", "requeued", "sent"]


def test_a_late_result_does_not_overwrite_the_worker_that_took_the_claim_back(setup, settings):
    """docs/delivery.md: a batch that outlived its lease was taken back (requeued, reconcile) and sent
    by another worker; the slow worker's late record writes nothing, adds no timeline line, and the
    message keeps the live worker's result (found by the kill -9 tests, tests/reliability)."""
    from relance.messaging import dispatch

    purpose, template, contact = setup
    message = enqueue(contact, purpose, template)
    slow = Worker("slow")
    now = timezone.now()
    batch = dispatch.Batch(slow.name, slow.claim_messages(now), now)
    ready, unprepared = dispatch.prepare(dispatch.begin_sending(dispatch.apply_decisions(batch), batch), batch)
    results = unprepared + dispatch.send_all(ready, slow.router)
    assert [result.status for _m, result, _p in results] == ["sent"]
    later = timezone.now() + timedelta(seconds=settings.RELANCE_WORKER_LEASE_SECONDS + 1)
    with time_machine.travel(later, tick=False):
        assert Worker("alive").run_once() == 1
    live_ref = fresh(message).provider_ref
    with transaction.atomic():
        counts = dispatch.record(results, batch)
    assert counts["sent"] == 0
    assert (fresh(message).status, fresh(message).provider_ref) == (Message.Status.SENT, live_ref)
    assert timeline(message) == ["scheduled", "requeued", "sent"]
    assert len(LocmemProvider.outbox) == 2  # the duplicate the lease allows, marked by `requeued`


def test_a_message_to_nobody_fails_without_reaching_the_provider(world):
    purpose = service_purpose(world.a)
    template = make_template(purpose, channel="email")
    contact = informed_contact(world.a, purpose, email=None)
    message = enqueue(contact, purpose, template, channel="email")
    Worker().run_once()
    assert (fresh(message).status, fresh(message).reason) == ("failed", "no_address")


def test_the_loop_stops_on_sigterm_after_its_batch(setup):
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop_on_signals(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    purpose, template, contact = setup
    enqueue(contact, purpose, template)
    worker = Worker()
    worker.run(stop, idle=0)  # already stopped: returns at once, closes its providers
    assert worker.totals["claimed"] == 0


def test_the_loop_sends_then_stops_when_asked(setup):
    purpose, template, contact = setup
    enqueue(contact, purpose, template)
    stop = threading.Event()
    worker = Worker()
    original = worker.run_once

    def once_then_stop(now=None):
        handled = original(now)
        stop.set()
        return handled

    worker.run_once = once_then_stop
    worker.run(stop, idle=0)
    assert worker.totals["sent"] == 1 and len(LocmemProvider.outbox) == 1


def test_messages_of_another_organisation_go_with_their_own_sender(world):
    purpose_a, purpose_b = service_purpose(world.a), service_purpose(world.b)
    ta, tb = make_template(purpose_a), make_template(purpose_b)
    enqueue(informed_contact(world.a, purpose_a), purpose_a, ta)
    enqueue(informed_contact(world.b, purpose_b), purpose_b, tb)
    Worker().run_once()
    assert sorted(item.sender for item in LocmemProvider.outbox) == sorted([world.a.slug[:11], world.b.slug[:11]])


def test_a_template_missing_a_value_fails_the_message_with_its_reason(setup):
    purpose, template, contact = setup
    message = enqueue(contact, purpose, template, params={"place": "Cabinet"})  # no date nor time
    Worker().run_once()
    assert (fresh(message).status, fresh(message).reason) == ("failed", "render_error")
    assert LocmemProvider.outbox == []
