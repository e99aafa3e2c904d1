"""OVHcloud SMS: one POST /sms/{serviceName}/jobs per message, signed the OVHcloud API way.

Request. Each call carries X-Ovh-Application (application key), X-Ovh-Consumer (consumer key),
X-Ovh-Timestamp and X-Ovh-Signature = "$1$" + SHA1_HEX(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY+"+"+TSTAMP)
("First steps with the OVHcloud APIs", "Signing requests", https://docs.ovh.com/gb/en/api/first-steps-with-ovh-api/;
github.com/ovh/docs, pages/manage_and_operate/api/first-steps/guide.en-gb.md).
The timestamp is the API's own clock: GET /auth/time once per provider, the offset kept. The body
follows "Sending SMS messages with the OVHcloud API in PHP" (github.com/ovh/docs,
pages/web_cloud/messaging/sms/envoyer_des_sms_avec_lapi_ovh_en_php/guide.en-gb.md) and the "API SMS
Cookbook" (https://docs.ovh.com/fr/sms/api_sms_cookbook/): `receivers`, `message`, `sender` or
`senderForResponse` (a short number that can receive replies, France only), `coding` 7bit / 8bit,
`noStopClause`, `charset`, `class`, `priority`, `validityPeriod`.

Relance writes its own opt-out mention and keeps its own sending windows (R-22), so `noStopClause`
is true unless the account's options say otherwise: OVHcloud's mention would also hold marketing SMS
until its own hours.

Answer (the PHP guide's example): {"totalCreditsRemoved": 1, "invalidReceivers": [], "ids": [26929925],
"validReceivers": ["+3360000000"]}. A number OVHcloud refuses comes back in `invalidReceivers`, with
HTTP 200: failed for that message only. The status of other answers decides (lib/http.py's seam
gives no body on errors): 400 failed for that message (bad content or parameters); 401/403 (keys
revoked, rights missing) and 404 (unknown service name) concern every message, so they stop the batch
as a temporary ProviderError that the account's circuit counts (failover, R-29 spared); 429, 5xx and
timeouts are retried. Connection refused before anything was sent is a ProviderError (the vendor is
down for the whole batch: the worker retries and the circuit counts it); after some messages were
sent, the rest are `retry` so the accepted ones keep their OVHcloud id (no double send).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from urllib.parse import quote

from relance.lib import http
from relance.providers.base import Outgoing, Provider, Result, batch_refused, send_one_by_one
from relance.providers.kinds import AccountConfig

log = logging.getLogger("relance.providers.ovh")

DEFAULT_BASE_URL = "https://eu.api.ovh.com/1.0"
BATCH_WIDE = {401: "ovh_unauthorized", 403: "ovh_forbidden", 404: "ovh_unknown_service"}


def signature(secret: str, consumer_key: str, method: str, url: str, body: str, timestamp: int) -> str:
    """OVHcloud's request signature (see the module docstring)."""
    raw = "+".join([secret, consumer_key, method.upper(), url, body, str(timestamp)])
    # SHA-1 is the vendor's scheme, not our choice: OVHcloud verifies exactly this digest.
    return "$1$" + hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()


def job(message: Outgoing, options: dict) -> dict:
    """The body of POST /sms/{serviceName}/jobs for one message."""
    body = {"charset": "UTF-8", "class": "phoneDisplay", "coding": "8bit" if message.encoding == "UCS-2" else "7bit",
            "message": message.body, "noStopClause": bool(options.get("no_stop_clause", True)),
            "priority": options.get("priority", "high"), "receivers": [message.to],
            "validityPeriod": int(options.get("validity_minutes", 2880))}
    if options.get("sender_for_response") or not message.sender:
        body["senderForResponse"] = True
    else:
        body["sender"] = message.sender
    return body


class OvhProvider(Provider):
    name = "ovh"
    channel = "sms"

    def __init__(self, config: AccountConfig):
        self.config = config
        self.base_url = str(config.options.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self._http = None
        self._offset: int | None = None

    def open(self) -> None:
        if self._http is None:
            self._http = http.client()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send(self, batch: list[Outgoing]) -> list[Result]:
        self.open()
        return send_one_by_one(batch, self._send_one, vendor="ovh")

    def _now(self) -> int:
        """The API's clock (GET /auth/time, unsigned), fetched once: a skewed signature is refused."""
        if self._offset is None:
            try:
                answer = http.request(self._http, "GET", f"{self.base_url}/auth/time")
                self._offset = int(answer.text.strip()) - int(time.time())
            except (http.HttpFailure, ValueError):
                raise batch_refused("OVHcloud", "ovh_unreachable") from None
        return int(time.time()) + self._offset

    def _headers(self, method: str, url: str, body: str) -> dict:
        credentials = self.config.credentials
        timestamp = self._now()
        return {"Content-Type": "application/json;charset=utf-8", "Accept": "application/json",
                "X-Ovh-Application": credentials["application_key"], "X-Ovh-Consumer": credentials["consumer_key"],
                "X-Ovh-Timestamp": str(timestamp),
                "X-Ovh-Signature": signature(credentials["application_secret"], credentials["consumer_key"],
                                             method, url, body, timestamp)}

    def _send_one(self, message: Outgoing) -> Result:
        service = quote(str(self.config.credentials["service_name"]), safe="")
        url = f"{self.base_url}/sms/{service}/jobs"
        body = json.dumps(job(message, self.config.options), ensure_ascii=False, separators=(",", ":"))
        try:
            answer = http.request(self._http, "POST", url, content=body.encode("utf-8"),
                                  headers=self._headers("POST", url, body))
        except http.HttpFailure as failure:
            return self._failure(message, failure)
        return self._accepted(message, answer)

    def _failure(self, message: Outgoing, failure: http.HttpFailure) -> Result:
        log.warning("ovh job refused", extra={"provider": self.config.label, "status": failure.status})
        if failure.status == 0:
            if "ConnectError" in str(failure):  # refused: it never reached OVHcloud
                raise batch_refused("OVHcloud", "ovh_unreachable")
            # No answer (a timeout, a connection cut after the request): OVHcloud may have taken it. Retry,
            # marked for reconciliation, never through another account in the same round (docs/delivery.md).
            code = "ovh_timeout" if "timeout" in str(failure) else "ovh_no_answer"
            return Result(message.ref, Result.RETRY, error=code, detail={"reconcile": True})
        if failure.status in BATCH_WIDE:
            raise batch_refused("OVHcloud", BATCH_WIDE[failure.status])
        code = f"ovh_{failure.status}"
        return Result.retry(message.ref, code) if failure.temporary else Result.failed(message.ref, code)

    def _accepted(self, message: Outgoing, answer) -> Result:
        try:
            data = answer.json()
        except ValueError:
            data = {}
        ids = (data.get("ids") or []) if isinstance(data, dict) else []
        if ids:
            log.info("ovh job accepted", extra={"provider": self.config.label, "credits": data.get("totalCreditsRemoved")})
            return Result.sent(message.ref, provider_ref=str(ids[0]))
        if isinstance(data, dict) and data.get("invalidReceivers"):
            return Result.failed(message.ref, "ovh_invalid_receiver")
        # A 200 naming no SMS: we cannot tell whether it left; a retry may duplicate it (bounded).
        return Result.retry(message.ref, "ovh_unexpected_answer")
