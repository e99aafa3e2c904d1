"""Purging the other categories (R-50): replies, exports, contacts, consent proofs, audit events.

Contacts are erased through `relance.privacy.erasure.erase_contacts` (crypto-shredding, R-43), never
deleted here; their finished messages are first counted into the anonymous statistics (R-51).
Chains (ledger, audit) lose only their oldest prefix and are re-anchored (relance/audit/retention.py).
"""

from __future__ import annotations

from datetime import datetime

from django.db import router, transaction
from django.db.models import Q

from relance.audit import retention as chains
from relance.audit.models import ChainHead
from relance.audit.services import chain_for
from relance.consent import ledger
from relance.consent import retention as ledger_retention
from relance.consent.models import ConsentEvent
from relance.contacts.models import Contact
from relance.messaging.models import InboundMessage, Message
from relance.reminders.models import Event

from ..models import AccessExport, RightsRequest


# --- simple rows: replies and exports ------------------------------------------------------------
def inbound(org, cutoff: datetime):
    return InboundMessage.unscoped.filter(organisation=org, received_at__lt=cutoff)


def exports(org, cutoff: datetime):
    return AccessExport.unscoped.filter(organisation=org, created_at__lt=cutoff)


def delete_rows(queryset, limit: int) -> int:
    """Delete up to `limit` rows of a queryset nothing points at, without Django's collector."""
    model = queryset.model
    with transaction.atomic():
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:limit])
        deleted = 0
        for start in range(0, len(ids), 500):
            deleted += model.unscoped.filter(pk__in=ids[start:start + 500])._raw_delete(router.db_for_write(model))
        return deleted


# --- contacts --------------------------------------------------------------------------------
def _busy(org, cutoff: datetime) -> Q:
    """Contacts with activity since the cutoff, or that must not be erased now (NULLs filtered out:
    NOT IN over a NULL excludes everything)."""
    recent_messages = Message.unscoped.filter(organisation=org).filter(
        Q(created_at__gte=cutoff) | Q(status__in=Message.PENDING) | Q(status=Message.Status.SENDING))
    return (Q(pk__in=recent_messages.values("contact_id")) | Q(pk__in=recent_messages.values("recipient_id"))
            | Q(pk__in=Event.unscoped.filter(organisation=org).filter(
                Q(updated_at__gte=cutoff) | Q(starts_at__gte=cutoff)).values("contact_id"))
            | Q(pk__in=ConsentEvent.unscoped.filter(organisation=org, recorded_at__gte=cutoff).values("contact_id"))
            | Q(pk__in=InboundMessage.unscoped.filter(organisation=org, received_at__gte=cutoff,
                                                      contact__isnull=False).values("contact_id"))
            # a guardian of someone still known, or the subject of an open request, stays
            | Q(pk__in=Contact.unscoped.filter(organisation=org, guardian__isnull=False)
                .exclude(status=Contact.Status.ERASED).values("guardian_id"))
            | Q(pk__in=RightsRequest.unscoped.filter(organisation=org, status__in=RightsRequest.OPEN,
                                                     contact__isnull=False).values("contact_id")))


def inactive_contacts(org, cutoff: datetime):
    """Contacts (active or restricted) with no activity since the cutoff."""
    return (Contact.unscoped.filter(organisation=org, status__in=[Contact.Status.ACTIVE, Contact.Status.RESTRICTED],
                                    created_at__lt=cutoff)
            .filter(Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True))
            .exclude(_busy(org, cutoff)))


def deceased_contacts(org, cutoff: datetime):
    """Contacts marked deceased before the cutoff (R-45), unless a request about them is still open."""
    return (Contact.unscoped.filter(organisation=org, status=Contact.Status.DECEASED)
            .filter(Q(status_changed_at__lt=cutoff) | Q(status_changed_at__isnull=True, updated_at__lt=cutoff))
            .exclude(pk__in=RightsRequest.unscoped.filter(organisation=org, status__in=RightsRequest.OPEN,
                                                          contact__isnull=False).values("contact_id")))


def erase_batch(org, queryset, limit: int, actor, fold) -> tuple[int, int]:
    """Erase up to `limit` contacts of the queryset after folding their messages into the statistics
    (`fold(ids)`). Returns (contacts selected, contacts erased)."""
    from relance.privacy.erasure import erase_contacts  # written beside this module (issue 6, erasure)

    ids = list(queryset.order_by("created_at", "pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0, 0
    fold(ids)
    totals = erase_contacts(org, ids, actor=actor, reason="retention")
    return len(ids), int(totals.get("erased", 0)) if isinstance(totals, dict) else len(ids)


# --- chains ----------------------------------------------------------------------------------
def _walk(find, limit: int, start_seq: int) -> int:
    """Count what a chain purge would remove, without removing it (dry run)."""
    total = 0
    while True:
        last_seq, _hash, count = find(start_seq, limit)
        total += count
        if count < limit:
            return total
        start_seq = last_seq


def _base(chain: str) -> int:
    return ChainHead.objects.filter(chain=chain).values_list("base_seq", flat=True).first() or 0


def count_ledger(org, cutoff: datetime, limit: int) -> int:
    return _walk(lambda start, n: ledger_retention.ledger_prefix(org.pk, before=cutoff, start_seq=start, limit=n),
                 limit, _base(ledger.chain_name(org.pk)))


def trim_ledger(org, cutoff: datetime, limit: int) -> int:
    return ledger_retention.trim_ledger(org.pk, before=cutoff, limit=limit)


def count_audit(org, cutoff: datetime, limit: int) -> int:
    chain = chain_for(org)
    return _walk(lambda start, n: chains.audit_prefix(chain, before=cutoff, start_seq=start, limit=n),
                 limit, _base(chain))


def trim_audit(org, cutoff: datetime, limit: int) -> int:
    return chains.trim_audit_chain(chain_for(org), before=cutoff, limit=limit)
