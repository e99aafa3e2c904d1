"""Signed preference links carried in messages (R-12: withdrawing is one click away).

A token is 24 base64url characters (18 bytes), short because every SMS character costs:

    8 bytes  the first half of the contact's UUID (finds the contact: see prefix_range)
    2 bytes  the last valid day, counted in days since 2020-01-01 (UTC)
    8 bytes  HMAC-SHA-256 over (organisation id, the WHOLE contact UUID, that day), truncated

The key is derived from settings.SECRET_KEY for this use only, so a token is bound to one contact of
one organisation and cannot be forged or stretched; a changed character breaks the MAC. Checking
is constant-time. Expired, tampered and unknown tokens all look the same to the caller of resolve().
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

EPOCH = date(2020, 1, 1)
TOKEN_LENGTH = 24
PREFIX_BYTES, DAY_BYTES, MAC_BYTES = 8, 2, 8
DEFAULT_DAYS = 90
TOKEN_PATTERN = r"[A-Za-z0-9_-]{24}"


@dataclass(frozen=True)
class Parsed:
    prefix: bytes
    last_day: date
    mac: bytes


def derive_key(secret: str | bytes) -> bytes:
    """A key for links only, from the project's secret (never the secret itself)."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, b"relance.contacts.links/v1", hashlib.sha256).digest()


def _mac(key: bytes, org_id: int, contact_id: uuid.UUID, day_number: int) -> bytes:
    message = f"{org_id}|{contact_id.hex}|{day_number}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]


def make_token(contact_id: uuid.UUID, org_id: int, last_day: date, key: bytes) -> str:
    day_number = (last_day - EPOCH).days
    if not 0 <= day_number < 2 ** (8 * DAY_BYTES):
        raise ValueError("the last valid day is outside what a link can carry")
    raw = contact_id.bytes[:PREFIX_BYTES] + day_number.to_bytes(DAY_BYTES, "big") + _mac(key, org_id, contact_id,
                                                                                          day_number)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_token(token: str) -> Parsed | None:
    """The token's parts, or None when it is not even shaped like a token."""
    if not isinstance(token, str) or len(token) != TOKEN_LENGTH:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    if len(raw) != PREFIX_BYTES + DAY_BYTES + MAC_BYTES or base64.urlsafe_b64encode(raw).decode() != token:
        return None  # a non-canonical spelling of the same bytes is refused too
    day_number = int.from_bytes(raw[PREFIX_BYTES:PREFIX_BYTES + DAY_BYTES], "big")
    return Parsed(raw[:PREFIX_BYTES], EPOCH + timedelta(days=day_number), raw[PREFIX_BYTES + DAY_BYTES:])


def prefix_range(prefix: bytes) -> tuple[uuid.UUID, uuid.UUID]:
    """The smallest and largest UUIDs that start with `prefix` (a range query finds the contact)."""
    rest = 16 - len(prefix)
    return uuid.UUID(bytes=prefix + b"\x00" * rest), uuid.UUID(bytes=prefix + b"\xff" * rest)


def is_authentic(parsed: Parsed, contact_id: uuid.UUID, org_id: int, key: bytes) -> bool:
    if contact_id.bytes[:PREFIX_BYTES] != parsed.prefix:
        return False
    expected = _mac(key, org_id, contact_id, (parsed.last_day - EPOCH).days)
    return hmac.compare_digest(expected, parsed.mac)


def is_expired(parsed: Parsed, today: date) -> bool:
    return today > parsed.last_day


# --- with the project's settings and database ---------------------------------------------------
def _key() -> bytes:
    from django.conf import settings

    return derive_key(settings.SECRET_KEY)


def link_days() -> int:
    from django.conf import settings

    return int(getattr(settings, "RELANCE_LINK_DAYS", DEFAULT_DAYS))


def _today() -> date:
    from django.utils import timezone

    return timezone.now().date()


def token_for(contact, *, today: date | None = None, days: int | None = None) -> str:
    """A fresh token for the contact, valid `days` days (RELANCE_LINK_DAYS, default 90)."""
    last_day = (today or _today()) + timedelta(days=days if days is not None else link_days())
    return make_token(contact.pk, contact.organisation_id, last_day, _key())


def url_for(contact, *, today: date | None = None) -> str:
    from django.conf import settings

    base = (getattr(settings, "RELANCE_PUBLIC_URL", "") or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/p/s/{token_for(contact, today=today)}/"


def resolve(token: str, *, actor=None, today: date | None = None):
    """The living contact a token was made for, or None (forged, altered, expired, erased: one answer).
    With an `actor`, opening the link is recorded (R-65: the page shows the contact's data)."""
    from django.db import transaction

    from relance.audit import services as audit

    from .models import Contact

    parsed = parse_token(token)
    if parsed is None:
        return None
    low, high = prefix_range(parsed.prefix)
    key = _key()
    candidates = Contact.unscoped.select_related("organisation").filter(id__gte=low, id__lte=high).exclude(
        status__in=[Contact.Status.ERASED, Contact.Status.DECEASED])
    found = [c for c in candidates[:5] if is_authentic(parsed, c.pk, c.organisation_id, key)]
    if not found or is_expired(parsed, today or _today()):
        return None
    contact = found[0]
    if actor is not None:
        with transaction.atomic():
            audit.record(contact.organisation, actor, "contact.link_opened", target=contact,
                         details={"contact": str(contact.pk), "last_day": parsed.last_day.isoformat()})
    return contact
