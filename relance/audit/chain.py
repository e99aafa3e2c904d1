"""Hash-chain arithmetic for audit rows: pure functions on plain values."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS = "0" * 64


def row_digest(fields: dict) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def hashed_fields(row) -> dict:
    """The content a link's hash covers (every column but the hash itself and the row id)."""
    return {
        "chain": row.chain,
        "seq": row.seq,
        "organisation": row.organisation_id,
        "created_at": row.created_at.isoformat(),
        "actor_kind": row.actor_kind,
        "actor_id": row.actor_id,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "ip": row.ip,
        "details": row.details,
        "prev_hash": row.prev_hash,
    }


@dataclass(frozen=True)
class Break:
    chain: str
    row_id: int | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row_id} (seq {self.seq})" if self.row_id is not None else "end of chain"
        return f"chain {self.chain}: {where}: {self.reason}"


def first_break(chain: str, rows: Iterable, head_seq: int, head_hash: str, base_seq: int, base_hash: str,
                fields=hashed_fields):
    """Walk one chain's rows in seq order; return the first Break or None.

    `fields(row)` gives the content a link's hash covers (audit rows by default; the consent
    ledger passes its own)."""
    expected_seq, previous = base_seq + 1, base_hash or GENESIS
    for row in rows:
        if row.seq != expected_seq:
            reason = (
                f"expected seq {expected_seq}: a row was deleted or inserted"
                if row.seq > expected_seq
                else f"seq {row.seq} is out of order (expected {expected_seq})"
            )
            return Break(chain, row.pk, row.seq, reason)
        if row.prev_hash != previous:
            return Break(chain, row.pk, row.seq, "does not link to the previous row (reordered or inserted)")
        if row_digest(fields(row)) != row.hash:
            return Break(chain, row.pk, row.seq, "content does not match its hash (edited)")
        expected_seq, previous = expected_seq + 1, row.hash
    if expected_seq - 1 != head_seq or previous != (head_hash or GENESIS):
        return Break(chain, None, None, f"chain ends at seq {expected_seq - 1} but its head says {head_seq}: rows were deleted")
    return None
