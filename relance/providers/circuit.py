"""Failover (issue 5 §5): an account that keeps failing is opened as a circuit and takes no traffic.

closed ──(RELANCE_CIRCUIT_FAILURES consecutive failed batches)──▶ open ──(RELANCE_CIRCUIT_OPEN_SECONDS)──▶
half_open: the next batch is a probe ──success──▶ closed / ──failure──▶ open again.

A failure is a batch the account could not take at all (a ProviderError, or every message answered
"retry"); a message refused for itself (an invalid number) says nothing about the account. The state
lives on the ProviderAccount row, so every worker on every machine sees the same circuit; each
transition is made under a row lock and recorded as an audit event (`provider.circuit_opened`,
`provider.circuit_probe`, `provider.circuit_closed`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from relance.audit import services as audit
from relance.audit.services import Actor

from .models import ProviderAccount

log = logging.getLogger("relance.providers")
ACTOR = Actor.system("circuit")
Circuit = ProviderAccount.Circuit


def _locked(account: ProviderAccount) -> ProviderAccount:
    return ProviderAccount.unscoped.select_for_update().get(pk=account.pk)


def _switch(row: ProviderAccount, state: str, now: datetime, action: str, **details) -> None:
    previous = row.circuit
    row.circuit = state
    row.opened_at = now if state == Circuit.OPEN else row.opened_at
    row.save(update_fields=["circuit", "opened_at", "failures", "last_error", "last_success_at", "updated_at"])
    audit.record(row.organisation, ACTOR, action, target=row,
                 details={"kind": row.kind, "from": previous, "to": state, **details})
    log.warning("provider circuit %s", state, extra={"provider": row.label, "from": previous})


def allows(account: ProviderAccount, now: datetime | None = None) -> bool:
    """Whether this account may take a batch now (moving an open circuit to its probe when due)."""
    if account.circuit != Circuit.OPEN:
        return True
    now = now or timezone.now()
    if account.opened_at and now - account.opened_at < timedelta(seconds=settings.RELANCE_CIRCUIT_OPEN_SECONDS):
        return False
    with transaction.atomic():
        row = _locked(account)
        if row.circuit == Circuit.OPEN:
            _switch(row, Circuit.HALF_OPEN, now, "provider.circuit_probe")
    account.circuit = row.circuit
    return row.circuit != Circuit.OPEN


def record_success(account: ProviderAccount, now: datetime | None = None) -> None:
    if account.circuit == Circuit.CLOSED and not account.failures:
        return  # the common case costs no write
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(account)
        row.failures, row.last_success_at = 0, now
        if row.circuit != Circuit.CLOSED:
            _switch(row, Circuit.CLOSED, now, "provider.circuit_closed")
        else:
            row.save(update_fields=["failures", "last_success_at", "updated_at"])
    account.circuit, account.failures = row.circuit, 0


def record_failure(account: ProviderAccount, error: str, now: datetime | None = None) -> bool:
    """Count a failed batch; True when this failure opened the circuit."""
    now = now or timezone.now()
    with transaction.atomic():
        row = _locked(account)
        row.failures += 1
        row.last_error = (error or "error")[:64]
        opens = row.circuit == Circuit.HALF_OPEN or (
            row.circuit == Circuit.CLOSED and row.failures >= settings.RELANCE_CIRCUIT_FAILURES)
        if opens:
            _switch(row, Circuit.OPEN, now, "provider.circuit_opened", failures=row.failures, error=row.last_error)
        else:
            row.save(update_fields=["failures", "last_error", "updated_at"])
    account.circuit, account.failures, account.opened_at = row.circuit, row.failures, row.opened_at
    return opens
