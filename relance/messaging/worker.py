"""The worker: a polling loop that claims due messages and sends them (healthchecks' sendalerts).

Any number of workers may run against one PostgreSQL: a claim is `SELECT … FOR UPDATE SKIP LOCKED`
of due rows, marked `claimed` with the worker's name in the same short transaction; SQLite has one
writer at a time, so the claim is simply a transaction there. A claim older than the lease
(RELANCE_WORKER_LEASE_SECONDS) is taken back: `claimed` rows go back to the queue; `sending` rows
(the worker died between the provider call and the record) go back marked for reconciliation, so a
duplicate is possible but bounded by one batch and visible on the timeline.

SIGTERM or SIGINT: the current batch finishes, then the loop stops.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from relance.lib import housekeeping
from relance.providers.registry import provider_for
from relance.providers.routing import Router

from . import dispatch, receipts
from .models import Campaign, Message, MessageEvent

log = logging.getLogger("relance.worker")


def default_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, name: str | None = None, *, batch_size: int | None = None, provider_for=provider_for,
                 simulate_receipts: bool | None = None):
        self.name = (name or default_name())[:64]
        self.batch_size = batch_size or settings.RELANCE_WORKER_BATCH
        from .provider_events import WorkerListener

        self.router = Router(provider_for, listener=WorkerListener())
        self.simulate_receipts = simulate_receipts
        self.totals = {"claimed": 0, "sent": 0, "retry": 0, "failed": 0}

    # --- providers, opened once per worker (providers/routing.py) ---
    def close(self) -> None:
        self.router.close()

    # --- one round ---
    def run_once(self, now: datetime | None = None) -> int:
        now = now or timezone.now()
        self.take_back_stale(now)
        messages = self.claim_messages(now)
        if not messages:
            return 0
        self.process_messages(messages, now)
        return len(messages)

    def claim(self, now: datetime) -> list:
        """Claim a batch of due messages; their ids."""
        return [m.pk for m in self.claim_messages(now)]

    def claim_messages(self, now: datetime) -> list[Message]:
        """Claim a batch of due messages and return them loaded with their contact, recipient, purpose
        and template. On PostgreSQL one statement locks, marks and returns the rows (UPDATE … WHERE id IN
        (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …); elsewhere the ids are read, marked, then loaded."""
        with transaction.atomic():
            due = (Message.unscoped.filter(status=Message.Status.SCHEDULED, due_at__lte=now)
                   .exclude(campaign__status=Campaign.Status.PAUSED).order_by("due_at"))
            if connection.vendor == "postgresql":
                due = due.select_for_update(skip_locked=True, of=("self",))
                messages = dispatch.claim_returning(due.values_list("id", flat=True)[: self.batch_size], self.name,
                                                    now)
            else:
                if connection.features.has_select_for_update_skip_locked:
                    due = due.select_for_update(skip_locked=True, of=("self",))
                ids = list(due.values_list("id", flat=True)[: self.batch_size])
                if ids:
                    Message.unscoped.filter(id__in=ids).update(status=Message.Status.CLAIMED, claimed_by=self.name,
                                                               claimed_at=now)
                messages = dispatch.load_messages(ids, self.name) if ids else []
        self.totals["claimed"] += len(messages)
        return dispatch.load_related(messages)

    def process(self, ids: list, now: datetime) -> dict[str, int]:
        """Process claimed messages by id (re-read: those closed meanwhile are left out)."""
        return self.process_messages(dispatch.load_batch(ids, self.name), now)

    def process_messages(self, messages: list[Message], now: datetime) -> dict[str, int]:
        """decide again → claimed→sending gate (R-33) → render → send → record (relance/messaging/dispatch.py).
        A message closed since its claim (STOP, cancellation) fails the gate and is not sent."""
        batch = dispatch.Batch(self.name, messages, now)
        sendable = dispatch.apply_decisions(batch)
        sending = dispatch.begin_sending(sendable, batch)
        ready, unprepared = dispatch.prepare(sending, batch)
        results = unprepared + dispatch.send_all(ready, self.router)
        with transaction.atomic():
            counts = dispatch.record(results, batch)
        if self._simulates(results):
            with transaction.atomic():
                dispatch.simulate_receipts(results)
        for key, value in counts.items():
            self.totals[key] += value
        return counts

    def _simulates(self, results) -> bool:
        if self.simulate_receipts is not None:
            return self.simulate_receipts and bool(results)
        return bool(results) and any(getattr(p, "simulated_receipts", False) for p in self.router.opened.values())

    def take_back_stale(self, now: datetime) -> int:
        """Claims older than the lease belong to a worker that died: put them back in the queue."""
        limit = now - timedelta(seconds=settings.RELANCE_WORKER_LEASE_SECONDS)
        stale = list(Message.unscoped.filter(status__in=[Message.Status.CLAIMED, Message.Status.SENDING],
                                             claimed_at__lt=limit).values_list("id", "organisation_id", "status")[:1000])
        if not stale:
            return 0
        with transaction.atomic():
            for message_id, org_id, status in stale:
                if Message.unscoped.filter(pk=message_id, status=status, claimed_at__lt=limit).update(
                        status=Message.Status.SCHEDULED, claimed_by="", claimed_at=None):
                    MessageEvent.objects.create(
                        organisation_id=org_id, message_id=message_id, at=now, kind="requeued",
                        reason="worker_lost", detail={"reconcile": status == Message.Status.SENDING})
        return len(stale)

    # --- the loop ---
    def run(self, stop: threading.Event | None = None, *, idle: float | None = None) -> None:
        stop = stop or threading.Event()
        idle = settings.RELANCE_WORKER_IDLE_SECONDS if idle is None else idle
        log.info("worker started", extra={"worker": self.name})
        last_housekeeping = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() - last_housekeeping > 5:
                    self.housekeeping()
                    last_housekeeping = time.monotonic()
                try:
                    handled = self.run_once()
                except Exception:
                    log.exception("worker round failed", extra={"worker": self.name})
                    handled = 0
                    # A connection the database dropped (restart, failover) would fail every later
                    # round: close it when it no longer answers, the next round connects again.
                    close_old_connections()
                    stop.wait(idle)
                if not handled:
                    stop.wait(idle)
        finally:
            self.close()
            log.info("worker stopped", extra={"worker": self.name, **self.totals})

    def housekeeping(self) -> None:
        """Work that is not a message: SMPP binds held open for receipts and replies, running campaigns."""
        try:
            self.router.keep_bound()
        except Exception:
            log.exception("provider binds failed")
        try:
            receipts.forget_early_receipts(timezone.now())
        except Exception:
            log.exception("early receipts clean-up failed")
        try:
            from . import campaigns
        except ImportError:
            campaigns = None
        runner = getattr(campaigns, "run_campaigns", None)
        if runner is not None:
            try:
                runner(timezone.now())
            except Exception:
                log.exception("campaign round failed")
        # Jobs of other apps (daily purge, outgoing webhooks...), each at its own interval.
        housekeeping.run_due()


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM / SIGINT finish the current batch, then stop (main thread only)."""

    def handler(signum, frame):
        log.info("worker stopping", extra={"signal": signum})
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
