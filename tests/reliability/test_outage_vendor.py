"""Issue 9 §2: a vendor answering 500s, then timing out, then recovering, while the worker sends.

Two organisations send through the same Twilio-like vendor (FaultyTwilio, a local server speaking
Twilio's documented answers): A has that account only, B has it first and a healthy second account
behind it. The vendor answers 500 for a while, then takes messages without ever answering (the
client's timeout must fire), then recovers. In-process worker rounds run through the whole outage.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from relance.audit.models import AuditEvent
from relance.messaging.models import Message, MessageEvent
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers import routing, services
from relance.providers.base import Outgoing, Result
from relance.providers.kinds import AccountConfig
from relance.providers.models import ProviderAccount
from relance.providers.twilio.client import TwilioProvider
from relance.testing import SYSTEM
from tests.reliability.faulty_servers import TWILIO_SID, FaultyTwilio, drive, percentile
from tests.reliability.scale import record, scale

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

PER_ORG = scale(80, 1500)  # messages per organisation
BATCH = scale(25, 200)
TIMEOUT = scale(0.5, 2.0)  # the account's HTTP timeout (option `timeout`), seconds
ERRORS_UNTIL = scale(1.5, 30.0)  # 500s from the start to here (seconds)
HANG_UNTIL = scale(3.0, 60.0)  # then no answer until here; then the vendor recovers
MARGIN = 1.0  # seconds a provider call may take beyond its timeout (a loaded CI machine)
FINAL = {Message.Status.SENT, Message.Status.EXPIRED}


@pytest.fixture
def clock():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:  # inside every sending window
        yield traveller


@pytest.fixture
def vendors():
    with FaultyTwilio() as faulty, FaultyTwilio() as healthy:
        yield faulty, healthy


def twilio_account(org, name: str, url: str, priority: int) -> ProviderAccount:
    return services.create_account(org, name=name, kind="twilio", priority=priority, actor=SYSTEM,
                                   credentials={"account_sid": TWILIO_SID, "auth_token": "test-token"},
                                   options={"base_url": url, "timeout": TIMEOUT})


def messages_for(org, prefix: str, count: int) -> list[Message]:
    purpose = service_purpose(org)
    template = make_template(purpose)
    return [enqueue(informed_contact(org, purpose, phone=f"+33{prefix}{i:07d}", email=""), purpose, template)
            for i in range(count)]


class CallTimer:
    """Wraps Router._attempt (one account's call for one chunk) to time it: the product's code runs unchanged."""

    def __init__(self, monkeypatch):
        self.durations: list[float] = []
        original = routing.Router._attempt

        def timed(router, account, chunk):
            began = time.monotonic()
            try:
                return original(router, account, chunk)
            finally:
                self.durations.append(time.monotonic() - began)

        monkeypatch.setattr(routing.Router, "_attempt", timed)


@pytest.mark.chaos
def test_a_vendor_outage_of_500s_then_timeouts_loses_nothing_and_sends_nothing_late(
        world, clock, vendors, settings, monkeypatch):
    """R-23 (expired, never sent late), R-29 (no permanent failure for a vendor's 5xx or timeout), and the
    delivery promises of docs/delivery.md: nothing lost; a timed-out message may go twice, and is then
    marked `reconcile`; the circuit opens and closes by itself; the second account takes over."""
    settings.RELANCE_RETRY_BASE_SECONDS = 1
    settings.RELANCE_CIRCUIT_FAILURES = 2
    settings.RELANCE_CIRCUIT_OPEN_SECONDS = 1
    began = time.monotonic()
    faulty, healthy = vendors
    only = twilio_account(world.a, "twilio-only", faulty.url, 1)
    first = twilio_account(world.b, "twilio-first", faulty.url, 1)
    backup = twilio_account(world.b, "twilio-backup", healthy.url, 2)
    in_a = messages_for(world.a, "61", PER_ORG)
    in_b = messages_for(world.b, "62", PER_ORG)
    setup_s = time.monotonic() - began
    timer = CallTimer(monkeypatch)

    # One message in five of each organisation stops being valid during the outage; one in ten falls
    # due after it (traffic that makes each open circuit probe and close).
    now = timezone.now()
    expiring = {m.pk for m in in_a[::5] + in_b[::5]}
    Message.unscoped.filter(pk__in=expiring).update(valid_until=now + timedelta(seconds=(ERRORS_UNTIL + HANG_UNTIL) / 2))
    Message.unscoped.filter(pk__in=[m.pk for m in in_a[1::10] + in_b[1::10]]).update(
        due_at=now + timedelta(seconds=HANG_UNTIL + 0.5))
    ids = [m.pk for m in in_a + in_b]

    def phase(elapsed: float) -> bool:
        faulty.mode = "error" if elapsed < ERRORS_UNTIL else "hang" if elapsed < HANG_UNTIL else "ok"
        return faulty.mode == "ok"

    def finished() -> bool:
        return not Message.unscoped.filter(pk__in=ids).exclude(status__in=FINAL).exclude(
            status=Message.Status.FAILED).exists()

    run = drive(Worker("outage", batch_size=BATCH), finished=finished, phase=phase, deadline=HANG_UNTIL + 60)

    rows = {m.pk: m for m in Message.unscoped.filter(pk__in=ids).select_related("recipient")}
    statuses = Counter(m.status for m in rows.values())
    reconcile = Counter(e.message_id for e in MessageEvent.unscoped.filter(message_id__in=ids)
                        if (e.detail or {}).get("reconcile"))
    copies = faulty.copies() + healthy.copies()
    taken_at: dict[str, list] = {}
    for to, at in faulty.taken + healthy.taken:
        taken_at.setdefault(to, []).append(at)

    lost = [pk for pk, m in rows.items() if m.status not in FINAL | {Message.Status.FAILED}]
    sent_late = [pk for pk, m in rows.items() if m.valid_until and any(at > m.valid_until for at in
                                                                        taken_at.get(m.recipient.phone, []))]
    late_by = [max(at for at in taken_at[rows[pk].recipient.phone]) - rows[pk].valid_until for pk in sent_late]
    unmarked = [pk for pk, m in rows.items()
                if copies[m.recipient.phone] > (1 if m.status == Message.Status.SENT else 0) + reconcile[pk]]
    never_sent = [pk for pk, m in rows.items() if m.status == Message.Status.SENT and copies[m.recipient.phone] < 1]
    duplicated = sum(max(0, copies[m.recipient.phone] - 1) for m in rows.values())
    through_backup = sum(1 for m in in_b if rows[m.pk].provider == backup.label)
    a_expiring = [rows[pk] for pk in expiring if rows[pk].organisation_id == world.a.pk]
    circuits = {a.name: list(AuditEvent.objects.filter(target_id=str(a.pk), action__startswith="provider.circuit")
                             .order_by("id").values_list("action", flat=True)) for a in (only, first)}
    figures = {
        "messages": len(ids), "organisations": 2, "batch": BATCH, "timeout_s": TIMEOUT,
        "outage_s": HANG_UNTIL, "errors_s": ERRORS_UNTIL, "hang_s": HANG_UNTIL - ERRORS_UNTIL,
        "faults_injected": {"http_500": faulty.answered["error"], "timeouts": faulty.answered["hang"]},
        "statuses": dict(statuses), "lost": len(lost), "failed": statuses.get(Message.Status.FAILED, 0),
        "expired": statuses.get(Message.Status.EXPIRED, 0), "sent_late": len(sent_late),
        "sent_late_by_max_s": round(max(late_by).total_seconds(), 3) if late_by else 0,
        "duplicated": duplicated, "marked_reconcile": len(reconcile), "duplicates_unmarked": len(unmarked),
        "through_backup": through_backup, "circuits": circuits, "rounds": run.rounds,
        "round_p50_s": round(percentile(run.durations, 0.5), 3), "round_p99_s": round(percentile(run.durations, 0.99), 3),
        "round_max_s": round(max(run.durations), 3), "call_max_s": round(max(timer.durations), 3),
        "recovered_after_s": round(run.elapsed - HANG_UNTIL, 2), "elapsed_s": round(run.elapsed, 2),
        "setup_s": round(setup_s, 2), "database": connection.vendor,
    }
    record("outage-vendor", figures)

    assert faulty.answered["error"] > 0 and faulty.answered["hang"] > 0, figures  # both faults were met
    assert not lost, figures
    assert statuses.get(Message.Status.FAILED, 0) == 0, figures  # a 5xx or a timeout never fails a message
    assert not never_sent, figures
    assert not sent_late, figures
    assert all(m.status == Message.Status.EXPIRED for m in a_expiring), figures  # A had no way out during the outage
    assert not unmarked, figures  # every second copy is marked reconcile on its timeline
    assert duplicated <= faulty.answered["hang"], figures  # bounded: at most one per unanswered request
    assert through_backup > 0, figures
    for account in (only, first):
        assert "provider.circuit_opened" in circuits[account.name], figures
        assert circuits[account.name][-1] == "provider.circuit_closed", figures
        assert ProviderAccount.unscoped.get(pk=account.pk).circuit == ProviderAccount.Circuit.CLOSED
    # The client's timeout fires: no call to an account outlasts it, and a round calls at most one
    # account per organisation through the silent vendor.
    assert max(timer.durations) <= TIMEOUT + MARGIN, figures
    assert max(run.durations) <= 2 * (TIMEOUT + MARGIN) + MARGIN, figures


def test_a_silent_vendor_holds_a_batch_for_one_timeout_not_one_per_message():
    """docs/delivery.md (a timeout is "maybe accepted"): the first unanswered message is marked
    reconcile; the others never leave (deferred: no attempt spent, free to fail over), so a round
    through a silent vendor lasts one timeout, whatever the batch size."""
    batch = [Outgoing(ref=f"m{i}", channel="sms", to=f"+3361000{i:04d}", body="Rappel") for i in range(10)]
    with FaultyTwilio() as vendor:
        vendor.mode = "hang"
        provider = TwilioProvider(AccountConfig(
            id=1, label="twilio:1", kind="twilio", channel="sms",
            credentials={"account_sid": TWILIO_SID, "auth_token": "test-token"},
            options={"base_url": vendor.url, "timeout": 0.3, "sender": "RELANCE"}))
        began = time.monotonic()
        with provider:
            results = provider.send(batch)
        took = time.monotonic() - began
        taken = len(vendor.taken)
    assert took < 0.3 + MARGIN, took  # not 10 x 0.3 s
    assert taken == 1
    assert (results[0].status, results[0].detail) == (Result.RETRY, {"reconcile": True})
    assert all(r.status == Result.RETRY and r.detail == {"deferred": True} for r in results[1:])


def test_a_timed_out_message_whose_retry_would_come_too_late_expires_marked_R23(world, clock, settings):
    """R-23: a message whose next attempt would fall after its validity ends `expired` (not `failed`,
    R-29: no provider refused it), and its timeline keeps `reconcile` (the vendor may have taken it)."""
    settings.RELANCE_RETRY_BASE_SECONDS = 600
    with FaultyTwilio() as vendor:
        vendor.mode = "hang"
        twilio_account(world.a, "twilio-only", vendor.url, 1)
        [message] = messages_for(world.a, "63", 1)
        Message.unscoped.filter(pk=message.pk).update(valid_until=timezone.now() + timedelta(minutes=5))
        Worker("w").run_once()
    message = Message.unscoped.get(pk=message.pk)
    assert (message.status, message.reason, message.rule) == ("expired", "expired", "R-23")
    [line] = MessageEvent.unscoped.filter(message_id=message.pk, kind="expired")
    assert line.detail["reconcile"] is True and line.rule == "R-23"


@pytest.mark.parametrize("kind", ["brevo", "ovh", "twilio", "vonage"])
def test_every_http_vendor_marks_an_unanswered_message_for_reconciliation(kind):
    """docs/delivery.md: no answer (a timeout, a connection cut after the request) may follow the
    vendor taking the message: retry marked `reconcile` (never handed to another account in the same
    round); only a refused connection, which never reached the vendor, fails the batch over at once."""
    from relance.lib.http import HttpFailure
    from relance.providers.base import ProviderError
    from relance.providers.kinds import adapter

    credentials = {"brevo": {"api_key": "k"}, "twilio": {"account_sid": TWILIO_SID, "auth_token": "t"},
                   "vonage": {"api_key": "k", "api_secret": "s"},
                   "ovh": {"application_key": "a", "application_secret": "s", "consumer_key": "c", "service_name": "sms-x"}}
    provider = adapter(kind).build(AccountConfig(id=1, label=f"{kind}:1", kind=kind, channel="sms",
                                                 credentials=credentials[kind], options={"base_url": "http://127.0.0.1:9"}))
    out = Outgoing(ref="m1", channel="sms", to="+33612345678", body="Rappel", sender="RELANCE")
    fail = getattr(provider, "_failure", None)

    def answer(failure: HttpFailure) -> Result:
        if kind == "vonage":
            from relance.providers.vonage.client import unanswered

            return unanswered(out, failure)
        return fail(out, failure)

    for text in ("timeout", "transport error: RemoteProtocolError", "transport error: ReadError"):
        result = answer(HttpFailure(text))
        assert (result.status, result.detail.get("reconcile")) == (Result.RETRY, True), (kind, text)
    with pytest.raises(ProviderError):
        answer(HttpFailure("transport error: ConnectError"))


def test_a_message_whose_validity_ends_on_its_way_is_never_handed_to_the_vendor_R23():
    """R-23: the validity is checked again at the moment each message is handed to an HTTP vendor (a
    round's calls take time: 500s from a first account, a timeout); past it, the message is not sent
    but deferred, and the worker's next decision closes it as expired."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    batch = [Outgoing(ref=f"m{i}", channel="sms", to=f"+3361000{i:04d}", body="Rappel",
                      valid_until=past if i == 1 else None) for i in range(3)]
    with FaultyTwilio() as vendor:
        provider = TwilioProvider(AccountConfig(
            id=1, label="twilio:1", kind="twilio", channel="sms",
            credentials={"account_sid": TWILIO_SID, "auth_token": "test-token"},
            options={"base_url": vendor.url, "sender": "RELANCE"}))
        with provider:
            results = provider.send(batch)
        taken = sorted(to for to, _ in vendor.taken)
    assert [r.status for r in results] == [Result.SENT, Result.RETRY, Result.SENT]
    assert (results[1].error, results[1].detail) == ("expired", {"deferred": True, "expired": True})
    assert taken == ["+33610000000", "+33610000002"]
