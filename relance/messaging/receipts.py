"""Delivery receipts: a provider tells us what became of a message it accepted (R-29).

The provider's reference is the only key (`Message.unscoped`: a receipt names no organisation).
`apply_receipt` answers whether the reference is ours; an unknown one is not an error, the webhook
still answers 2xx so that the provider stops retrying (R-66). A status only moves forward, from
`sent` to `delivered` or `failed`, with a conditional UPDATE: a repeated receipt, or one that
arrives after a later one, changes nothing, and two workers applying the same receipt at once
count it once.
"""

from __future__ import annotations

import zlib
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from relance.contacts import services as contacts
from relance.providers.base import Receipt

from .models import EarlyReceipt, Message, MessageEvent

EARLY_RECEIPT_DAYS = 1
# Receipts of a batch applied in one transaction (apply_receipts): the provider lock is held that long.
RECEIPTS_PER_TRANSACTION = 200

DELIVERED = {"delivered", "delivrd", "read"}
# Final failures. "failed" is permanent by definition (providers.base.Receipt); the others count
# towards R-29 only when the provider says the failure is permanent.
FAILED = {"failed", "undeliverable", "undelivered", "rejected", "expired", "deleted"}


def outcome_of(receipt: Receipt) -> tuple[str, bool] | None:
    """(new status, permanent) for a final receipt; None for an intermediate one (accepted, buffered...)."""
    status = (receipt.status or "").strip().lower()
    if status in DELIVERED:
        return Message.Status.DELIVERED, False
    if status in FAILED:
        return Message.Status.FAILED, status == "failed" or receipt.permanent
    return None


def apply_receipt(provider: str, receipt: Receipt) -> bool:
    """Apply one receipt; True when the reference is one of our messages (changed or not). A final
    receipt for a reference we do not know yet is kept as an EarlyReceipt: the worker may still be
    recording that message as sent (apply_early_receipts)."""
    if not receipt.provider_ref:
        return False
    with transaction.atomic():
        message = _find(provider, receipt.provider_ref)
        outcome = outcome_of(receipt)
        if message is None and outcome is not None:
            # The worker may be recording it as sent right now: wait for that record, then look again.
            lock_provider(provider)
            message = _find(provider, receipt.provider_ref)
        if message is None:
            if outcome is not None:
                EarlyReceipt.objects.create(provider=provider, provider_ref=receipt.provider_ref[:100],
                                            status=receipt.status[:32], error=(receipt.error or "")[:40],
                                            permanent=receipt.permanent, received_at=timezone.now())
            return False
        if outcome is not None:
            _finish(message, receipt, *outcome)
    return True


def apply_receipts(provider: str, receipts: list[Receipt]) -> int:
    """Apply a batch of one provider's receipts (an SMPP bind hands them over drained); how many are ours.

    The outcome of `apply_receipt` for each, in order, with one transaction and one lookup per
    RECEIPTS_PER_TRANSACTION receipts and the early ones written at once: one by one, each receipt
    cost a transaction and eight round trips, and on a saturated machine under API load the receipts
    fell behind the sends (the SMSC waited tens of seconds for its deliver_sm_resp). The provider lock is taken first, before
    any row: a record of messages as sent takes it after writing only its own rows, so the two wait
    for each other but never deadlock; whichever commits first, the other sees it (as above)."""
    ours = 0
    for start in range(0, len(receipts), RECEIPTS_PER_TRANSACTION):
        chunk = [receipt for receipt in receipts[start:start + RECEIPTS_PER_TRANSACTION] if receipt.provider_ref]
        if chunk:
            ours += _apply_chunk(provider, chunk)
    return ours


def _apply_chunk(provider: str, receipts: list[Receipt]) -> int:
    with transaction.atomic():
        lock_provider(provider)
        refs = {receipt.provider_ref[:100] for receipt in receipts}
        found = {message.provider_ref: message for message in Message.unscoped.filter(
            provider=provider, provider_ref__in=refs).select_related("recipient")}
        early, ours = [], 0
        for receipt in receipts:
            message, outcome = found.get(receipt.provider_ref[:100]), outcome_of(receipt)
            if message is None:
                if outcome is not None:
                    early.append(EarlyReceipt(provider=provider, provider_ref=receipt.provider_ref[:100],
                                              status=receipt.status[:32], error=(receipt.error or "")[:40],
                                              permanent=receipt.permanent, received_at=timezone.now()))
                continue
            ours += 1
            if outcome is not None:
                _finish(message, receipt, *outcome)
        EarlyReceipt.objects.bulk_create(early)
    return ours


def _find(provider: str, provider_ref: str) -> Message | None:
    return (Message.unscoped.filter(provider=provider, provider_ref=provider_ref[:100])
            .select_related("recipient").first())


def lock_provider(provider: str) -> None:
    """Serialise, per provider, "record as sent and apply early receipts" with "keep an early receipt",
    so a receipt racing the record of its message is applied by one side or the other (PostgreSQL; SQLite
    has one writer at a time)."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"relance-receipts:{provider}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def apply_early_receipts(messages: list[Message]) -> int:
    """Within the transaction that records these messages as sent: apply the receipts that came first."""
    refs = {(m.provider, m.provider_ref): m for m in messages if m.provider_ref}
    if not refs:
        return 0
    for provider in sorted({p for p, _ in refs}):
        lock_provider(provider)
    early = list(EarlyReceipt.objects.filter(provider__in={p for p, _ in refs},
                                             provider_ref__in={r for _, r in refs}).order_by("received_at"))
    applied = []
    for row in early:
        message = refs.get((row.provider, row.provider_ref))
        if message is None:
            continue
        receipt = Receipt(provider_ref=row.provider_ref, status=row.status, error=row.error, permanent=row.permanent)
        _finish(message, receipt, *outcome_of(receipt))
        applied.append(row.pk)
    EarlyReceipt.objects.filter(pk__in=applied).delete()
    return len(applied)


def forget_early_receipts(now) -> int:
    """Receipts never matched within a day were not ours (housekeeping)."""
    return EarlyReceipt.objects.filter(received_at__lt=now - timedelta(days=EARLY_RECEIPT_DAYS)).delete()[0]


def _finish(message: Message, receipt: Receipt, status: str, permanent: bool) -> None:
    now = timezone.now()
    reason = (receipt.error or ("" if status == Message.Status.DELIVERED else receipt.status))[:40]
    moved = Message.unscoped.filter(pk=message.pk, status=Message.Status.SENT).update(
        status=status, finished_at=now, reason=reason)
    if not moved:  # already final (a repeated or late receipt), or not sent yet: nothing changes
        return
    failed = status == Message.Status.FAILED
    MessageEvent.objects.create(
        organisation_id=message.organisation_id, message=message, at=now, kind=status, reason=reason,
        rule="R-29" if failed and permanent else "", detail={"provider": message.provider, "receipt": True})
    if message.channel != "sms":
        return
    if failed:
        contacts.record_delivery_failure(message.recipient, permanent=permanent)
    elif status == Message.Status.DELIVERED:
        contacts.record_delivery_success(message.recipient)
