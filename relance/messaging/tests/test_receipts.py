"""Delivery receipts (R-29): sent → delivered | failed, idempotent, out-of-order tolerant."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from relance.consent.tests.helpers import make_purpose
from relance.contacts.models import Contact
from relance.messaging import outbox
from relance.messaging.models import EarlyReceipt, Message, MessageEvent
from relance.messaging.receipts import apply_receipt, apply_receipts
from relance.providers.base import Receipt
from relance.testing import make_contact, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])


def sent_sms(contact, purpose, ref: str, *, channel="sms", provider="locmem") -> Message:
    """A message as the worker leaves it after the provider accepted it."""
    with transaction.atomic():
        message = outbox.enqueue(contact, purpose, channel, due_at=timezone.now(), source="api")
    Message.objects.for_org(contact.organisation).filter(pk=message.pk).update(
        status=Message.Status.SENT, provider=provider, provider_ref=ref, sent_at=timezone.now())
    return message


def fresh(message) -> Message:
    return Message.unscoped.get(pk=message.pk)


def kinds(message) -> list[str]:
    return list(MessageEvent.objects.for_org(message.organisation_id).filter(message=message)
                .values_list("kind", flat=True))


@pytest.fixture
def setup():
    org = make_org()
    return org, make_purpose(org), make_contact(org)


def test_it_marks_a_sent_message_delivered_with_a_timeline_line(setup):
    """A delivery receipt finishes the message and says so on its timeline."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    assert apply_receipt("locmem", Receipt("locmem-1", "delivered")) is True
    after = fresh(message)
    assert after.status == Message.Status.DELIVERED and after.finished_at is not None
    assert kinds(message)[-1] == "delivered"


def test_it_answers_false_for_an_unknown_reference_and_changes_nothing(setup):
    """R-66: an unknown reference is fine (the webhook still answers 2xx)."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    assert apply_receipt("locmem", Receipt("locmem-999", "delivered")) is False
    assert apply_receipt("console", Receipt("locmem-1", "delivered")) is False  # another provider's reference
    assert apply_receipt("locmem", Receipt("", "delivered")) is False
    assert fresh(message).status == Message.Status.SENT


def test_it_changes_nothing_on_a_repeated_receipt(setup):
    """Idempotent: the same receipt twice writes one timeline line."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    for _ in range(3):
        assert apply_receipt("locmem", Receipt("locmem-1", "delivered")) is True
    assert kinds(message).count("delivered") == 1


def test_it_never_moves_a_delivered_message_back(setup):
    """Out of order: a late failure or intermediate report after 'delivered' changes nothing."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    apply_receipt("locmem", Receipt("locmem-1", "delivered"))
    assert apply_receipt("locmem", Receipt("locmem-1", "accepted")) is True
    assert apply_receipt("locmem", Receipt("locmem-1", "failed", error="unknown_subscriber", permanent=True))
    after = fresh(message)
    assert after.status == Message.Status.DELIVERED
    assert Contact.objects.for_org(org).get(pk=contact.pk).permanent_failures == 0


def test_it_ignores_intermediate_reports(setup):
    """'accepted' or a temporary problem is not an outcome: the message stays sent."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    assert apply_receipt("locmem", Receipt("locmem-1", "undeliverable_temporary", error="absent"))
    assert fresh(message).status == Message.Status.SENT


def test_it_invalidates_a_number_after_three_permanent_failures_in_a_row(setup):
    """R-29: three permanent failures mark the number invalid; the reason stays on the message."""
    org, purpose, contact = setup
    for n in range(3):
        message = sent_sms(contact, purpose, f"locmem-{n}")
        apply_receipt("locmem", Receipt(f"locmem-{n}", "failed", error="unknown_subscriber", permanent=True))
        after = fresh(message)
        assert after.status == Message.Status.FAILED and after.reason == "unknown_subscriber"
        line = MessageEvent.objects.for_org(org).filter(message=message, kind="failed").get()
        assert line.rule == "R-29"
    stored = Contact.objects.for_org(org).get(pk=contact.pk)
    assert stored.permanent_failures == 3 and stored.number_valid is False


def test_it_counts_failures_in_a_row_only(setup):
    """R-29: a delivery in between starts the count again."""
    org, purpose, contact = setup
    outcomes = ["failed", "failed", "delivered", "failed", "failed"]
    for n, status in enumerate(outcomes):
        sent_sms(contact, purpose, f"locmem-{n}")
        apply_receipt("locmem", Receipt(f"locmem-{n}", status, permanent=status == "failed"))
    stored = Contact.objects.for_org(org).get(pk=contact.pk)
    assert stored.permanent_failures == 2 and stored.number_valid is True


