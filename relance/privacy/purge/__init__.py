"""The retention purge (R-50, R-51): per organisation and category, in batches, each batch its own
short transaction (a long purge never holds locks for long), writing a `PurgeReport`.

`run_purge()` purges one organisation (or counts, `dry_run=True`); `purge_all()` every organisation;
`scheduled_purge()` is the worker's daily job: at most one scheduled purge per organisation and
calendar day (in the organisation's time zone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.utils import timezone

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor

from .. import retention
from ..models import DataCategory, PurgeReport
from . import messages, rows

log = logging.getLogger("relance.privacy.purge")
Progress = Callable[[str, int], None]  # (category, rows so far)
C = DataCategory
# Order matters: messages go before the contacts they belong to, contacts before their ledger rows
# (an erased contact's proofs become removable), the audit chain last (the run adds to it).
ORDER = (C.MESSAGE_METADATA, C.MESSAGE_CONTENT, C.INBOUND_MESSAGES, C.EXPORTS, C.DECEASED_CONTACTS,
         C.INACTIVE_CONTACTS, C.CONSENT_PROOFS, C.AUDIT_EVENTS)
TIMELINE = "message_events"  # extra key of `counts`: the timeline rows deleted with the messages


@dataclass
class Run:
    org: Organisation
    actor: Actor
    dry_run: bool
    batch: int
    progress: Progress | None
    counts: dict = field(default_factory=dict)
    stats_rows: int = 0

    def add(self, key: str, rows: int) -> None:
        self.counts[key] = self.counts.get(key, 0) + rows
        if self.progress and key != TIMELINE:
            self.progress(key, self.counts[key])


def _repeat(run: Run, key: str, one_batch: Callable[[], int]) -> None:
    """Run batches until one comes back short."""
    while True:
        done = one_batch()
        run.add(key, done)
        if done < run.batch:
            return


def _message_metadata(run: Run, cutoff: datetime, contact_ids=None) -> int:
    messages_deleted, timeline, stats = messages.delete_batch(run.org, cutoff, run.batch, contact_ids)
    run.add(TIMELINE, timeline)
    run.stats_rows += stats
    return messages_deleted


def _contacts(run: Run, category: str, queryset, now: datetime) -> None:
    if run.dry_run:
        run.add(category, queryset.count())
        return

    def fold(ids):  # their messages, finished or not too recent, counted before the erasure deletes them
        while True:
            done = _message_metadata(run, now, ids)
            run.add(C.MESSAGE_METADATA, done)
            if done < run.batch:
                return

    while True:
        selected, erased = rows.erase_batch(run.org, queryset, run.batch, run.actor, fold)
        run.add(category, erased)
        if selected < run.batch or not erased:
            return


def _purge(run: Run, category: str, cutoff: datetime, now: datetime) -> None:
    org, batch, dry = run.org, run.batch, run.dry_run
    if category == C.MESSAGE_METADATA:
        if dry:
            run.add(TIMELINE, messages.timeline_count(org, cutoff))
            return run.add(category, messages.finished(org, cutoff).count())
        return _repeat(run, category, lambda: _message_metadata(run, cutoff))
    if category == C.MESSAGE_CONTENT:
        if dry:
            return run.add(category, messages.with_content(org, cutoff).count())
        return _repeat(run, category, lambda: messages.clear_content_batch(org, cutoff, batch))
    if category in (C.INBOUND_MESSAGES, C.EXPORTS):
        queryset = (rows.inbound if category == C.INBOUND_MESSAGES else rows.exports)(org, cutoff)
        if dry:
            return run.add(category, queryset.count())
        return _repeat(run, category, lambda: rows.delete_rows(queryset, batch))
    if category in (C.INACTIVE_CONTACTS, C.DECEASED_CONTACTS):
        select = rows.inactive_contacts if category == C.INACTIVE_CONTACTS else rows.deceased_contacts
        return _contacts(run, category, select(org, cutoff), now)
    counter, trimmer = ((rows.count_ledger, rows.trim_ledger) if category == C.CONSENT_PROOFS
                        else (rows.count_audit, rows.trim_audit))
    if dry:
        return run.add(category, counter(org, cutoff, batch))
    return _repeat(run, category, lambda: trimmer(org, cutoff, batch))


def _chosen(categories) -> list[str]:
    if not categories:
        return list(ORDER)
    unknown = set(categories) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown retention categories: {', '.join(sorted(unknown))}")
    return [category for category in ORDER if category in categories]


def run_purge(org: Organisation, *, actor: Actor, trigger: str, dry_run: bool = False, now: datetime | None = None,
              categories=None, batch: int = 10_000, progress: Progress | None = None,
              report: PurgeReport | None = None) -> PurgeReport:
    """Purge (or count, `dry_run`) one organisation's data past its retention; returns the report."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    now = now or timezone.now()
    chosen = _chosen(categories)
    policies = retention.policies_for(org)
    report = report or PurgeReport(organisation=org, trigger=trigger, dry_run=dry_run, started_at=timezone.now())
    report.policies = {c: {"days": p.days, "preset": p.preset, "default": p.is_default,
                           "cutoff": p.cutoff(now).isoformat()} for c, p in policies.items() if c in chosen}
    run = Run(org, actor, dry_run, batch, progress)
    try:
        for category in chosen:
            run.counts.setdefault(category, 0)
            _purge(run, category, policies[category].cutoff(now), now)
    except Exception as exc:
        report.error = f"{category}: {type(exc).__name__}"[:200]
        _finish(report, run, actor)
        raise
    return _finish(report, run, actor)


