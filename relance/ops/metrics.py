"""Prometheus metrics, computed at scrape time from the database (issue 10, item 4; docs/monitoring.md).

No metric is kept in process memory: the web process that answers /metrics cannot see the workers'
memory, and what matters (the queue, the results, the circuits) is in the database anyway. Each scrape
runs a fixed set of aggregate queries, every one bounded by an index (tests/…/test_metrics.py checks
the plans on PostgreSQL), so that a scrape stays cheap on 10,000,000 messages:

- messages by status: only those CREATED IN THE LAST HOUR (message_created_idx, one range per
  organisation); a grouped count over the whole outbox would read every row on each scrape;
- the queue (due, claimed, sending) and its oldest due message: message_due_idx (status, due_at);
- provider results and errors of the last 5 and 15 minutes: the timeline lines (sent, retry, expired,
  failed) after a boundary found by a binary search on the primary key (the timeline has no index on
  its time; its ids grow with time), hand-off latency from the messages sent in the last 5 minutes
  (message_sent_idx);
- STOP replies (inbound_action_idx), the R-34 rate over 24 h (counted only up to what decides it);
- rights requests near or past their deadline (rights_request_due_idx), the last purge per
  organisation (purge_report_started_idx), circuit states (the provider account rows).

Labels carry an organisation's slug, a provider account's label ("smpp:3"), a channel, a status or an
error code: never a name, a number, an address or a text (R-61).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

import relance

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RECENT = timedelta(hours=1)  # relance_messages counts the messages created in this window
WINDOWS = {"5m": timedelta(minutes=5), "15m": timedelta(minutes=15)}
LATENCY_WINDOW = timedelta(minutes=5)
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
RIGHTS_SOON_DAYS = 7
BOUNDARY_MARGIN = 10_000  # timeline ids searched before the boundary (lines inserted out of order)
STOP_RATE_RESOLUTION = 4  # the R-34 rate is exact from a quarter of the threshold up


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("relance")
    except Exception:  # not installed as a distribution (a checkout)
        return getattr(relance, "__version__", "unknown")


# --- the exposition format (text 0.0.4) -----------------------------------------------------------
@dataclass
class Family:
    name: str
    help: str
    type: str = "gauge"
    samples: list[tuple[dict, float]] = field(default_factory=list)

    def add(self, value, **labels) -> None:
        self.samples.append((labels, float(value)))


def _escape_label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def render(families: list[Family]) -> str:
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for labels, value in family.samples:
            text = ",".join(f'{key}="{_escape_label(val)}"' for key, val in sorted(labels.items()))
            lines.append(f"{family.name}{{{text}}} {_number(value)}" if text else f"{family.name} {_number(value)}")
    return "\n".join(lines) + "\n"


# --- collection ---------------------------------------------------------------------------------------
def collect(now: datetime | None = None) -> list[Family]:
    """Every family, from the database. Raises the database's error if it cannot be read."""
    now = now or timezone.now()
    orgs = _organisations()
    families = [
        Family("relance_up", "1 when this scrape could read the database (0 with only build_info otherwise)."),
        Family("relance_build_info", "The version of Relance answering.", samples=[({"version": _version()}, 1.0)]),
    ]
    families[0].add(1)
    families += _messages(orgs, now)
    families += _queue(orgs, now)
    families += _providers(orgs, now)
    families += _stops(orgs, now)
    families += _rights(orgs, now)
    families += _purges(orgs)
    return families


def down() -> list[Family]:
    """What a scrape says when the database cannot be read."""
    up = Family("relance_up", "1 when this scrape could read the database (0 with only build_info otherwise).")
    up.add(0)
    return [up, Family("relance_build_info", "The version of Relance answering.",
                       samples=[({"version": _version()}, 1.0)])]


def _organisations() -> dict[int, str]:
    from relance.accounts.models import Organisation

    return dict(Organisation.objects.values_list("id", "slug"))


def _messages(orgs: dict[int, str], now: datetime) -> list[Family]:
    from relance.messaging.models import Message

    family = Family("relance_messages", "Messages created in the last hour, by their current status and channel.")
    rows = (Message.unscoped.filter(organisation_id__in=list(orgs), created_at__gte=now - RECENT)
            .values("organisation_id", "channel", "status").annotate(n=Count("pk"))
            .order_by("organisation_id", "channel", "status"))
    for row in rows:
        family.add(row["n"], organisation=orgs[row["organisation_id"]], channel=row["channel"], status=row["status"])
    return [family]


