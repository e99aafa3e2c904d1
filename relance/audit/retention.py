"""The retention door of hash chains (R-11, R-50): only the OLDEST rows of a chain may go, and the
chain's head is re-anchored on the last removed link (`ChainHead.base_seq`/`base_hash`), so that
`relance audit verify` still checks every row that remains, from the anchor on.

Append-only querysets refuse `delete()`; these functions are the one deliberate way round, used by
the retention purge (relance/privacy/purge/). They delete without Django's collector: nothing points
at an audit row, and the consent ledger's own caller clears the references to its rows first.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import router, transaction

from .models import AuditEvent, ChainHead


def prefix(rows, start_seq: int, eligible: Callable[[object], bool]) -> tuple[int, str, int]:
    """Walk rows of one chain in seq order from `start_seq + 1`; return (last seq, its hash, count) of the
    unbroken run of eligible rows at the start (count 0: nothing may go). A gap in seq means a row is
    missing: the run stops there, verification will report it."""
    last_seq, last_hash, count = start_seq, "", 0
    for row in rows:
        if row.seq != last_seq + 1 or not eligible(row):
            break
        last_seq, last_hash, count = row.seq, row.hash, count + 1
    return last_seq, last_hash, count


def reanchor(head: ChainHead, seq: int, link_hash: str) -> None:
    """The chain now starts after `seq`, whose hash the next remaining row links to."""
    head.base_seq, head.base_hash = seq, link_hash
    head.save(update_fields=["base_seq", "base_hash"])


def audit_prefix(chain: str, *, before: datetime, start_seq: int, limit: int) -> tuple[int, str, int]:
    """The run of this chain's oldest audit rows created before `before` (at most `limit` of them)."""
    rows = (AuditEvent.objects.filter(chain=chain, seq__gt=start_seq, seq__lte=start_seq + limit)
            .order_by("seq").only("seq", "hash", "created_at"))
    return prefix(rows, start_seq, lambda row: row.created_at < before)


def trim_audit_chain(chain: str, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` of the chain's oldest rows created before `before` and re-anchor its head,
    in one short transaction of its own. Returns the rows deleted (0: nothing more can go)."""
    with transaction.atomic():
        head = ChainHead.objects.select_for_update().filter(chain=chain).first()
        if head is None:
            return 0
        last_seq, last_hash, count = audit_prefix(chain, before=before, start_seq=head.base_seq, limit=limit)
        if not count:
            return 0
        doomed = AuditEvent.objects.filter(chain=chain, seq__gt=head.base_seq, seq__lte=last_seq)
        deleted = doomed._raw_delete(router.db_for_write(AuditEvent))
        reanchor(head, last_seq, last_hash)
        return deleted