@transaction.atomic
def _finish(report: PurgeReport, run: Run, actor: Actor) -> PurgeReport:
    report.counts, report.stats_rows, report.finished_at = run.counts, run.stats_rows, timezone.now()
    report.save()
    audit.record(run.org, actor, "privacy.purge_run", target=report, details={
        "trigger": report.trigger, "dry_run": report.dry_run, "counts": run.counts, "stats_rows": run.stats_rows,
        "error": report.error})
    return report


def purge_all(*, actor: Actor, trigger: str, dry_run: bool = False, now: datetime | None = None, categories=None,
              batch: int = 10_000, progress: Callable[[Organisation, str, int], None] | None = None,
              organisations=None) -> list[PurgeReport]:
    """Every organisation (or the given ones), one report each."""
    reports = []
    for org in organisations if organisations is not None else Organisation.objects.order_by("pk"):
        step = (lambda category, n, org=org: progress(org, category, n)) if progress else None
        reports.append(run_purge(org, actor=actor, trigger=trigger, dry_run=dry_run, now=now, categories=categories,
                                 batch=batch, progress=step))
    return reports


def _claim_today(org: Organisation, now: datetime) -> PurgeReport | None:
    """The day's scheduled report, created under a lock on the organisation so that two workers never
    both start it; None when today's scheduled purge already ran (or runs)."""
    with transaction.atomic():
        Organisation.objects.select_for_update().filter(pk=org.pk).first()
        local = now.astimezone(ZoneInfo(org.time_zone))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if PurgeReport.objects.for_org(org).filter(trigger=PurgeReport.Trigger.SCHEDULE, dry_run=False,
                                                   started_at__gte=midnight).exists():
            return None
        return PurgeReport.objects.create(organisation=org, trigger=PurgeReport.Trigger.SCHEDULE, started_at=now)


def scheduled_purge(now: datetime | None = None) -> list[PurgeReport]:
    """The worker's daily job: purge each organisation at most once per calendar day. A failing
    organisation is logged (ids only) and the others still run."""
    actor, reports = Actor.system("retention"), []
    for org in Organisation.objects.order_by("pk"):
        report = _claim_today(org, now or timezone.now())
        if report is None:
            continue
        try:
            reports.append(run_purge(org, actor=actor, trigger=PurgeReport.Trigger.SCHEDULE, report=report))
        except Exception:
            log.exception("scheduled purge failed", extra={"organisation": org.pk, "report": str(report.pk)})
    return reports
