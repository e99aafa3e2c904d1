"""The retention door of the consent ledger (R-11, R-50 "consent proofs").

A ledger row may go when it is older than the policy's cutoff AND it no longer proves anything
current: its contact was erased, or a newer event replaced it in the contact's consent state (the
projection's `last_event`/`guardian_event` never points at it). Rows go only as the oldest prefix of
the organisation's chain, which is re-anchored (relance/audit/retention.py), so `relance audit
verify` keeps checking every remaining row. One consequence: a row still carrying a current state
holds back every newer row behind it until it is replaced.
"""

from __future__ import annotations

from datetime import datetime

from django.db import router, transaction
from django.db.models import Q

from relance.audit import retention as chains
from relance.audit.models import ChainHead
from relance.audit.services import lock_chain
from relance.contacts.models import Contact

from . import ledger
from .models import ConsentEvent, ConsentState


def _current_ids(org_id: int, event_ids: list) -> set:
    """Of these ledger rows, those a consent state still points at (the proof of a current state)."""
    states = ConsentState.unscoped.filter(organisation_id=org_id).filter(
        Q(last_event_id__in=event_ids) | Q(guardian_event_id__in=event_ids))
    current = set()
    for last, guardian in states.values_list("last_event_id", "guardian_event_id"):
        current.update({last, guardian})
    return current


def ledger_prefix(org_id: int, *, before: datetime, start_seq: int, limit: int) -> tuple[int, str, int]:
    """The run of the ledger's oldest rows that may go (see the module's docstring)."""
    rows = list(ConsentEvent.unscoped.filter(organisation_id=org_id, seq__gt=start_seq, seq__lte=start_seq + limit)
                .order_by("seq").only("id", "seq", "hash", "recorded_at", "contact_id"))
    ids = [row.pk for row in rows]
    current = _current_ids(org_id, ids)
    erased = set(Contact.unscoped.filter(organisation_id=org_id, pk__in={row.contact_id for row in rows},
                                         status=Contact.Status.ERASED).values_list("pk", flat=True))

    def eligible(row) -> bool:
        return row.recorded_at < before and (row.contact_id in erased or row.pk not in current)

    return chains.prefix(rows, start_seq, eligible)


def trim_ledger(org_id: int, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` of the ledger's oldest removable rows and re-anchor the chain, in one short
    transaction. Returns the rows deleted (0: nothing more can go)."""
    with transaction.atomic():
        head = lock_chain(ledger.chain_name(org_id))
        last_seq, last_hash, count = ledger_prefix(org_id, before=before, start_seq=head.base_seq, limit=limit)
        if not count:
            return 0
        doomed = ConsentEvent.unscoped.filter(organisation_id=org_id, seq__gt=head.base_seq, seq__lte=last_seq)
        ids = list(doomed.values_list("pk", flat=True))
        # An erased contact's state may still point at its rows: the pointer goes, not the state.
        ConsentState.unscoped.filter(organisation_id=org_id, last_event_id__in=ids).update(last_event=None)
        ConsentState.unscoped.filter(organisation_id=org_id, guardian_event_id__in=ids).update(guardian_event=None)
        deleted = doomed._raw_delete(router.db_for_write(ConsentEvent))
        chains.reanchor(head, last_seq, last_hash)
        return deleted


def head_of(org_id: int) -> ChainHead | None:
    return ChainHead.objects.filter(chain=ledger.chain_name(org_id)).first()
