"""Sending through Twilio's Messages resource, one HTTP call per message (no SDK: httpx via lib/http.py).

POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP basic auth (account SID, auth
token) and a form: To, From (or MessagingServiceSid), Body, StatusCallback (this account's receipts
webhook). https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
Twilio chooses GSM-7 or UCS-2 from the text itself and has no "unicode" flag; `SmartEncoded=false`
keeps it from swapping our characters for GSM look-alikes, so what we measured is what leaves.

Answers (https://www.twilio.com/docs/usage/twilios-response, https://www.twilio.com/docs/api/errors):
201 with the Message resource → sent, its `sid` is the provider reference; 429 and 5xx → retry;
a 4xx names an error code in its JSON body, mapped in `ERRORS`. An account-wide problem (bad
credentials, a sender the account may not use, a suspended account) is raised as ProviderError on the
first message of a batch, so the router fails over and the circuit counts it; later in a batch, the
messages already accepted keep their result and the rest are answered "retry" (never lost, never
sent twice). Neither the number nor the text is ever logged.
"""

from __future__ import annotations

import logging

import httpx

from relance.lib import http
from relance.providers.base import Outgoing, Provider, ProviderError, Result, send_one_by_one
from relance.providers.kinds import AccountConfig

log = logging.getLogger("relance.providers.twilio")
BASE_URL = "https://api.twilio.com"

# Twilio error codes in a 4xx answer (https://www.twilio.com/docs/api/errors) → what it means here.
ACCOUNT = "account"  # the batch cannot go through this account: ProviderError, failover
MESSAGE = "message"  # this message can never go: failed
LATER = "later"  # try again later: retry
ERRORS = {
    "20003": ACCOUNT,  # authentication failed
    "20005": ACCOUNT,  # account not active
    "20404": ACCOUNT,  # the account (SID) does not exist
    "20429": LATER,  # too many requests
    "21211": MESSAGE,  # invalid 'To' phone number
    "21214": MESSAGE,  # 'To' number cannot be reached
    "21408": MESSAGE,  # permission to send to this region is not enabled
    "21610": MESSAGE,  # the recipient replied STOP to this sender at Twilio
    "21612": MESSAGE,  # cannot route to this number
    "21614": MESSAGE,  # 'To' is not a mobile number
    "21617": MESSAGE,  # body exceeds 1600 characters
    "21606": ACCOUNT,  # 'From' is not a valid number for this account
    "21659": ACCOUNT,  # 'From' is not a Twilio number
    "21212": ACCOUNT,  # invalid 'From' number
    "30001": LATER,  # queue overflow
    "30002": ACCOUNT,  # account suspended
}
STATUS_ERRORS = {401: ACCOUNT, 403: ACCOUNT, 404: ACCOUNT}


class TwilioProvider(Provider):
    name = "twilio"
    channel = "sms"

    def __init__(self, config: AccountConfig):
        self.config = config
        self.account_sid = str(config.credentials["account_sid"])
        self.auth = (self.account_sid, str(config.credentials["auth_token"]))
        self.service_sid = str(config.credentials.get("messaging_service_sid") or "")
        self.base_url = str(config.options.get("base_url") or BASE_URL)
        self.http: httpx.Client | None = None
        self._error_body: dict = {}

    def open(self) -> None:
        if self.http is None:
            self.http = http.client(base_url=self.base_url, auth=self.auth, **timeout_of(self.config))
            # lib/http.py answers a 4xx with its status only; Twilio's error code is in the body.
            self.http.event_hooks["response"] = [self._keep_error_body]

    def close(self) -> None:
        if self.http is not None:
            self.http.close()
            self.http = None

    def _keep_error_body(self, response: httpx.Response) -> None:
        self._error_body = {}
        if response.status_code >= 400:
            response.read()
            try:
                body = response.json()
            except ValueError:
                body = None
            self._error_body = body if isinstance(body, dict) else {}

    def form(self, out: Outgoing) -> dict:
        fields = {"To": out.to, "Body": out.body, "SmartEncoded": "false"}
        sender = out.sender or str(self.config.options.get("sender") or "")
        if sender:
            fields["From"] = sender
        if self.service_sid:
            fields["MessagingServiceSid"] = self.service_sid
        if not sender and not self.service_sid:
            raise ProviderError("no sender and no messaging service", permanent=False, code="twilio_no_sender")
        if self.config.webhook_base:
            fields["StatusCallback"] = self.config.webhook_base + "receipts"
        return fields

    def send(self, batch: list[Outgoing]) -> list[Result]:
        self.open()
        return send_one_by_one(batch, self._send_one, vendor="twilio")

    def _send_one(self, out: Outgoing) -> Result:
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        try:
            response = http.request(self.http, "POST", path, data=self.form(out))
        except http.HttpFailure as exc:
            return self._failure(out, exc)
        sid = str((response.json() or {}).get("sid") or "")
        if not sid:
            return Result.retry(out.ref, "twilio_no_sid")
        return Result.sent(out.ref, provider_ref=sid)

    def _failure(self, out: Outgoing, exc: http.HttpFailure) -> Result:
        if exc.status == 0:
            return unanswered(out, exc, "twilio")
        code = str(self._error_body.get("code") or "")
        error = f"twilio_{code or exc.status}"
        meaning = ERRORS.get(code) or STATUS_ERRORS.get(exc.status) or (LATER if exc.temporary else MESSAGE)
        log.info("twilio refused a message", extra={"status": exc.status, "code": error})
        if meaning == ACCOUNT:
            raise ProviderError(f"twilio refused the account: {error}", permanent=False, code=error)
        if meaning == LATER:
            return Result.retry(out.ref, error)
        return Result.failed(out.ref, error)


def timeout_of(config: AccountConfig) -> dict:
    """Option `timeout` (seconds) overrides lib/http.py's bounded default, e.g. for a slow vendor."""
    seconds = config.options.get("timeout")
    return {"timeout": httpx.Timeout(float(seconds))} if seconds else {}


def unanswered(out: Outgoing, exc: http.HttpFailure, kind: str) -> Result:
    """No answer. A refused connection never reached the vendor: the whole batch can go elsewhere
    (ProviderError). Any other transport failure (a timeout, a connection cut mid-answer) may come
    after the vendor took the message: retry, marked for reconciliation (docs/delivery.md)."""
    text = str(exc)
    if "ConnectError" in text:
        raise ProviderError(f"{kind} unreachable", permanent=False, code=f"{kind}_unreachable")
    return Result(out.ref, Result.RETRY, error=f"{kind}_no_answer", detail={"reconcile": True})
