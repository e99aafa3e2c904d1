"""Vonage SMS API webhooks, as pure functions: signed webhooks (R-66), delivery receipts, inbound SMS.

We send with the SMS API (rest.nexmo.com/sms/json), so its webhooks are the SMS API's: delivery
receipts and inbound messages as GET query, form POST or JSON POST (whichever the dashboard says), the
same fields either way. The Messages API and its JWT-signed webhooks are not used.

Signature (https://developer.vonage.com/en/getting-started/concepts/signing-messages): with signed
webhooks enabled on the account, each call carries `sig`, `timestamp` and `nonce`. Every parameter
but `sig`, sorted by name, is joined as "&name=value" with "&" and "=" in values replaced by "_"; the
signature is then md5(string + secret) in hex ("md5hash", Vonage's default) or the hex HMAC of the
string keyed with the signature secret (md5, sha1, sha256, sha512), compared without regard to case.
The method is the account's choice in the dashboard: credential `signature_method`. A call without
`sig`, or an account without a signature secret, is refused: nothing unsigned is ever accepted. The
`api-key` a call names must also be ours. Vonage documents no freshness window for `timestamp`, and
retries an unanswered inbound message for 24 hours, so none is enforced: a replayed receipt or STOP
changes nothing (receipts only move forward; a second STOP is a no-op, R-32).
"""

from __future__ import annotations

import hashlib
import hmac

from relance.providers.base import Inbound, Receipt, WebhookReply, WebhookRequest

METHODS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
DEFAULT_METHOD = "md5hash"

# DLR `status` (https://developer.vonage.com/en/messaging/sms/guides/delivery-receipts) → ours.
STATUSES = {"delivered": "delivered", "accepted": "accepted", "buffered": "accepted", "unknown": "accepted",
            "expired": "expired"}
FAILURES = {"failed": "undeliverable", "rejected": "rejected"}
# DLR `err-code`s that say the number itself cannot take messages (same page): 3 absent subscriber,
# permanent; 4 call barred by user; 9 illegal number (the person refused the service); 12 destination
# unreachable; 14 number blocked by carrier (no SMS on the plan). The others (1 unknown, 2 absent
# temporarily, 5 portability, 6 anti-spam, 7 busy, 8 network, 10 illegal message, 11 unroutable,
# 13 age restriction, 15 prepaid without credit, 99 general) fail the message without counting.
PERMANENT_ERRORS = frozenset({"3", "4", "9", "12", "14"})


def params_of(request: WebhookRequest) -> dict:
    """The webhook's parameters, wherever the account's setting put them (query, form or JSON)."""
    if request.form:
        return dict(request.form)
    if request.body and request.method == "POST":
        data = request.json()
        if not isinstance(data, dict):
            raise ValueError("a Vonage webhook body is a JSON object")
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    return dict(request.query)


def signature(params: dict, secret: str, method: str = DEFAULT_METHOD) -> str:
    """Vonage's signature of these parameters (`sig` left out), lower-case hex."""
    signed = "".join(f"&{name}={str(params[name]).replace('&', '_').replace('=', '_')}"
                     for name in sorted(params) if name != "sig")
    if method == DEFAULT_METHOD:
        return hashlib.md5((signed + secret).encode()).hexdigest()  # noqa: S324 - Vonage's scheme, not ours
    if method not in METHODS:
        raise ValueError(f"unknown Vonage signature method {method!r}")
    return hmac.new(secret.encode(), signed.encode(), METHODS[method]).hexdigest()


def verify(request: WebhookRequest, credentials: dict) -> bool:
    secret = str(credentials.get("signature_secret") or "")
    method = str(credentials.get("signature_method") or DEFAULT_METHOD).strip().lower()
    try:
        params = params_of(request)
    except ValueError:
        return False
    given = str(params.get("sig") or "")
    if not secret or not given or method not in (DEFAULT_METHOD, *METHODS):
        return False
    key = str(params.get("api-key") or "")
    if key and key != str(credentials.get("api_key") or ""):
        return False
    # Bytes: a `sig` with non-ASCII characters is a wrong signature, not a TypeError (a 500).
    return hmac.compare_digest(signature(params, secret, method).encode(), given.lower().encode())


def receipt_of(params: dict) -> Receipt:
    """A delivery receipt's fields → Receipt; ValueError when it names no message or status."""
    ref = str(params.get("messageId") or "").strip()
    status = str(params.get("status") or "").strip().lower()
    if not ref or not status:
        raise ValueError("delivery receipt without messageId or status")
    code = str(params.get("err-code") or "0").strip()
    error = f"vonage_{code}" if code not in ("", "0") else ""
    if status in FAILURES:
        if code in PERMANENT_ERRORS:
            return Receipt(ref, "failed", error=error, permanent=True)
        return Receipt(ref, FAILURES[status], error=error or f"vonage_{status}", permanent=False)
    return Receipt(ref, STATUSES.get(status, "accepted"), error=error)


def parse_receipts(request: WebhookRequest) -> list[Receipt]:
    return [receipt_of(params_of(request))]


def e164(number: str) -> str:
    """Vonage writes numbers without "+"; a short code (6 digits or fewer) stays as it is."""
    number = number.strip()
    return f"+{number}" if number.isdigit() and len(number) > 6 else number


def parse_inbound(request: WebhookRequest) -> list[Inbound]:
    """An inbound SMS (https://developer.vonage.com/en/api/sms#inbound-sms). Of a concatenated
    message, only the first part is handed on: the keywords (STOP, START...) are at its start, and a
    part on its own must not be read as a message of its own."""
    params = params_of(request)
    sender, to, ref = (str(params.get(k) or "").strip() for k in ("msisdn", "to", "messageId"))
    if not sender or not to or "text" not in params:
        raise ValueError("inbound SMS without msisdn, to or text")
    if str(params.get("concat") or "").lower() == "true" and str(params.get("concat-part") or "1") != "1":
        return []
    return [Inbound(sender=e164(sender), to=e164(to), text=str(params["text"]), provider_ref=ref)]


def reply(which: str) -> WebhookReply:
    """Vonage wants a 2xx and reads nothing else (without it, it retries)."""
    return WebhookReply(status=204, content_type="text/plain", body=b"")
