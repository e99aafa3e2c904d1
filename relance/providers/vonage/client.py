"""Sending through the Vonage SMS API, one HTTP call per message (no SDK: httpx via lib/http.py).

POST {base}/sms/json, form-encoded: api_key, api_secret, from, to and text, `type=unicode` when the
text is UCS-2, `callback` (this account's receipts webhook) and `client-ref` (our message id, for
reconciliation). Numbers go without "+". https://developer.vonage.com/en/api/sms#send-an-sms

The answer is HTTP 200 with one entry per part in `messages`, each with its `status`
(https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms, mapped in `STATUSES`):
"0" is accepted, and the first part's `message-id` becomes the provider reference (each part gets its
own receipt; those of the later parts name ids we do not know and change nothing). An account-wide
problem (credentials, suspended account, no credit, a sender it may not use) is raised as
ProviderError on the first message of a batch so the router fails over and the circuit counts it;
later in a batch, what was accepted stays sent and the rest is retried. A refused connection raises
ProviderError; a timeout is a retry marked for reconciliation (the message may have left). Neither
the number nor the text is ever logged.
"""

from __future__ import annotations

import logging

import httpx

from relance.lib import http
from relance.providers.base import Outgoing, Provider, ProviderError, Result, send_one_by_one
from relance.providers.kinds import AccountConfig

log = logging.getLogger("relance.providers.vonage")
BASE_URL = "https://rest.nexmo.com"

ACCOUNT, MESSAGE, LATER = "account", "message", "later"
# SMS API `status` codes (troubleshooting-sms page above) → what they mean here.
STATUSES = {
    "1": LATER,  # throttled
    "2": MESSAGE,  # missing parameters
    "3": MESSAGE,  # invalid parameters (a malformed number, an empty text)
    "4": ACCOUNT,  # invalid credentials
    "5": LATER,  # internal error
    "6": MESSAGE,  # invalid message: an unrecognised number prefix
    "7": MESSAGE,  # number barred
    "8": ACCOUNT,  # partner account barred
    "9": ACCOUNT,  # partner quota violation: no credit left
    "10": LATER,  # too many existing binds
    "11": ACCOUNT,  # account not enabled for the HTTP API
    "12": MESSAGE,  # message too long
    "14": ACCOUNT,  # invalid signature
    "15": ACCOUNT,  # invalid sender address
    "22": MESSAGE,  # invalid network code
    "23": ACCOUNT,  # invalid callback URL
    "29": ACCOUNT,  # non-whitelisted destination: the account is still in demo mode
    "32": ACCOUNT,  # signature and API secret disallowed
    "33": MESSAGE,  # number de-activated
}


def timeout_of(config: AccountConfig) -> dict:
    """Option `timeout` (seconds) overrides lib/http.py's bounded default, e.g. for a slow vendor."""
    seconds = config.options.get("timeout")
    return {"timeout": httpx.Timeout(float(seconds))} if seconds else {}


def unanswered(out: Outgoing, exc: http.HttpFailure) -> Result:
    """No answer. A refused connection never reached Vonage: the batch can go elsewhere (ProviderError).
    Any other transport failure (a timeout, a cut answer) may come after Vonage took the message:
    retry, marked for reconciliation (`client-ref` carries our id)."""
    if "ConnectError" in str(exc):
        raise ProviderError("vonage unreachable", permanent=False, code="vonage_unreachable")
    return Result(out.ref, Result.RETRY, error="vonage_no_answer", detail={"reconcile": True})


def national(number: str) -> str:
    """Vonage's form of a number: E.164 without "+" (an alphanumeric sender is left as it is)."""
    return number[1:] if number.startswith("+") and number[1:].isdigit() else number


class VonageProvider(Provider):
    name = "vonage"
    channel = "sms"

    def __init__(self, config: AccountConfig):
        self.config = config
        self.api_key = str(config.credentials["api_key"])
        self.api_secret = str(config.credentials["api_secret"])
        self.base_url = str(config.options.get("base_url") or BASE_URL)
        self.http: httpx.Client | None = None

    def open(self) -> None:
        if self.http is None:
            self.http = http.client(base_url=self.base_url, **timeout_of(self.config))

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def form(self, out: Outgoing) -> dict:
        sender = out.sender or str(self.config.options.get("sender") or "")
        if not sender:
            raise ProviderError("no sender", permanent=False, code="vonage_no_sender")
        fields = {"api_key": self.api_key, "api_secret": self.api_secret, "from": national(sender),
                  "to": national(out.to), "text": out.body, "type": "unicode" if out.encoding == "UCS-2" else "text",
                  "client-ref": out.ref[:40]}
        if self.config.webhook_base:
            fields["callback"] = self.config.webhook_base + "receipts"
        return fields

    def send(self, batch: list[Outgoing]) -> list[Result]:
        self.open()
        return send_one_by_one(batch, self._send_one, vendor="vonage")

    def _send_one(self, out: Outgoing) -> Result:
        try:
            response = http.request(self.http, "POST", "/sms/json", data=self.form(out))
        except http.HttpFailure as exc:
            if exc.status == 0:
                return unanswered(out, exc)
            if exc.status in (401, 403):
                raise ProviderError("vonage refused the account", permanent=False, code=f"vonage_http_{exc.status}") from None
            make = Result.retry if exc.temporary else Result.failed
            return make(out.ref, f"vonage_http_{exc.status}")
        return self._answer(out, response)

    def _answer(self, out: Outgoing, response: httpx.Response) -> Result:
        try:
            parts = response.json().get("messages") or []
        except (ValueError, AttributeError):
            parts = []
        if not parts:
            return Result(out.ref, Result.RETRY, error="vonage_no_answer", detail={"reconcile": True})
        accepted = [p for p in parts if str(p.get("status")) == "0" and p.get("message-id")]
        if accepted:
            return Result.sent(out.ref, provider_ref=str(accepted[0]["message-id"]))
        code = str(parts[0].get("status") or "")
        error = f"vonage_{code}"
        meaning = STATUSES.get(code, MESSAGE)
        log.info("vonage refused a message", extra={"code": error})
        if meaning == ACCOUNT:
            raise ProviderError(f"vonage refused the account: {error}", permanent=False, code=error)
        if meaning == LATER:
            return Result.retry(out.ref, error)
        return Result.failed(out.ref, error)
