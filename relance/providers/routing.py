"""Which account sends an organisation's batch, with failover and the shared rate limit (SPEC §5).

The accounts of a channel are the organisation's own enabled ones by priority, then the platform's.
A batch goes to the first account whose circuit takes traffic; what it cannot take at all (a
ProviderError, or every message answered "retry") is counted against its circuit and handed at once to
the next account, except messages that may already have left (`reconcile`: an SMPP window lost with
the connection), which wait for their retry rather than risk a second copy through another provider.
Rate limits: a worker takes tokens from the account's shared bucket and sends as many messages as it
got, waiting for more up to RELANCE_RATE_WAIT_SECONDS; what is left is handed back as `deferred` (it
never reached a provider, so it costs no attempt).

An organisation with no account at all uses the provider of the settings (RELANCE_SMS_PROVIDER…: the
console in the embedded default, locmem in tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from . import circuit, ratelimit
from .base import Listener, Outgoing, Provider, ProviderError, Result
from .kinds import AccountConfig, adapter
from .models import ProviderAccount

log = logging.getLogger("relance.providers")
BOUND_KINDS = ("smpp",)  # providers whose receipts and replies arrive on a connection we hold
ACCOUNTS_TTL = 5.0  # seconds an organisation's account list is cached by a worker


@dataclass
class Sent:
    """One Outgoing's answer, and who answered (the label recorded on the message)."""

    outgoing: Outgoing
    result: Result
    provider: str


def deferred(out: Outgoing, why: str) -> Result:
    return Result(out.ref, Result.RETRY, error=why, detail={"deferred": True})


def account_config(account: ProviderAccount) -> AccountConfig:
    base = f"{settings.RELANCE_PUBLIC_URL.rstrip('/')}/hooks/{account.kind}/{account.webhook_token}/"
    return AccountConfig(id=account.pk, label=account.label, kind=account.kind, channel=account.channel,
                         credentials=account.secrets(), options=dict(account.options or {}), webhook_base=base)


def accounts_for(organisation_id: int, channel: str) -> list[ProviderAccount]:
    rows = ProviderAccount.unscoped.filter(Q(organisation_id=organisation_id) | Q(organisation__isnull=True),
                                           channel=channel, enabled=True)
    return sorted(rows, key=lambda a: (a.organisation_id is None, a.priority, a.pk))