def test_it_does_not_count_a_failure_the_provider_calls_temporary(setup):
    """An expired (not permanent) message fails, but does not count towards R-29."""
    org, purpose, contact = setup
    message = sent_sms(contact, purpose, "locmem-1")
    apply_receipt("locmem", Receipt("locmem-1", "expired"))
    assert fresh(message).status == Message.Status.FAILED
    assert Contact.objects.for_org(org).get(pk=contact.pk).permanent_failures == 0


def test_it_counts_no_phone_failure_for_an_email(setup):
    """R-29 is about numbers: a bounced e-mail does not invalidate the phone number."""
    org, purpose, contact = setup
    for n in range(3):
        sent_sms(contact, purpose, f"mail-{n}", channel="email")
        apply_receipt("locmem", Receipt(f"mail-{n}", "failed", permanent=True))
    assert Contact.objects.for_org(org).get(pk=contact.pk).number_valid is True


def test_it_finds_the_message_of_another_organisation_by_its_reference(setup, world):
    """The provider reference is the only key: receipts for several organisations go to the right rows."""
    org, purpose, contact = setup
    other_purpose = make_purpose(world.b)
    other = sent_sms(make_contact(world.b), other_purpose, "locmem-b")
    mine = sent_sms(contact, purpose, "locmem-a")
    apply_receipt("locmem", Receipt("locmem-b", "delivered"))
    assert fresh(other).status == Message.Status.DELIVERED and fresh(mine).status == Message.Status.SENT


# --- a batch, as an SMPP bind hands them over (apply_receipts) -------------------------------------
def test_a_batch_has_the_outcome_of_its_receipts_applied_one_by_one(setup):
    """R-29: delivered, failed (three permanent failures of one number in one batch invalidate it),
    intermediate, repeated, unknown (kept as an early receipt), no reference: as apply_receipt does."""
    org, purpose, contact = setup
    other = make_contact(org)
    delivered, ignored = sent_sms(other, purpose, "p-1"), sent_sms(other, purpose, "p-2")
    failures = [sent_sms(contact, purpose, f"f-{n}") for n in range(3)]
    batch = [Receipt("p-1", "delivered"), Receipt("p-2", "accepted"), Receipt("p-1", "failed", permanent=True),
             *(Receipt(f"f-{n}", "failed", error="unknown_subscriber", permanent=True) for n in range(3)),
             Receipt("early-1", "delivered"), Receipt("early-2", "accepted"), Receipt("", "delivered")]
    assert apply_receipts("locmem", batch) == 6
    assert fresh(delivered).status == Message.Status.DELIVERED and kinds(delivered).count("delivered") == 1
    assert fresh(ignored).status == Message.Status.SENT
    assert all(fresh(m).status == Message.Status.FAILED and fresh(m).reason == "unknown_subscriber" for m in failures)
    stored = Contact.objects.for_org(org).get(pk=contact.pk)
    assert stored.permanent_failures == 3 and stored.number_valid is False
    # Only a final receipt for an unknown reference is kept: its message may be being recorded as sent.
    assert list(EarlyReceipt.objects.values_list("provider", "provider_ref", "status")) == [
        ("locmem", "early-1", "delivered")]


def test_a_batch_costs_a_few_statements_per_known_receipt_and_none_per_early_one(setup):
    """Under load the receipts must keep up with the sends: one transaction and one lookup per batch
    (before: a transaction and eight round trips per receipt, tests/reliability/test_load.py)."""
    org, purpose, contact = setup
    known = [sent_sms(contact, purpose, f"k-{n}") for n in range(30)]
    with CaptureQueriesContext(connection) as early:
        apply_receipts("locmem", [Receipt(f"unknown-{n}", "delivered") for n in range(30)])
    with CaptureQueriesContext(connection) as applied:
        apply_receipts("locmem", [Receipt(f"k-{n}", "delivered") for n in range(30)])
    assert EarlyReceipt.objects.count() == 30 and len(early.captured_queries) <= 6
    assert all(fresh(m).status == Message.Status.DELIVERED for m in known)
    assert len(applied.captured_queries) <= 5 * 30 + 6, len(applied.captured_queries)
