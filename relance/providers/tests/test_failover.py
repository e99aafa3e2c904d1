"""Failover between provider accounts (issue 5 §5): circuit opened after repeated failures, traffic
to the next account by priority, a probe closes it again; every switch is an audit event."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import override_settings

from relance.audit.models import AuditEvent
from relance.messaging.models import Message
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers import services
from relance.providers.base import ProviderError
from relance.providers.locmem import LocmemProvider
from relance.providers.models import ProviderAccount
from relance.testing import SYSTEM

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


@pytest.fixture
def clock():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:
        yield traveller


@pytest.fixture
def setup(world, clock):
    purpose = service_purpose(world.a)
    template = make_template(purpose)
    contact = informed_contact(world.a, purpose, phone="+33612345678")
    first = services.create_account(world.a, name="primary", kind="locmem", credentials={}, actor=SYSTEM, priority=1)
    second = services.create_account(world.a, name="backup", kind="null", credentials={}, actor=SYSTEM, priority=2)
    return purpose, template, contact, first, second


def send_one(setup) -> Message:
    purpose, template, contact, *_ = setup
    message = enqueue(contact, purpose, template)
    Worker("w").run_once()
    return Message.unscoped.get(pk=message.pk)


def actions(account) -> list[str]:
    return list(AuditEvent.objects.filter(target_id=str(account.pk), action__startswith="provider.circuit")
                .order_by("id").values_list("action", flat=True))


def refreshed(account) -> ProviderAccount:
    return ProviderAccount.unscoped.get(pk=account.pk)


def test_it_sends_through_the_first_account_by_priority(setup):
    *_, first, _second = setup
    message = send_one(setup)
    assert message.status == Message.Status.SENT and message.provider == first.label
    assert len(LocmemProvider.outbox) == 1


def test_it_hands_a_failed_batch_to_the_next_account_at_once(setup):
    *_, first, second = setup
    LocmemProvider.raise_next(ProviderError("connection refused", code="refused"))
    message = send_one(setup)
    assert message.status == Message.Status.SENT and message.provider == second.label
    assert message.attempts == 1  # one attempt: the failover happened inside it
    assert refreshed(first).failures == 1 and refreshed(first).circuit == "closed"


def test_it_counts_a_batch_answered_only_retry_as_a_failure(setup):
    *_, first, second = setup
    LocmemProvider.fail_next(1)  # every message of the batch answered "retry"
    message = send_one(setup)
    assert message.provider == second.label and refreshed(first).failures == 1


@override_settings(RELANCE_CIRCUIT_FAILURES=3, RELANCE_CIRCUIT_OPEN_SECONDS=60)
def test_it_opens_the_circuit_after_repeated_failures_and_stops_calling_the_account(setup):
    *_, first, second = setup
    for _ in range(3):
        LocmemProvider.raise_next(ProviderError("timeout", code="timeout"))
        assert send_one(setup).provider == second.label
    account = refreshed(first)
    assert account.circuit == "open" and account.last_error == "timeout"
    assert actions(first) == ["provider.circuit_opened"]
    LocmemProvider.raise_next(ProviderError("would fail", code="x"))
    assert send_one(setup).provider == second.label
    assert len(LocmemProvider._raise) == 1  # the open account was not even called


@override_settings(RELANCE_CIRCUIT_FAILURES=1, RELANCE_CIRCUIT_OPEN_SECONDS=60)
def test_it_probes_after_the_open_period_and_closes_on_success(setup, clock):
    *_, first, _second = setup
    LocmemProvider.raise_next(ProviderError("down", code="down"))
    send_one(setup)
    assert refreshed(first).circuit == "open"
    clock.shift(timedelta(seconds=61))
    message = send_one(setup)
    assert message.provider == first.label
    assert refreshed(first).circuit == "closed" and refreshed(first).failures == 0
    assert actions(first) == ["provider.circuit_opened", "provider.circuit_probe", "provider.circuit_closed"]


@override_settings(RELANCE_CIRCUIT_FAILURES=1, RELANCE_CIRCUIT_OPEN_SECONDS=60)
def test_it_reopens_when_the_probe_fails(setup, clock):
    *_, first, second = setup
    LocmemProvider.raise_next(ProviderError("down", code="down"))
    send_one(setup)
    clock.shift(timedelta(seconds=61))
    LocmemProvider.raise_next(ProviderError("still down", code="down"))
    assert send_one(setup).provider == second.label
    assert refreshed(first).circuit == "open"
    assert actions(first)[-2:] == ["provider.circuit_probe", "provider.circuit_opened"]


@override_settings(RELANCE_CIRCUIT_FAILURES=5)
def test_it_defers_without_spending_an_attempt_when_no_account_takes_the_batch(setup):
    *_, first, second = setup
    services.update_account(second, enabled=False, actor=SYSTEM)
    LocmemProvider.raise_next(ProviderError("down", code="down"))
    message = send_one(setup)
    assert message.status == Message.Status.SCHEDULED and message.reason == "no_provider_available"
    assert message.attempts == 0  # it never reached a provider: nothing is lost, no attempt is spent


def test_it_does_not_resend_elsewhere_what_may_already_have_left(setup, monkeypatch):
    """A message lost in flight (reconcile) waits for its own retry: no second copy through another provider."""
    from relance.providers.base import Result

    *_, first, second = setup
    monkeypatch.setattr(LocmemProvider, "send", lambda self, batch: [
        Result(item.ref, Result.RETRY, error="smpp_in_flight_lost", detail={"reconcile": True}) for item in batch])
    message = send_one(setup)
    assert message.status == Message.Status.SCHEDULED and message.provider == first.label
    assert message.reason == "smpp_in_flight_lost" and message.attempts == 1


def test_it_uses_the_organisations_accounts_before_the_platforms_and_never_anothers(world, clock):
    purpose = service_purpose(world.a)
    template = make_template(purpose)
    contact = informed_contact(world.a, purpose, phone="+33612345678")
    services.create_account(world.b, name="theirs", kind="locmem", credentials={}, actor=SYSTEM, priority=0)
    platform = services.create_account(None, name="platform", kind="null", credentials={}, actor=SYSTEM, priority=0)
    own = services.create_account(world.a, name="ours", kind="null", credentials={}, actor=SYSTEM, priority=50)
    message = enqueue(contact, purpose, template)
    Worker("w").run_once()
    assert Message.unscoped.get(pk=message.pk).provider == own.label
    services.update_account(own, enabled=False, actor=SYSTEM)
    second = enqueue(contact, purpose, template)
    worker = Worker("w2")
    worker.run_once()
    assert Message.unscoped.get(pk=second.pk).provider == platform.label
    assert LocmemProvider.outbox == []  # organisation B's account never carried A's message