def _queue(orgs: dict[int, str], now: datetime) -> list[Family]:
    from relance.messaging.models import Message

    S = Message.Status
    depth = Family("relance_queue_depth",
                   "Messages waiting in the outbox: state=due (scheduled, due now), claimed or sending.")
    for state, rows in (
        ("due", Message.unscoped.filter(status=S.SCHEDULED, due_at__lte=now)),
        ("claimed", Message.unscoped.filter(status=S.CLAIMED)),
        ("sending", Message.unscoped.filter(status=S.SENDING)),
    ):
        for row in rows.values("organisation_id", "channel").annotate(n=Count("pk")).order_by("organisation_id",
                                                                                               "channel"):
            depth.add(row["n"], organisation=orgs.get(row["organisation_id"], ""), channel=row["channel"], state=state)
    oldest = Message.unscoped.filter(status=S.SCHEDULED, due_at__lte=now).aggregate(m=Min("due_at"))["m"]
    age = Family("relance_queue_oldest_due_seconds",
                 "Seconds since the oldest scheduled message became due (0 when none is due).")
    age.add(max(0.0, (now - oldest).total_seconds()) if oldest else 0)
    lease = settings.RELANCE_WORKER_LEASE_SECONDS
    stale = Family("relance_messages_sending_stale",
                   f"Messages claimed or sending for longer than the worker lease ({lease} s): a worker died "
                   "or hangs; another worker takes them back.")
    stale.add(Message.unscoped.filter(status__in=[S.CLAIMED, S.SENDING],
                                      claimed_at__lt=now - timedelta(seconds=lease)).count())
    return [depth, age, stale]


def _providers(orgs: dict[int, str], now: datetime) -> list[Family]:
    from relance.providers.models import ProviderAccount

    circuit_open = Family("relance_provider_circuit_open", "1 when the account's circuit is open (it takes no traffic).")
    state = Family("relance_provider_circuit_state", "1 for the account's current circuit state.")
    failures = Family("relance_provider_consecutive_failures", "Batches the account failed in a row.")
    enabled = Family("relance_provider_enabled", "1 when the account is enabled.")
    success = Family("relance_provider_last_success_timestamp", "Unix time of the account's last successful batch.")
    for row in ProviderAccount.unscoped.values("pk", "kind", "channel", "organisation_id", "circuit", "failures",
                                               "enabled", "last_success_at").order_by("pk"):
        labels = {"account": f"{row['kind']}:{row['pk']}", "channel": row["channel"],
                  "organisation": orgs.get(row["organisation_id"], "") if row["organisation_id"] else ""}
        circuit_open.add(row["circuit"] == ProviderAccount.Circuit.OPEN, **labels)
        for value in ProviderAccount.Circuit.values:
            state.add(row["circuit"] == value, state=value, **labels)
        failures.add(row["failures"], **labels)
        enabled.add(row["enabled"], **labels)
        if row["last_success_at"]:
            success.add(row["last_success_at"].timestamp(), **labels)
    return [circuit_open, state, failures, enabled, success, *_results(now), *_latency(orgs, now)]


def first_event_id_since(since: datetime) -> int | None:
    """The id from which the timeline's lines are at or after `since` (ids grow with time: a binary
    search on the primary key, ~25 one-row lookups on 10,000,000 lines), minus a margin for lines
    written a little out of order; None when the timeline is empty."""
    from relance.messaging.models import MessageEvent

    events = MessageEvent.unscoped.order_by()
    bounds = events.aggregate(lo=Min("id"), hi=Max("id"))
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return None
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        at = events.filter(id__gte=mid).order_by("id").values_list("at", flat=True).first()
        if at is not None and at >= since:
            hi = mid
        else:
            lo = mid + 1
    return max(0, lo - BOUNDARY_MARGIN)


