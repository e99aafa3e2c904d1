"""Issue 9 §2: the SMTP server refusing while the worker sends e-mail.

A real SMTP server (aiosmtpd) on 127.0.0.1 goes through: a relay that takes one message per
connection and answers 421 to the next; greylisting (451 to every RCPT); no server at all (connection
refused); then it accepts again. One address is refused for good (550) all along. E-mail goes
through the provider of the settings (RELANCE_EMAIL_PROVIDER=django, Django's SMTP backend), as in
production. In-process worker rounds run through the whole outage.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from relance.messaging.models import Message, MessageEvent
from relance.messaging.tests.helpers import TUESDAY_MORNING, enqueue, informed_contact, make_template, service_purpose
from relance.messaging.worker import Worker
from relance.providers.base import Outgoing
from relance.providers.email import DjangoEmailProvider
from tests.reliability.faulty_servers import FaultyMailbox, SmtpServer, drive, percentile
from tests.reliability.scale import record, scale

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

COUNT = scale(80, 1000)
BATCH = scale(20, 100)
RETRY_BASE = scale(1, 5)  # RELANCE_RETRY_BASE_SECONDS: six attempts span 31 bases (x 0.5-1.5), beyond the outage
BUSY_UNTIL = scale(1.0, 15.0)  # 421 after one message per connection, from the start to here (seconds)
GREYLIST_UNTIL = scale(2.0, 30.0)  # then 451 to every RCPT until here
DOWN_UNTIL = scale(3.5, 60.0)  # then no server until here; then it accepts
GONE = "gone@example.org"
FINAL = {Message.Status.SENT, Message.Status.EXPIRED, Message.Status.FAILED}


@pytest.fixture
def clock():
    with time_machine.travel(TUESDAY_MORNING, tick=True) as traveller:  # inside every sending window
        yield traveller


@pytest.fixture
def smtp(settings):
    mailbox = FaultyMailbox(refuse={GONE})
    server = SmtpServer(mailbox)
    server.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", server.port, 2
    settings.RELANCE_EMAIL_PROVIDER = "django"
    yield server
    server.stop()


def emails(org, count: int) -> list[Message]:
    purpose = service_purpose(org)
    template = make_template(purpose, channel="email", subject="Rappel de {org}")
    addresses = [GONE] + [f"p{i}@example.org" for i in range(count - 1)]
    return [enqueue(informed_contact(org, purpose, email=address, phone=""), purpose, template, channel="email")
            for address in addresses]


@pytest.mark.chaos
def test_an_smtp_outage_retries_delivers_after_recovery_and_fails_only_the_refused_address(world, clock, smtp, settings):
    """R-23 (expired, never sent late), R-29 (only a 5xx refusal fails a message for good), and the
    delivery promises of docs/delivery.md: 4xx answers and a refused connection are retried, every
    message is delivered once after recovery, nothing is lost."""
    settings.RELANCE_RETRY_BASE_SECONDS = RETRY_BASE
    mailbox = smtp.handler
    began = time.monotonic()
    messages = emails(world.a, COUNT)
    setup_s = time.monotonic() - began
    ids = [m.pk for m in messages]
    gone = messages[0]
    now = timezone.now()
    expiring = {m.pk for m in messages[1::7]}  # one in seven stops being valid during the outage
    Message.unscoped.filter(pk__in=expiring).update(valid_until=now + timedelta(seconds=(GREYLIST_UNTIL + DOWN_UNTIL) / 2))
    faults = Counter()

    def phase(elapsed: float) -> bool:
        if elapsed < BUSY_UNTIL:
            mailbox.mode = "busy"
        elif elapsed < GREYLIST_UNTIL:
            mailbox.mode = "greylist"
        elif elapsed < DOWN_UNTIL:
            if smtp.up:
                smtp.stop()
                faults["stopped"] += 1
        else:
            mailbox.mode = "accept"
            if not smtp.up:
                smtp.start()
            return True
        return False

    def finished() -> bool:
        return not Message.unscoped.filter(pk__in=ids).exclude(status__in=FINAL).exists()

    run = drive(Worker("smtp-outage", batch_size=BATCH), finished=finished, phase=phase,
                deadline=DOWN_UNTIL + scale(40, 200))

    rows = {m.pk: m for m in Message.unscoped.filter(pk__in=ids)}
    statuses = Counter(m.status for m in rows.values())
    copies = mailbox.copies()
    received_at = {ref: at for ref, _, at in mailbox.received}
    reasons = Counter(e.reason for e in MessageEvent.unscoped.filter(message_id__in=ids, kind="retry"))
    lost = [pk for pk, m in rows.items() if m.status not in FINAL]
    failed = [pk for pk, m in rows.items() if m.status == Message.Status.FAILED]
    sent_late = [pk for pk, m in rows.items() if m.valid_until and str(pk) in received_at
                 and received_at[str(pk)] > m.valid_until]
    missing = [pk for pk, m in rows.items() if m.status == Message.Status.SENT and copies[str(pk)] != 1]
    duplicated = sum(n - 1 for n in copies.values() if n > 1)
    unexpected = [pk for pk, m in rows.items() if m.status != Message.Status.SENT and copies[str(pk)]]
    figures = {
        "messages": COUNT, "batch": BATCH, "retry_base_s": RETRY_BASE,
        "phases_s": {"busy_421": BUSY_UNTIL, "greylist_451": GREYLIST_UNTIL - BUSY_UNTIL,
                     "refused_connection": DOWN_UNTIL - GREYLIST_UNTIL},
        "faults_injected": {"smtp_421": mailbox.answers["421"], "smtp_451": mailbox.answers["451"],
                            "smtp_550": mailbox.answers["550"], "server_stopped": faults["stopped"]},
        "retry_reasons": dict(reasons), "statuses": dict(statuses), "lost": len(lost), "failed": len(failed),
        "expired": statuses.get(Message.Status.EXPIRED, 0), "sent_late": len(sent_late), "duplicated": duplicated,
        "max_attempts": max(m.attempts for m in rows.values()), "rounds": run.rounds,
        "round_p50_s": round(percentile(run.durations, 0.5), 3), "round_max_s": round(max(run.durations), 3),
        "recovered_after_s": round(run.elapsed - DOWN_UNTIL, 2), "elapsed_s": round(run.elapsed, 2),
        "setup_s": round(setup_s, 2), "database": connection.vendor,
    }
    record("outage-smtp", figures)

    assert mailbox.answers["421"] and mailbox.answers["451"] and faults["stopped"], figures  # every fault was met
    assert not lost, figures
    assert failed == [gone.pk], figures  # a 550 fails that message only; 4xx and refused connections never do
    assert rows[gone.pk].reason == "smtp_550", figures
    assert not sent_late, figures
    assert not missing and not unexpected and duplicated == 0, figures  # delivered exactly once, or not at all
    assert all(rows[pk].status in (Message.Status.SENT, Message.Status.EXPIRED) for pk in expiring), figures
    assert statuses.get(Message.Status.EXPIRED, 0) > 0, figures
    # A stopped server costs no attempt (deferred, smtp_unreachable: no retry line); 4xx answers do.
    assert (reasons["smtp_421"] or reasons["smtp_451"]) and not reasons["provider_error"], figures


def outgoing(ref: str) -> Outgoing:
    return Outgoing(ref=ref, channel="email", to=f"{ref}@example.org", body="Rappel", subject="Rappel",
                    sender="relance@example.org")


def test_a_421_closing_the_connection_retries_that_message_and_the_provider_reconnects(smtp):
    """docs/delivery.md: a relay taking one message per connection (421 after it): the accepted ones stay
    sent (never sent twice), the refused one retries, the next message gets a new connection."""
    smtp.handler.mode = "busy"
    with DjangoEmailProvider() as provider:
        results = provider.send([outgoing(f"m{i}") for i in range(5)])
        again = provider.send([outgoing("m9")])
    assert [r.status for r in results] == ["sent", "retry", "sent", "retry", "sent"]
    assert {r.error for r in results if r.status == "retry"} == {"smtp_421"}
    assert (again[0].status, again[0].error) == ("retry", "smtp_421")  # the kept connection took one already
    assert sorted(smtp.handler.copies()) == ["m0", "m2", "m4"]


def test_a_5xx_after_the_recipient_fails_that_message_only_R29(smtp):
    """R-29: a permanent refusal (552 to DATA) fails that message only; the batch goes on."""
    smtp.handler.too_big = {"m1"}
    with DjangoEmailProvider() as provider:
        results = provider.send([outgoing(f"m{i}") for i in range(3)])
    assert [(r.status, r.error) for r in results] == [("sent", ""), ("failed", "smtp_552"), ("sent", "")]


def test_a_connection_the_server_closed_while_idle_is_replaced_before_the_next_batch(smtp):
    """docs/delivery.md (nothing lost, recovers by itself): the worker keeps its SMTP connection between
    batches; when the server drops it (idle timeout, restart), the next batch opens a new one."""
    with DjangoEmailProvider() as provider:
        assert provider.send([outgoing("m0")])[0].status == "sent"
        smtp.stop()
        smtp.start()
        assert [r.status for r in provider.send([outgoing("m1"), outgoing("m2")])] == ["sent", "sent"]
    assert sorted(smtp.handler.copies()) == ["m0", "m1", "m2"]
