"""Twilio's webhooks, as pure functions: the signature (R-66), status callbacks, incoming messages.

Signature (https://www.twilio.com/docs/usage/webhooks/webhooks-security): Twilio signs every request
with `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + each form parameter, sorted by name,
as name then value, no separator)). The URL is the one Twilio called, query string included: the view
rebuilds it from RELANCE_PUBLIC_URL. A JSON-bodied request carries `bodySHA256` in its query instead
of form fields; the body must hash to it. A call without the header, or with no auth token to check
it against, is refused: nothing unsigned is ever accepted.

Status callbacks (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status) are
forms with `MessageSid`, `MessageStatus` and, on failure, `ErrorCode`. Twilio's own "failed" means the
message could not be sent, often for a reason that has nothing to do with the number (a full queue, an
unregistered sender), so a failure is reported as permanent (R-29 counts it) only for the error codes
that say the number itself cannot take messages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from relance.providers.base import Inbound, Receipt, WebhookReply, WebhookRequest

# Twilio's message statuses (https://www.twilio.com/docs/messaging/api/message-resource#message-status-values)
# and what messaging/receipts.py makes of them. Failures are decided with the error code (below).
STATUSES = {
    "delivered": "delivered",
    "read": "read",
    "queued": "accepted",
    "accepted": "accepted",
    "scheduled": "accepted",
    "sending": "accepted",
    "sent": "accepted",  # handed to the carrier: not an outcome yet
    "partially_delivered": "accepted",
    "canceled": "rejected",
}
FAILURES = frozenset({"failed", "undelivered"})

# Error codes that say the number cannot receive SMS (https://www.twilio.com/docs/api/errors):
# 21211 invalid 'To' number, 21214 'To' number cannot be reached, 21612 cannot route to this number,
# 21614 'To' is not a mobile number, 30005 unknown destination handset, 30006 landline or unreachable
# carrier. Others (30003 unreachable handset, 30007 carrier filtering, 30008 unknown, 30034
# unregistered sender...) fail the message without counting against the number.
PERMANENT_ERRORS = frozenset({"21211", "21214", "21612", "21614", "30005", "30006"})

TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signature(url: str, params: dict, auth_token: str) -> str:
    """Twilio's signature of a call: base64 HMAC-SHA1 of the URL and the sorted parameters."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify(request: WebhookRequest, credentials: dict) -> bool:
    token = str(credentials.get("auth_token") or "")
    given = request.headers.get("x-twilio-signature", "")
    if not token or not given:
        return False
    params = request.form
    if not params and request.body and "bodySHA256" in request.query:
        # A JSON body: the URL (with bodySHA256) is signed, and the body must match the hash.
        actual = hashlib.sha256(request.body).hexdigest()
        if not hmac.compare_digest(actual.encode(), request.query["bodySHA256"].encode()):
            return False
        params = {}
    # Bytes: a header with non-ASCII characters is a wrong signature, not a TypeError (a 500).
    return hmac.compare_digest(signature(request.url, params, token).encode(), given.encode())


def receipt_of(fields: dict) -> Receipt:
    """One status callback's fields → Receipt; ValueError when it names no message or status."""
    sid = str(fields.get("MessageSid") or fields.get("SmsSid") or "").strip()
    status = str(fields.get("MessageStatus") or fields.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        raise ValueError("status callback without MessageSid or MessageStatus")
    code = str(fields.get("ErrorCode") or "").strip()
    error = f"twilio_{code}" if code else ""
    if status in FAILURES:
        if code in PERMANENT_ERRORS:
            return Receipt(sid, "failed", error=error, permanent=True)
        return Receipt(sid, "undeliverable", error=error or f"twilio_{status}", permanent=False)
    return Receipt(sid, STATUSES.get(status, "accepted"), error=error)


def parse_receipts(request: WebhookRequest) -> list[Receipt]:
    return [receipt_of(request.form or request.query)]


def parse_inbound(request: WebhookRequest) -> list[Inbound]:
    """An incoming SMS (https://www.twilio.com/docs/messaging/guides/webhook-request)."""
    fields = request.form or request.query
    sender = str(fields.get("From") or "").strip()
    to = str(fields.get("To") or "").strip()
    if not sender or not to or "Body" not in fields:
        raise ValueError("incoming message without From, To or Body")
    sid = str(fields.get("MessageSid") or fields.get("SmsMessageSid") or "")
    return [Inbound(sender=sender, to=to, text=str(fields["Body"]), provider_ref=sid)]


def reply(which: str) -> WebhookReply:
    """Empty TwiML: Twilio sends nothing back (our answers to STOP/INFO leave through the outbox)."""
    return WebhookReply(status=200, content_type="text/xml", body=TWIML_EMPTY)
