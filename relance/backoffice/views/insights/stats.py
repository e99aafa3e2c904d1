"""The dashboard's figures: messages per day over the last two weeks, requests and incidents that
need attention, campaigns under way (R-20, R-41, R-71, R-73).

Days are the organisation's calendar days, a message counted on the day it was created, like the
monthly compliance report: the totals come from `relance.privacy.compliance` itself (live messages
plus the anonymous statistics of purged ones, without overlap), the days from one grouped query on
each of the same two sources.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from relance.backoffice.links import page_url
from relance.messaging.models import Campaign, InboundMessage, Message
from relance.privacy import breaches, compliance
from relance.privacy.models import Breach, MessageStat, RightsRequest

from .labels import reason_label

DAYS = 14
SOON = timedelta(days=7)
SENT = tuple(str(s) for s in compliance.SENT)  # handed to a provider: sent, delivered or failed



@dataclass
class Window:
    zone: ZoneInfo
    days: list[date]
    start: datetime  # the first day's midnight, in the organisation's zone
    end: datetime  # the midnight after today


def window(org, now: datetime, days: int = DAYS) -> Window:
    zone = ZoneInfo(org.time_zone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    return Window(zone, [first + timedelta(days=n) for n in range(days)],
                  datetime.combine(first, time(0), tzinfo=zone),
                  datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone))


# --- messages per day ----------------------------------------------------------------------------
def _per_day(org, win: Window) -> tuple[dict[str, Counter], dict[str, Counter]]:
    """({metric: Counter(day → n)}, {reason: Counter(day → n)}): live rows plus purged statistics."""
    metrics: dict[str, Counter] = defaultdict(Counter)
    reasons: dict[str, Counter] = defaultdict(Counter)
    live = (Message.objects.for_org(org).filter(created_at__gte=win.start, created_at__lt=win.end)
            .annotate(day=TruncDate("created_at", tzinfo=win.zone)).values("day", "status", "reason")
            .annotate(n=Count("pk")).order_by())
    purged = (MessageStat.objects.for_org(org).filter(day__gte=win.days[0], day__lte=win.days[-1])
              .values("day", "status", "reason").annotate(n=Sum("count")).order_by())
    for row in [*live, *purged]:
        _count(metrics, reasons, row["day"], row["status"], row["reason"], row["n"] or 0)
    stops = (InboundMessage.objects.for_org(org)
             .filter(action=InboundMessage.Action.STOP, received_at__gte=win.start, received_at__lt=win.end)
             .annotate(day=TruncDate("received_at", tzinfo=win.zone)).values("day").annotate(n=Count("pk"))
             .order_by())
    for row in stops:
        metrics["stops"][row["day"]] += row["n"]
    return metrics, reasons


def _count(metrics, reasons, day, status, reason, n) -> None:
    if status in SENT:
        metrics["sent"][day] += n
    if status in (Message.Status.DELIVERED, Message.Status.FAILED, Message.Status.SUPPRESSED):
        metrics[status][day] += n
    if status == Message.Status.SUPPRESSED:
        reasons[reason or "unknown"][day] += n


CHARTS = [  # (metric, title, bar colour: AA contrast on white)
    ("sent", _("Messages sent"), "#0b5cad"),
    ("delivered", _("Messages delivered"), "#17602a"),
    ("failed", _("Messages not delivered"), "#a4161a"),
    ("suppressed", _("Messages not sent (rules)"), "#7a4b00"),
    ("stops", _("STOP replies"), "#4a5560"),
]
WIDTH, HEIGHT, STEP, BAR, TOP, BASE = 436, 150, 30, 22, 18, 118


def chart(metric: str, title, colour: str, days: list[date], values: Counter, total: int) -> dict:
    """One bar chart's geometry (inline SVG drawn by the template) and its numbers."""
    peak = max([values[d] for d in days] + [1])
    bars = []
    for n, day in enumerate(days):
        value = values[day]
        height = round((BASE - TOP) * value / peak)
        if value and height < 2:
            height = 2
        x = 8 + n * STEP
        bars.append({"day": day, "value": value, "x": x, "y": BASE - height, "height": height,
                     "centre": x + BAR // 2, "label_y": BASE - height - 4})
    return {"id": f"chart-{metric}", "metric": metric, "title": title, "colour": colour, "bars": bars,
            "total": total, "peak": peak, "width": WIDTH, "height": HEIGHT, "bar": BAR, "base": BASE,
            "day_y": BASE + 16}


def message_charts(org, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    win = window(org, now)
    metrics, reasons = _per_day(org, win)
    totals = compliance.messages_part(org, win.start, win.end)
    totals["stops"] = compliance.inbound_part(org, win.start, win.end)["stops"]
    charts = [chart(metric, title, colour, win.days, metrics[metric], totals[metric])
              for metric, title, colour in CHARTS]
    by_reason = [{"code": code, "label": reason_label(code), "total": count,
                  "days": [reasons[code][d] for d in win.days]}
                 for code, count in sorted(totals["suppressed_by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))]
    return {"charts": charts, "totals": totals, "by_reason": by_reason, "days": win.days,
            "first": win.days[0], "last": win.days[-1], "time_zone": org.time_zone}


# --- what needs attention ------------------------------------------------------------------------
def requests_due(org, now: datetime | None = None, limit: int = 20, role: str | None = None) -> list[dict]:
    """Open rights requests due within 7 days or already late (R-41), soonest first."""
    now = now or timezone.now()
    rows = (RightsRequest.objects.for_org(org).filter(status__in=RightsRequest.OPEN, due_at__lt=now + SOON)
            .order_by("due_at")[:limit])
    return [{"request": r, "late": r.due_at < now,
             "url": page_url("backoffice:request_detail", role=role, rightsrequest_id=r.pk)} for r in rows]


def open_breaches(org, now: datetime | None = None, role: str | None = None) -> list[dict]:
    """Incidents not closed, with the notification clock (72 h, or 24 h for e-communications, R-71)."""
    now = now or timezone.now()
    rows = Breach.objects.for_org(org).exclude(status=Breach.Status.CLOSED).select_related("organisation")
    items = []
    for breach in rows.order_by("aware_at"):
        clock = breaches.clock(breach, now)
        hours = clock["hours_left"]
        items.append({"breach": breach, **clock, "hours_late": round(-hours, 1) if hours < 0 else 0,
                      "window": 24 if breach.organisation.electronic_communications_provider else 72,
                      "url": page_url("backoffice:breach_detail", role=role, breach_id=breach.pk)})
    return items


def running_campaigns(org) -> list[dict]:
    """Campaigns running or paused, with how many of their messages went out."""
    campaigns = list(Campaign.objects.for_org(org).filter(status__in=[Campaign.Status.RUNNING, Campaign.Status.PAUSED])
                     .select_related("purpose").order_by("-started_at", "-pk"))
    counts: dict[int, Counter] = defaultdict(Counter)
    if campaigns:
        rows = (Message.objects.for_org(org).filter(campaign__in=campaigns).values("campaign_id", "status")
                .annotate(n=Count("pk")).order_by())
        for row in rows:
            counts[row["campaign_id"]][row["status"]] += row["n"]
    items = []
    for campaign in campaigns:
        done = counts[campaign.pk]
        sent = sum(done[s] for s in SENT)
        items.append({"campaign": campaign, "sent": sent, "not_sent": done[Message.Status.SUPPRESSED],
                      "queued": sum(done[s] for s in (Message.Status.SCHEDULED, Message.Status.CLAIMED)),
                      "audience": max(campaign.audience, sent),
                      "url": page_url("backoffice:campaign_detail", campaign_id=campaign.pk)})
    return items