def _results(now: datetime) -> list[Family]:
    from relance.messaging.models import MessageEvent

    results = Family("relance_provider_results",
                     "Send results written by the workers in the window, per provider account: "
                     "sent, retry (temporary error), expired (R-23), failed.")
    errors = Family("relance_provider_errors",
                    "Results other than sent in the window, per provider account and error code.")
    longest = max(WINDOWS.values())
    start = first_event_id_since(now - longest)
    counts: dict[tuple, int] = defaultdict(int)
    if start is not None:
        lines = MessageEvent.unscoped.filter(id__gte=start, at__gte=now - longest, at__lte=now)
        recent = {name: Count("id", filter=Q(at__gte=now - span)) for name, span in WINDOWS.items()}
        for row in (lines.filter(kind__in=["sent", "retry", "expired"])
                    .values("kind", "reason", provider=F("detail__provider")).annotate(**recent).order_by()):
            for window in WINDOWS:
                counts[(row["provider"] or "", row["kind"], row["reason"] or "", window)] += row[window]
        # A failure's line does not name the provider: the message's last one does.
        for row in (lines.filter(kind="failed").values("reason", provider=F("message__provider"))
                    .annotate(**recent).order_by()):
            for window in WINDOWS:
                counts[(row["provider"] or "", "failed", row["reason"] or "", window)] += row[window]
    totals: dict[tuple, int] = defaultdict(int)
    for (provider, kind, reason, window), n in counts.items():
        totals[(provider, kind, window)] += n
        if kind != "sent" and n:
            errors.add(n, provider=provider, result=kind, reason=reason, window=window)
    for (provider, kind, window), n in sorted(totals.items()):
        results.add(n, provider=provider, result=kind, window=window)
    return [results, errors]


def _latency(orgs: dict[int, str], now: datetime) -> list[Family]:
    """Hand-off time: from a worker's claim to the provider's answer, for the messages sent in the last
    5 minutes (it includes rendering and waiting for the shared rate limit)."""
    from relance.messaging.models import Message

    took = ExpressionWrapper(F("sent_at") - F("claimed_at"), output_field=DurationField())
    buckets = {f"le_{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=le)))
               for i, le in enumerate(LATENCY_BUCKETS)}
    rows = (Message.unscoped.filter(organisation_id__in=list(orgs), sent_at__gte=now - LATENCY_WINDOW,
                                    sent_at__lte=now, claimed_at__isnull=False)
            .alias(took=took).values("provider")
            .annotate(n=Count("pk"), total=Sum("took"), longest=Max("took"), **buckets).order_by("provider"))
    count = Family("relance_provider_latency_count", "Messages sent in the last 5 minutes, per provider account.")
    mean = Family("relance_provider_latency_seconds_avg",
                  "Average hand-off time (claim to provider's answer) over the last 5 minutes.")
    longest = Family("relance_provider_latency_seconds_max", "Longest hand-off time over the last 5 minutes.")
    within = Family("relance_provider_latency_within",
                    "Messages of the last 5 minutes handed off within `le` seconds (cumulative).")
    for row in rows:
        provider = row["provider"] or ""
        count.add(row["n"], provider=provider)
        mean.add(_seconds(row["total"]) / row["n"] if row["n"] else 0, provider=provider)
        longest.add(_seconds(row["longest"]), provider=provider)
        for i, le in enumerate(LATENCY_BUCKETS):
            within.add(row[f"le_{i}"], provider=provider, le=_number(le))
        within.add(row["n"], provider=provider, le="+Inf")
    return [count, mean, longest, within]


