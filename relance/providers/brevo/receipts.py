"""Brevo transactional SMS webhooks as pure functions: the auth check, SMS events, replies (R-29, R-33, R-66).

Brevo signs nothing: a webhook carries the HTTP authentication configured on it ("Secure webhook
calls", https://developers.brevo.com/docs/secured-webhooks): a bearer token (`auth: {type: bearer,
token}` on the webhook, sent as `Authorization: Bearer <token>`) or a user name and password put in
the URL (`https://user:password@…`, sent as `Authorization: Basic …`). `verify` checks the one the
account's credentials define (`webhook_token`, or `webhook_username` + `webhook_password`), in
constant time; an account with neither refuses every call. The webhook token in our URL path is the
first check (the view's).

Events ("Transactional webhooks", Transactional SMS events,
https://developers.brevo.com/docs/transactional-webhooks): JSON with `to` (the mobile number, digits
with the country code), `messageId` (the id the send call answered), `msg_status` (sent, delivered,
soft_bounce, hard_bounce …), `reference`, `type`, `date`. The webhook API (POST /v3/webhooks, `events`)
names the SMS events sent, accepted, delivered, softBounce, hardBounce, reply, unsubscribe, subscribe,
skip, blacklisted, and the SMS events report (GET /v3/transactionalSMS/statistics/events) carries the
text of a reply in `reply`. Both spellings of a status are read. A batched webhook
posts a JSON list of the same objects.

Replies name the person (`to`) but not which of our senders they answered; the URL registered for the
`reply` event carries it: `…/inbound?sender=<our sender>`. A reply arriving on the receipts hook is
refused (400) rather than acknowledged: a STOP must never be answered 2xx without being applied (R-33).
"""

from __future__ import annotations

import base64
import binascii
import hmac

from relance.providers.base import Inbound, Receipt, WebhookReply, WebhookRequest

# msg_status / event → (status relance/messaging/receipts.py understands, permanent).
STATUSES = {
    "sent": ("accepted", False),
    "accepted": ("accepted", False),
    "delivered": ("delivered", False),
    # A hard bounce: the number cannot receive SMS; it counts towards R-29.
    "hard_bounce": ("failed", True),
    "hardbounce": ("failed", True),
    # A soft bounce (phone off, out of coverage…) ends this message, the number may work later.
    "soft_bounce": ("undeliverable", False),
    "softbounce": ("undeliverable", False),
    # Refused before any delivery (Brevo's blocklist, skipped): this message fails, the number is not blamed.
    "rejected": ("rejected", False),
    "blacklisted": ("rejected", False),
    "skip": ("rejected", False),
}
REPLY_EVENTS = {"reply", "replied"}


def _same(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def verify(request: WebhookRequest, credentials: dict) -> bool:
    """R-66: the bearer token or the basic credentials configured on the Brevo webhook."""
    header = str(request.headers.get("authorization") or "")
    token = str(credentials.get("webhook_token") or "")
    if token:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and _same(value.strip(), token):
            return True
    user, password = str(credentials.get("webhook_username") or ""), str(credentials.get("webhook_password") or "")
    given = _basic(header)
    if user and password and given is not None:
        return _same(given[0], user) & _same(given[1], password)
    return False


def _events(request: WebhookRequest) -> list[dict]:
    data = request.json()
    events = data if isinstance(data, list) else [data]
    if not events or not all(isinstance(event, dict) for event in events):
        raise ValueError("Brevo webhook body is not an event or a list of events")
    return events


def _kind(event: dict) -> str:
    return str(event.get("msg_status") or event.get("event") or "").strip().lower()


def _is_reply(event: dict) -> bool:
    return _kind(event) in REPLY_EVENTS or bool(event.get("reply"))


def _ref(event: dict) -> str:
    ref = event.get("messageId")
    if isinstance(ref, bool) or not isinstance(ref, int | str) or not str(ref).strip():
        raise ValueError("Brevo SMS event without a messageId")
    return str(ref).strip()


def receipt_of(event: dict) -> Receipt:
    if _is_reply(event):
        raise ValueError("a Brevo reply belongs on the inbound webhook")
    kind = _kind(event)
    if not kind:
        raise ValueError("Brevo SMS event without a status")
    status, permanent = STATUSES.get(kind, ("accepted", False))  # unknown: intermediate, changes nothing
    error = "" if status in ("accepted", "delivered") else f"brevo_{kind}"[:40]
    return Receipt(_ref(event), status, error=error, permanent=permanent)


def parse_receipts(request: WebhookRequest) -> list[Receipt]:
    return [receipt_of(event) for event in _events(request)]


def e164(number) -> str:
    text = "".join(str(number or "").split())
    if text.startswith("00"):
        text = text[2:]
    text = text.removeprefix("+")
    if not (text.isdigit() and 7 <= len(text) <= 15):
        raise ValueError("Brevo reply from a number that is not international")
    return "+" + text


def inbound_of(event: dict, sender: str) -> Inbound:
    if not _is_reply(event):
        raise ValueError("a Brevo delivery event belongs on the receipts webhook")
    text = event.get("reply")
    if not isinstance(text, str):
        raise ValueError("Brevo reply without its text")
    return Inbound(sender=e164(event.get("to")), to=sender, text=text, provider_ref=str(event.get("messageId") or ""))


def parse_inbound(request: WebhookRequest) -> list[Inbound]:
    sender = str(request.query.get("sender") or "").strip()
    if not sender:
        raise ValueError("the inbound webhook URL names none of our senders (?sender=)")
    return [inbound_of(event, sender) for event in _events(request)]


def reply(which: str) -> WebhookReply:
    """Brevo retries on 429 and 5xx only; any 2xx ends it."""
    return WebhookReply()
