"""The consent ledger's arithmetic, as pure functions: its chain, what a link's hash covers, and the
fold that defines the projection (R-10, R-11). No database access here.

Projection rule: the state of a contact × purpose × channel is, for each track, the LAST event of
that track in (occurred_at, seq) order. Ordering by when the person acted, not by when the row was
written, means a paper form signed in January and typed in March does not override a STOP sent in
February. Tracks: the person's own decisions (`subject`), and — for consent purposes only — a
guardian's decisions for a minor (`guardian`, R-14). On purposes with another legal basis there is no
guardian consent to track: a guardian's objection is the minor's right exercised on their behalf, so it
lands on the subject track where decide() reads objections.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from .policy import ConsentStatus

LEDGER_PREFIX = "ledger:"

GIVING = frozenset({"given", "renewed", "restored"})
BLOCKING = frozenset({"withdrawn", "objected"})


def chain_name(organisation_id: int) -> str:
    return f"{LEDGER_PREFIX}org:{organisation_id}"


def organisation_of(chain: str) -> int:
    return int(chain.rsplit(":", 1)[1])


def _utc(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _opt(value) -> str | None:
    return str(value) if value is not None else None


def hashed_fields(row) -> dict:
    """Every column of a ledger row but its hash. The sealed evidence is covered by the SHA-256 of its
    ciphertext: the chain still verifies after the contact's key is destroyed, and no digest of the
    clear evidence (a truncated IP, a user agent) is ever computed."""
    sealed = row.sealed_bytes("evidence")
    return {
        "id": str(row.pk),
        "organisation": row.organisation_id,
        "seq": row.seq,
        "contact": str(row.contact_id),
        "purpose": row.purpose_id,
        "channel": row.channel,
        "action": row.action,
        "expressed_by": row.expressed_by,
        "guardian": _opt(row.guardian_id),
        "staff_user": _opt(row.staff_user_id),
        "method": row.method,
        "notice": row.notice_id,
        "notice_version": row.notice_version,
        "notice_sha256": row.notice_sha256,
        "language": row.language,
        "occurred_at": _utc(row.occurred_at),
        "recorded_at": _utc(row.recorded_at),
        "valid_until": _utc(row.valid_until),
        "event_ref": row.event_ref,
        "evidence": hashlib.sha256(bytes(sealed)).hexdigest() if sealed is not None else None,
        "actor_kind": row.actor_kind,
        "actor_id": row.actor_id,
        "prev_hash": row.prev_hash,
    }


def status_after(action: str, consent_based: bool) -> str:
    """The status one event leaves its track in."""
    if action in GIVING:
        if action == "restored" and not consent_based:
            return ConsentStatus.NONE  # an objection lifted: back to "informed, not objecting"
        return ConsentStatus.GIVEN
    return {
        "refused": ConsentStatus.REFUSED,
        "withdrawn": ConsentStatus.WITHDRAWN,
        "objected": ConsentStatus.OBJECTED,
        "expired": ConsentStatus.EXPIRED,
    }[action]


def track_of(expressed_by: str, consent_based: bool) -> str:
    return "guardian" if consent_based and expressed_by == "guardian" else "subject"


@dataclass(frozen=True)
class Track:
    status: str = ConsentStatus.NONE
    valid_until: datetime | None = None
    event_ref: str = ""
    occurred_at: datetime | None = None
    seq: int = 0


def later(event, track: Track) -> bool:
    """Does `event` come after the track's last event in (occurred_at, seq) order?"""
    if track.occurred_at is None:
        return True
    return (event.occurred_at, event.seq) > (track.occurred_at, track.seq)


def apply(track: Track, event, consent_based: bool) -> Track:
    if not later(event, track):
        return track
    status = status_after(event.action, consent_based)
    giving = status == ConsentStatus.GIVEN
    return replace(track, status=status, valid_until=event.valid_until if giving else None,
                   event_ref=event.event_ref or "", occurred_at=event.occurred_at, seq=event.seq)


def fold(events, consent_based: bool) -> dict[str, Track]:
    """The projection of one contact × purpose × channel from its events (any order)."""
    tracks = {"subject": Track(), "guardian": Track()}
    for event in events:
        name = track_of(event.expressed_by, consent_based)
        tracks[name] = apply(tracks[name], event, consent_based)
    return tracks