def _seconds(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1e6  # SQLite hands durations back as microseconds


def _stops(orgs: dict[int, str], now: datetime) -> list[Family]:
    from relance.messaging.models import InboundMessage, SendingSettings

    replies = Family("relance_stop_replies", "STOP replies received in the window, per organisation.")
    rate = Family("relance_stop_rate_percent",
                  "R-34: distinct numbers that answered STOP over the SMS sent, last 24 h, in percent "
                  f"(exact from 1/{STOP_RATE_RESOLUTION} of the threshold up; below, an upper bound).")
    threshold = Family("relance_stop_rate_threshold_percent",
                       "R-34: the STOP rate above which the organisation's campaigns are paused.")
    thresholds = {org_id: 2.0 for org_id in orgs}  # SendingSettings' default
    for org_id, value in SendingSettings.unscoped.values_list("organisation_id", "stop_rate_threshold"):
        thresholds[org_id] = float(value)
    day = now - timedelta(hours=24)
    rows = (InboundMessage.unscoped.filter(organisation_id__in=list(orgs), action=InboundMessage.Action.STOP,
                                           received_at__gt=day, received_at__lte=now)
            .values("organisation_id")
            .annotate(hour=Count("pk", filter=Q(received_at__gt=now - timedelta(hours=1))), day=Count("pk"),
                      numbers=Count("phone_hash", distinct=True)).order_by("organisation_id"))
    seen = {row["organisation_id"]: row for row in rows}
    for org_id, slug in sorted(orgs.items(), key=lambda item: item[1]):
        row = seen.get(org_id) or {"hour": 0, "day": 0, "numbers": 0}
        replies.add(row["hour"], organisation=slug, window="1h")
        replies.add(row["day"], organisation=slug, window="24h")
        limit_pct = thresholds[org_id]
        threshold.add(limit_pct, organisation=slug)
        value = 0.0
        if row["numbers"]:
            # Counting every SMS of a day would read them all: count only as far as decides the rate.
            floor = limit_pct / STOP_RATE_RESOLUTION if limit_pct > 0 else 0.01
            cap = int(100.0 * row["numbers"] / floor) + 1
            sent = _sms_sent(org_id, now, day)[:cap].count()
            value = 100.0 * row["numbers"] / sent if sent else 0.0  # as stop_rate(): no SMS, no rate
        rate.add(value, organisation=slug)
    return [replies, rate, threshold]


def _sms_sent(org_id: int, now: datetime, since: datetime):
    """The denominator of R-34, as relance.messaging.inbound._sent() counts it."""
    from relance.messaging.models import Message

    return (Message.unscoped.filter(organisation_id=org_id, channel="sms", sent_at__gt=since, sent_at__lte=now)
            .exclude(source=Message.Source.REPLY))


def _rights(orgs: dict[int, str], now: datetime) -> list[Family]:
    from relance.privacy.models import RightsRequest

    soon = Family("relance_rights_requests_due_within_days",
                  "Open rights requests (R-41) whose deadline falls within the next `days` days.")
    overdue = Family("relance_rights_requests_overdue", "Open rights requests (R-41) past their deadline.")
    rows = (RightsRequest.unscoped.filter(organisation_id__in=list(orgs), status__in=RightsRequest.OPEN,
                                          due_at__lte=now + timedelta(days=RIGHTS_SOON_DAYS))
            .values("organisation_id")
            .annotate(late=Count("pk", filter=Q(due_at__lt=now)), soon=Count("pk", filter=Q(due_at__gte=now)))
            .order_by("organisation_id"))
    seen = {row["organisation_id"]: row for row in rows}
    for org_id, slug in sorted(orgs.items(), key=lambda item: item[1]):
        row = seen.get(org_id) or {"late": 0, "soon": 0}
        soon.add(row["soon"], organisation=slug, days=str(RIGHTS_SOON_DAYS))
        overdue.add(row["late"], organisation=slug)
    return [soon, overdue]


def _purges(orgs: dict[int, str]) -> list[Family]:
    from relance.accounts.models import Organisation
    from relance.privacy.models import PurgeReport

    last = Family("relance_purge_last_run_timestamp", "Unix time the organisation's last purge (R-50) finished.")
    failed = Family("relance_purge_last_run_failed", "1 when the organisation's last purge stopped on an error.")
    deleted = Family("relance_purge_rows_deleted", "Rows the organisation's last purge removed, per category.")
    latest = (PurgeReport.unscoped.filter(organisation_id=OuterRef("pk"), dry_run=False)
              .order_by("-started_at").values("pk")[:1])
    ids = [pk for pk in Organisation.objects.annotate(report=Subquery(latest)).values_list("report", flat=True) if pk]
    for report in PurgeReport.unscoped.filter(pk__in=ids).order_by("organisation_id"):
        slug = orgs.get(report.organisation_id, "")
        last.add((report.finished_at or report.started_at).timestamp(), organisation=slug)
        failed.add(bool(report.error), organisation=slug)
        for category, rows in sorted((report.counts or {}).items()):
            deleted.add(rows, organisation=slug, category=category)
    return [last, failed, deleted]


def metric_names(families: list[Family]) -> set[str]:
    return {family.name for family in families}
