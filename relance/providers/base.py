"""What every provider looks like (the shape of Django's e-mail backends).

`open()` prepares a connection (an SMPP bind, an HTTP session), `close()` releases it, and
`send(batch)` takes `Outgoing` messages and returns one `Result` per message, in order. A provider
never imports messaging or consent: it receives plain values and returns plain values. A failure
that concerns the whole batch (connection refused, vendor down) is raised as `ProviderError`;
`permanent` says whether retrying can help.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime

_log = logging.getLogger("relance.providers")


class ProviderError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.code = code


@dataclass(frozen=True)
class Outgoing:
    """One message ready to leave: `ref` is our message id, echoed in the result."""

    ref: str
    channel: str  # "sms" or "email"
    to: str  # E.164 number or e-mail address
    body: str
    sender: str = ""
    subject: str = ""
    encoding: str = "GSM-7"
    segments: int = 1
    valid_until: datetime | None = None  # never handed to a provider after this


@dataclass(frozen=True)
class Result:
    ref: str
    status: str  # SENT, FAILED or RETRY
    provider_ref: str = ""
    error: str = ""  # a code or short reason, never the message text
    detail: dict = field(default_factory=dict)

    SENT = "sent"
    FAILED = "failed"  # permanent: counts towards R-29
    RETRY = "retry"  # temporary: the worker tries again later

    @classmethod
    def sent(cls, ref: str, provider_ref: str = "") -> Result:
        return cls(ref, cls.SENT, provider_ref)

    @classmethod
    def failed(cls, ref: str, error: str) -> Result:
        return cls(ref, cls.FAILED, error=error)

    @classmethod
    def retry(cls, ref: str, error: str) -> Result:
        return cls(ref, cls.RETRY, error=error)


@dataclass(frozen=True)
class Receipt:
    """A delivery report: the provider's reference and the new status (delivered, failed, expired...)."""

    provider_ref: str
    status: str  # "delivered", "failed" (permanent), "undeliverable_temporary", "accepted"
    error: str = ""
    permanent: bool = False


@dataclass(frozen=True)
class Inbound:
    """A message from a person: who (E.164), to which of our senders, and the text."""

    sender: str
    to: str
    text: str
    provider_ref: str = ""


@dataclass(frozen=True)
class WebhookRequest:
    """What a vendor sent to one of our webhooks, as plain values (pure parsers take this).

    `url` is the absolute URL the vendor called (Twilio signs it), `headers` have lower-case names,
    `form` is the parsed form body (empty for JSON), `query` the parsed query string.
    """

    method: str
    url: str
    headers: dict
    body: bytes = b""
    form: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)

    def json(self):
        import json

        try:
            return json.loads(self.body or b"null")
        except RecursionError:  # a 10,000-level nesting: malformed (400), not a 500
            raise ValueError("JSON nested too deeply") from None


@dataclass(frozen=True)
class WebhookReply:
    """What the webhook answers a vendor (Twilio wants TwiML, others an empty 200)."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"


class Listener:
    """Where a provider with its own connection (SMPP) hands what comes back on it. The worker sets
    one before `open()`; each call returns once the item is durably applied, and only then may the
    provider acknowledge it (deliver_sm_resp): a STOP acknowledged is a STOP in effect (R-33)."""

    def receipts(self, provider: str, receipts: list[Receipt]) -> None:  # noqa: B027 - default: ignore
        """Apply delivery receipts."""

    def inbound(self, provider: str, message: Inbound) -> None:  # noqa: B027 - default: ignore
        """Apply one message from a person (STOP, START, INFO...)."""


class Provider(ABC):
    name = "base"
    channel = "sms"
    listener: Listener = Listener()

    def open(self) -> None:  # noqa: B027 - optional hook, like Django e-mail backends
        """Prepare a connection; called once before a run of batches."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""

    @abstractmethod
    def send(self, batch: list[Outgoing]) -> list[Result]:
        """One Result per Outgoing, in order; raise ProviderError for a batch-wide failure."""

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()


def batch_refused(vendor: str, code: str) -> ProviderError:
    """The vendor refuses every message of this account for now (credentials, credit, unreachable)."""
    return ProviderError(f"{vendor} refused the batch ({code})", permanent=False, code=code)


def send_one_by_one(batch: list[Outgoing], send_one, *, vendor: str) -> list[Result]:
    """For HTTP vendors called once per message: a batch-wide refusal (bad credentials, no credit,
    vendor unreachable) raised as ProviderError on the first message fails the batch (the router
    counts it and fails over); raised later, what was accepted stays sent and the rest is retried,
    so nothing is lost and nothing goes twice. A message left unanswered (a timeout: `reconcile`)
    stops the batch too: calling a silent vendor for each of the others would hold the round one
    timeout per message; they never left, so they are deferred (no attempt spent, free to fail over)."""
    results: list[Result] = []
    for index, out in enumerate(batch):
        if out.valid_until is not None and datetime.now(UTC) >= out.valid_until:
            # Its validity ended while the batch was on its way: not sent; deferred, the next
            # decision closes it as expired.
            results.append(Result(out.ref, Result.RETRY, error="expired", detail={"deferred": True, "expired": True}))
            continue
        try:
            result = send_one(out)
        except ProviderError as exc:
            if not results:
                raise
            _log.warning("provider batch stopped", extra={"provider": vendor, "code": exc.code, "kept": index,
                                                          "count": len(batch)})
            results += [Result.retry(rest.ref, exc.code) for rest in batch[index:]]
            break
        results.append(result)
        if result.detail.get("reconcile") and index + 1 < len(batch):
            _log.warning("provider batch stopped", extra={"provider": vendor, "code": result.error,
                                                          "kept": index + 1, "count": len(batch)})
            results += [Result(rest.ref, Result.RETRY, error=result.error, detail={"deferred": True})
                        for rest in batch[index + 1:]]
            break
    return results
