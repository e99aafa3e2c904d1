"""Signatures of outgoing webhooks (SPEC §4), and how an integrator checks them.

Every delivery carries `Relance-Signature: t=<unix seconds>,v1=<hex>` where the hex is
HMAC-SHA-256(secret, f"{t}.{body}") over the exact bytes of the request body. The timestamp is
signed too, so a captured request cannot be replayed later than `tolerance` seconds. During a
secret rotation nothing special is needed: the new secret signs from the moment it is shown.

Integrators (Python, standard library only)::

    from relance.webhooks.signing import verify
    verify(secret, request.headers["Relance-Signature"], request.body, now=time.time())
    # raises SignatureError when the header is missing, malformed, too old or wrong

The same check in any language: split the header on ",", take `t` and every `v1`, compute the
HMAC of `t + "." + body` with the secret (UTF-8), compare in constant time, reject when
|now - t| > 300.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Relance-Signature"
SCHEME = "v1"
TOLERANCE = 300  # seconds


class SignatureError(Exception):
    """The request is not a genuine, fresh Relance webhook."""


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def compute(secret: str, timestamp: int, body: bytes | str) -> str:
    """The hex HMAC-SHA-256 of f"{timestamp}.{body}" under the secret."""
    message = str(int(timestamp)).encode() + b"." + _as_bytes(body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def header(secret: str, timestamp: int, body: bytes | str) -> str:
    """The value of the Relance-Signature header for this body at this time."""
    return f"t={int(timestamp)},{SCHEME}={compute(secret, timestamp, body)}"


def parse(value: str) -> tuple[int, list[str]]:
    """(timestamp, signatures) from a header value; SignatureError when malformed."""
    timestamp, signatures = None, []
    for part in (value or "").split(","):
        name, _, item = part.strip().partition("=")
        if name == "t" and item.isascii() and item.isdigit():  # "²".isdigit(), but int("²") fails
            timestamp = int(item)
        elif name == SCHEME and item:
            signatures.append(item)
    if timestamp is None or not signatures:
        raise SignatureError("malformed signature header: expected t=<unix>,v1=<hex>")
    return timestamp, signatures


def verify(secret: str, value: str, body: bytes | str, now: float, tolerance: int = TOLERANCE) -> int:
    """Check a received webhook; returns its timestamp. Raises SignatureError otherwise."""
    timestamp, signatures = parse(value)
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance: a replay or a wrong clock")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in signatures):
        raise SignatureError("signature does not match: wrong secret or altered body")
    return timestamp