class Router:
    def __init__(self, fallback: Callable[[str], Provider], *, listener: Listener | None = None, limiter=None,
                 clock=time.monotonic, sleep=time.sleep):
        self.fallback = fallback
        self.listener = listener or Listener()
        self.limiter = limiter or ratelimit.limiter()
        self.clock, self.sleep = clock, sleep
        self.opened: dict[object, Provider] = {}  # account pk (or "default:<channel>") → open provider
        self._accounts: dict[tuple, tuple[float, list[ProviderAccount]]] = {}
        self._versions: dict[int, object] = {}

    # --- providers, opened once ---
    def _open(self, key, build: Callable[[], Provider]) -> Provider:
        if key not in self.opened:
            provider = build()
            provider.listener = self.listener
            provider.open()  # a refused bind raises ProviderError: the caller counts it
            self.opened[key] = provider
        return self.opened[key]

    def provider_of(self, account: ProviderAccount) -> Provider:
        """The account's open provider; reopened when the account was changed since (new credentials)."""
        if account.pk in self.opened and self._versions.get(account.pk) != account.updated_at:
            self.drop(account.pk)
        self._versions[account.pk] = account.updated_at
        return self._open(account.pk, lambda: adapter(account.kind).build(account_config(account)))

    def default(self, channel: str) -> Provider:
        return self._open(f"default:{channel}", lambda: self.fallback(channel))

    def drop(self, key) -> None:
        provider = self.opened.pop(key, None)
        if provider is not None:
            try:
                provider.close()
            except Exception:
                log.exception("provider close failed")

    def close(self) -> None:
        for key in list(self.opened):
            self.drop(key)

    def keep_bound(self) -> int:
        """Open every enabled SMPP account's bind, so receipts and replies (STOP) come in while there
        is nothing to send; a bind that fails counts against the account's circuit. Answers the binds up."""
        up = 0
        for account in ProviderAccount.unscoped.filter(kind__in=BOUND_KINDS, enabled=True):
            if not circuit.allows(account):
                continue
            try:
                self.provider_of(account)
                up += 1
            except ProviderError as exc:
                log.warning("provider bind failed", extra={"provider": account.label, "code": exc.code})
                circuit.record_failure(account, exc.code or "bind_failed")
        return up

    def accounts(self, organisation_id: int, channel: str) -> list[ProviderAccount]:
        key = (organisation_id, channel)
        cached = self._accounts.get(key)
        if cached is None or self.clock() - cached[0] > ACCOUNTS_TTL:
            cached = (self.clock(), accounts_for(organisation_id, channel))
            self._accounts[key] = cached
        return cached[1]

    # --- sending ---
    def send(self, organisation_id: int, channel: str, items: list[Outgoing]) -> list[Sent]:
        accounts = self.accounts(organisation_id, channel)
        if not accounts:
            return self._send_default(channel, items)
        answers: list[Sent] = []
        pending = list(items)
        for account in accounts:
            if not pending:
                break
            if not circuit.allows(account):
                continue
            done, pending = self._through(account, pending)
            answers += done
        answers += [Sent(out, deferred(out, "no_provider_available"), "") for out in pending]
        return answers

    def _send_default(self, channel: str, items: list[Outgoing]) -> list[Sent]:
        label = channel
        try:
            provider = self.default(channel)
            label = provider.name
            results = provider.send(items)
        except ProviderError as exc:
            log.warning("provider batch failed", extra={"provider": label, "permanent": exc.permanent,
                                                         "code": exc.code, "count": len(items)})
            if not exc.permanent and exc.code.endswith("_unreachable"):
                # Nothing left (the server could not be reached): no attempt spent, as when every account
                # is down; an outage of any length then costs no message (its validity still ends it, R-23).
                results = [deferred(out, exc.code) for out in items]
            else:
                make = Result.failed if exc.permanent else Result.retry
                results = [make(out.ref, exc.code or "provider_error") for out in items]
        return _pair(items, results, label)

    def _through(self, account: ProviderAccount, items: list[Outgoing]) -> tuple[list[Sent], list[Outgoing]]:
        """Send what the rate limit allows through one account; (answers, what the next account should try)."""
        answers: list[Sent] = []
        pending = list(items)
        deadline = self.clock() + settings.RELANCE_RATE_WAIT_SECONDS
        while pending:
            granted = self.limiter.take(account, len(pending))
            if granted == 0:
                if self.clock() >= deadline:
                    answers += [Sent(out, deferred(out, "rate_limited"), account.label) for out in pending]
                    return answers, []
                self.sleep(min(0.05, 1.0 / max(account.rate_per_second, 1.0)))
                continue
            chunk, pending = pending[:granted], pending[granted:]
            results, failed_batch, error = self._attempt(account, chunk)
            if failed_batch:
                opened = circuit.record_failure(account, error)
                if opened:
                    self.drop(account.pk)
                movable = [out for out, r in zip(chunk, results, strict=True) if not r.detail.get("reconcile")]
                kept = [Sent(out, r, account.label) for out, r in zip(chunk, results, strict=True)
                        if r.detail.get("reconcile")]
                return answers + kept, movable + pending
            if any(not r.detail.get("expired") for r in results):  # the account was called at all
                circuit.record_success(account)
            answers += _pair(chunk, results, account.label)
        return answers, []

    def _attempt(self, account: ProviderAccount, chunk: list[Outgoing]) -> tuple[list[Result], bool, str]:
        """(results in order, whether the account failed the whole chunk, the error code)."""
        try:
            results = self.provider_of(account).send(chunk)
        except ProviderError as exc:
            log.warning("provider batch failed", extra={"provider": account.label, "permanent": exc.permanent,
                                                         "code": exc.code, "count": len(chunk)})
            self.drop(account.pk)  # reconnect next time
            return [Result.retry(out.ref, exc.code or "provider_error") for out in chunk], True, exc.code or "provider_error"
        by_ref = {r.ref: r for r in results}
        ordered = [by_ref.get(out.ref) or Result.retry(out.ref, "no_answer") for out in chunk]
        called = [r for r in ordered if not r.detail.get("expired")]  # past validity: never handed over
        all_retry = bool(called) and all(r.status == Result.RETRY for r in called)
        return ordered, all_retry, (called[0].error if all_retry else "")


def _pair(items: list[Outgoing], results: list[Result], label: str) -> list[Sent]:
    by_ref = {r.ref: r for r in results}
    return [Sent(out, by_ref.get(out.ref) or Result.retry(out.ref, "no_answer"), label) for out in items]
