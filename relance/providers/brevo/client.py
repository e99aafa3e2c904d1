"""Brevo transactional SMS: one POST /v3/transactionalSMS/send per message, authenticated by `api-key`.

Request ("Transactional SMS endpoints", https://developers.brevo.com/docs/transactional-sms-endpoints,
and the SendTransacSms model of Brevo's API clients): `sender` (11 alphanumeric or 15 digits),
`recipient` (the mobile number with its country code, digits), `content`, `type` ("transactional":
Relance writes its own opt-out mention, no Brevo STOP code), `unicodeEnabled` (true for UCS-2 text,
else Brevo folds accents to plain letters), `webUrl` (the webhook called for this message's events),
and `tag`. The answer of the current endpoint is {"messageId": 1511882900176220}; the deprecated
/transactionalSMS/sms answered more fields around the same `messageId` ("Deprecated endpoint",
https://developers.brevo.com/changelog/deprecated-endpoint-post-v3transactionalsmssms).

Errors are mapped on the status (lib/http.py's seam gives no body on errors): 400 (invalid or missing
parameter: a number or text Brevo refuses) fails that message; 401 (bad key), 402 (not enough
credits) and 403 (permission denied) concern every message, so they stop the batch as a temporary
ProviderError that the account's circuit counts (failover; no number is blamed, R-29); 429 (Brevo's
rate limit) and 5xx are retried, and so are timeouts. Connection refused before anything was sent is
a ProviderError for the whole batch; after some messages were accepted, the rest are `retry`, so
the accepted ones keep their Brevo id (no double send).
"""

from __future__ import annotations

import logging

from relance.lib import http
from relance.providers.base import Outgoing, Provider, Result, batch_refused, send_one_by_one
from relance.providers.kinds import AccountConfig

log = logging.getLogger("relance.providers.brevo")

DEFAULT_BASE_URL = "https://api.brevo.com/v3"
BATCH_WIDE = {401: "brevo_unauthorized", 402: "brevo_not_enough_credits", 403: "brevo_permission_denied"}


def payload(message: Outgoing, options: dict, web_url: str) -> dict:
    """The body of POST /transactionalSMS/send for one message."""
    body = {"sender": message.sender or options.get("sender", ""), "recipient": message.to.removeprefix("+"),
            "content": message.body, "type": options.get("type", "transactional"),
            "unicodeEnabled": message.encoding == "UCS-2"}
    if web_url:
        body["webUrl"] = web_url
    if options.get("tag"):
        body["tag"] = str(options["tag"])
    return body


class BrevoProvider(Provider):
    name = "brevo"
    channel = "sms"

    def __init__(self, config: AccountConfig):
        self.config = config
        self.base_url = str(config.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        per_message = config.options.get("per_message_webhook", True)
        self.web_url = config.webhook_base + "receipts" if per_message and config.webhook_base else ""
        self._http = None

    def open(self) -> None:
        if self._http is None:
            self._http = http.client(headers={"api-key": str(self.config.credentials["api_key"]),
                                              "Accept": "application/json"})

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(self, batch: list[Outgoing]) -> list[Result]:
        self.open()
        return send_one_by_one(batch, self._send_one, vendor="brevo")

    def _send_one(self, message: Outgoing) -> Result:
        try:
            answer = http.request(self._http, "POST", f"{self.base_url}/transactionalSMS/send",
                                  json=payload(message, self.config.options, self.web_url))
        except http.HttpFailure as failure:
            return self._failure(message, failure)
        try:
            data = answer.json()
        except ValueError:
            data = {}
        ref = data.get("messageId") if isinstance(data, dict) else None
        if ref in (None, "") or isinstance(ref, bool):
            # Accepted without an id: we cannot match its receipts; a retry may duplicate it (bounded).
            return Result.retry(message.ref, "brevo_unexpected_answer")
        log.info("brevo sms accepted", extra={"provider": self.config.label})
        return Result.sent(message.ref, provider_ref=str(ref))

    def _failure(self, message: Outgoing, failure: http.HttpFailure) -> Result:
        log.warning("brevo sms refused", extra={"provider": self.config.label, "status": failure.status})
        if failure.status == 0:
            if "ConnectError" in str(failure):  # refused: it never reached Brevo
                raise batch_refused("Brevo", "brevo_unreachable")
            # No answer (a timeout, a connection cut after the request): Brevo may have taken it. Retry,
            # marked for reconciliation, never through another account in the same round (docs/delivery.md).
            code = "brevo_timeout" if "timeout" in str(failure) else "brevo_no_answer"
            return Result(message.ref, Result.RETRY, error=code, detail={"reconcile": True})
        if failure.status in BATCH_WIDE:
            raise batch_refused("Brevo", BATCH_WIDE[failure.status])
        code = f"brevo_{failure.status}"
        return Result.retry(message.ref, code) if failure.temporary else Result.failed(message.ref, code)
