"""Delivery receipts: a provider tells us what became of a message it accepted (R-29).

The provider's reference is the only key (`Message.unscoped`: a receipt names no organisation).
`apply_receipt` answers whether the reference is ours; an unknown one is not an error, the webhook
still answers 2xx so that the provider stops retrying (R-66). A status only moves forward, from
`sent` to `delivered` or `failed`, with a conditional UPDATE: a repeated receipt, or one that
arrives after a later one, changes nothing, and two workers applying the same receipt at once
count it once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from relance.contacts import services as contacts
from relance.providers.base import Receipt

from .models import Message, MessageEvent

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
    """Apply one receipt; True when the reference is one of our messages (changed or not)."""
    if not receipt.provider_ref:
        return False
    with transaction.atomic():
        message = (Message.unscoped.filter(provider=provider, provider_ref=receipt.provider_ref[:100])
                   .select_related("recipient").first())
        if message is None:
            return False
        outcome = outcome_of(receipt)
        if outcome is not None:
            _finish(message, receipt, *outcome)
    return True


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
