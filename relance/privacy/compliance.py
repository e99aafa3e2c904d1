"""The monthly compliance report of an organisation (R-73).

One calendar month in the organisation's time zone: messages sent, delivered and failed (live rows
plus the anonymous statistics of purged ones: `MessageStat` holds only what retention deleted, on
the same day in the same zone, so the two add up without overlap), messages not sent by reason,
STOP replies, rights requests received and answered on time or late, purges, incidents and the DPIA
status of health purposes (R-72). Counts and codes only: no personal data.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from relance.accounts.models import Organisation
from relance.audit import services as audit
from relance.audit.services import Actor
from relance.consent.models import Purpose
from relance.messaging.models import InboundMessage, Message

from . import breaches
from .documents import Document, Section, Table, to_html, to_pdf
from .models import Breach, MessageStat, PurgeReport, RightsRequest

SENT = (Message.Status.SENT, Message.Status.DELIVERED, Message.Status.FAILED)  # handed to a provider
PENDING = (Message.Status.SCHEDULED, Message.Status.CLAIMED, Message.Status.SENDING)
ANSWERED = (RightsRequest.Status.COMPLETED, RightsRequest.Status.REFUSED)


def parse_month(text: str) -> tuple[int, int]:
    """'2026-10' → (2026, 10); a ValidationError that says the expected form otherwise."""
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationError({"month": [_("Give the month as YYYY-MM, e.g. 2026-10.")]}) from None
    return year, month


def month_bounds(org: Organisation, year: int, month: int) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's, in the organisation's time zone."""
    try:
        first = date(year, month, 1)
    except ValueError:
        raise ValidationError({"month": [_("Give a month between 1 and 12.")]}) from None
    following = date(year + month // 12, month % 12 + 1, 1)
    zone = ZoneInfo(org.time_zone)
    return (datetime(first.year, first.month, 1, tzinfo=zone),
            datetime(following.year, following.month, 1, tzinfo=zone))


# --- the parts ---------------------------------------------------------------------------------
def _message_counts(org, start, end) -> tuple[Counter, Counter, Counter]:
    """(messages by status, segments by status, suppressed by reason), live rows + purged statistics."""
    by_status, segments, reasons = Counter(), Counter(), Counter()
    live = Message.objects.for_org(org).filter(created_at__gte=start, created_at__lt=end)
    for row in live.values("status").annotate(n=Count("pk"), seg=Sum("segments")):
        by_status[row["status"]] += row["n"]
        segments[row["status"]] += row["seg"] or 0
    for row in live.filter(status=Message.Status.SUPPRESSED).values("reason").annotate(n=Count("pk")):
        reasons[row["reason"] or "unknown"] += row["n"]
    stats = MessageStat.objects.for_org(org).filter(day__gte=start.date(), day__lt=end.date())
    for row in stats.values("status").annotate(n=Sum("count"), seg=Sum("segments")):
        by_status[row["status"]] += row["n"] or 0
        segments[row["status"]] += row["seg"] or 0
    for row in stats.filter(status=Message.Status.SUPPRESSED).values("reason").annotate(n=Sum("count")):
        reasons[row["reason"] or "unknown"] += row["n"] or 0
    return by_status, segments, reasons


def messages_part(org, start, end) -> dict:
    by_status, segments, reasons = _message_counts(org, start, end)
    return {
        "sent": sum(by_status[s] for s in SENT), "delivered": by_status[Message.Status.DELIVERED],
        "failed": by_status[Message.Status.FAILED], "suppressed": by_status[Message.Status.SUPPRESSED],
        "expired": by_status[Message.Status.EXPIRED], "cancelled": by_status[Message.Status.CANCELLED],
        "pending": sum(by_status[s] for s in PENDING), "segments": sum(segments[s] for s in SENT),
        "suppressed_by_reason": dict(sorted(reasons.items())),
    }


def inbound_part(org, start, end) -> dict:
    rows = InboundMessage.objects.for_org(org).filter(received_at__gte=start, received_at__lt=end)
    counts = dict(rows.values_list("action").annotate(n=Count("pk")))
    return {"stops": counts.get(InboundMessage.Action.STOP, 0), "starts": counts.get(InboundMessage.Action.START, 0),
            "info": counts.get(InboundMessage.Action.INFO, 0)}


def requests_part(org, start, end) -> dict:
    rows = RightsRequest.objects.for_org(org)
    received = rows.filter(received_at__gte=start, received_at__lt=end)
    answered = list(rows.filter(status__in=ANSWERED, completed_at__gte=start, completed_at__lt=end)
                    .values_list("completed_at", "due_at"))
    open_at_end = rows.filter(received_at__lt=end).exclude(completed_at__lt=end).exclude(
        status__in=ANSWERED, completed_at__isnull=True)
    return {
        "received": received.count(),
        "received_by_kind": dict(sorted(received.values_list("kind").annotate(n=Count("pk")))),
        "answered": len(answered),
        "answered_on_time": sum(1 for done, due in answered if done <= due),
        "answered_late": sum(1 for done, due in answered if done > due),
        "refused": rows.filter(status=RightsRequest.Status.REFUSED, completed_at__gte=start,
                               completed_at__lt=end).count(),
        "extended": received.filter(extended_at__isnull=False).count(),
        "open_at_end": open_at_end.count(),
        "overdue_at_end": open_at_end.filter(due_at__lt=end).count(),
    }


def purges_part(org, start, end) -> dict:
    reports = list(PurgeReport.objects.for_org(org).filter(dry_run=False, started_at__gte=start, started_at__lt=end))
    removed = Counter()
    for report in reports:
        removed.update({key: value for key, value in (report.counts or {}).items() if isinstance(value, int)})
    return {"runs": len(reports), "failed_runs": sum(1 for r in reports if r.error),
            "removed": dict(sorted(removed.items())), "stats_rows": sum(r.stats_rows for r in reports)}


def incidents_part(org, start, end, now) -> dict:
    rows = Breach.objects.for_org(org).filter(aware_at__gte=start, aware_at__lt=end).order_by("aware_at")
    items = [{"reference": b.reference, "kinds": list(b.kinds or []), "risk": b.risk, "status": b.status,
              "aware_at": b.aware_at.isoformat(), "deadline": breaches.deadline_of(b).isoformat(),
              "notified_at": b.notified_at.isoformat() if b.notified_at else None,
              "needs_notification": breaches.needs_notification(b), "late": breaches.is_late(b, now),
              "subjects_notified": b.subjects_notified_at is not None} for b in rows]
    still_open = Breach.objects.for_org(org).filter(aware_at__lt=end).exclude(status=Breach.Status.CLOSED).count()
    return {"count": len(items), "notified": sum(1 for i in items if i["notified_at"]),
            "late": sum(1 for i in items if i["late"]), "open": still_open, "items": items}


def dpia_part(org) -> list[dict]:
    """Every health purpose (R-72): its DPIA reference or why none is needed, and whether it is active."""
    purposes = Purpose.objects.for_org(org).exclude(status=Purpose.Status.RETIRED).order_by("code")
    return [{"purpose_code": p.code, "status": p.status, "dpia_ref": p.dpia_ref,
             "not_needed_reason": p.dpia_not_needed_reason, "ok": bool(p.dpia_ref or p.dpia_not_needed_reason)}
            for p in purposes if p.involves_health_data]


# --- the report --------------------------------------------------------------------------------
def monthly_report(org: Organisation, year: int, month: int, *, language: str = "fr", now=None) -> dict:
    """The R-73 report for one month, as plain JSON values."""
    start, end = month_bounds(org, year, month)
    now = now or timezone.now()
    return {
        "report": "compliance", "organisation": org.slug, "organisation_name": org.name, "language": language,
        "month": f"{year:04d}-{month:02d}",
        "time_zone": org.time_zone, "from": start.isoformat(), "to": end.isoformat(),
        "generated_at": now.isoformat(), "complete": now >= end,
        "messages": messages_part(org, start, end), "replies": inbound_part(org, start, end),
        "requests": requests_part(org, start, end), "purges": purges_part(org, start, end),
        "incidents": incidents_part(org, start, end, now), "dpia": dpia_part(org),
    }


@transaction.atomic
def generate_monthly_report(org: Organisation, year: int, month: int, *, actor: Actor, language: str = "fr",
                            fmt: str = "json") -> dict:
    report = monthly_report(org, year, month, language=language)
    audit.record(org, actor, "privacy.compliance_report_generated", target=org,
                 details={"month": report["month"], "format": fmt, "language": language})
    return report



# --- the readable document ---------------------------------------------------------------------
def _pairs(items: dict) -> Table:
    return Table([_("Code"), _("Count")], [[key, str(value)] for key, value in items.items()])


def _messages_section(part: dict) -> Section:
    fields = [(_("Sent (handed to a provider)"), part["sent"]), (_("Delivered"), part["delivered"]),
              (_("Failed"), part["failed"]), (_("Not sent (rule)"), part["suppressed"]),
              (_("Expired"), part["expired"]), (_("Cancelled"), part["cancelled"]),
              (_("Still pending"), part["pending"]), (_("Segments sent"), part["segments"])]
    reasons = Section(_("Not sent, by reason"), table=_pairs(part["suppressed_by_reason"]),
                      empty_text=_("No message was held back."))
    return Section(_("Messages"), fields=[(label, str(value)) for label, value in fields], subsections=[reasons])


def _requests_section(part: dict) -> Section:
    fields = [(_("Received"), part["received"]), (_("Answered"), part["answered"]),
              (_("Answered on time"), part["answered_on_time"]), (_("Answered late"), part["answered_late"]),
              (_("Refused (with reasons)"), part["refused"]), (_("Extended (person told)"), part["extended"]),
              (_("Open at the end of the month"), part["open_at_end"]),
              (_("Overdue at the end of the month"), part["overdue_at_end"])]
    kinds = Section(_("Received, by kind"), table=_pairs(part["received_by_kind"]), empty_text=_("None."))
    return Section(_("Rights requests (Art. 12 to 22)"), fields=[(label, str(value)) for label, value in fields],
                   subsections=[kinds])


def _incidents_section(part: dict) -> Section:
    yes, no = _("Yes"), _("No")
    table = Table([_("Reference"), _("Aware"), _("Risk"), _("Status"), _("Notified"), _("Late")],
                  [[i["reference"], i["aware_at"][:16].replace("T", " "), i["risk"] or "—", i["status"],
                    (i["notified_at"] or "—")[:16].replace("T", " "), yes if i["late"] else no]
                   for i in part["items"]])
    return Section(_("Incidents (breach register, R-71)"), table=table,
                   paragraphs=[_("Incidents still open at the end of the month: %(n)d.") % {"n": part["open"]}],
                   empty_text=_("No incident."))


def report_document(report: dict) -> Document:
    with translation.override(report["language"]):
        purges = report["purges"]
        dpia = Table([_("Purpose"), _("Status"), _("DPIA reference"), _("Why no DPIA is needed")],
                     [[d["purpose_code"], d["status"], d["dpia_ref"] or "—", d["not_needed_reason"] or "—"]
                      for d in report["dpia"]])
        sections = [
            _messages_section(report["messages"]),
            Section(_("Replies"), fields=[(_("STOP (opt-out)"), str(report["replies"]["stops"])),
                                          (_("Opt-in (OUI / START)"), str(report["replies"]["starts"])),
                                          (_("Information requests"), str(report["replies"]["info"]))]),
            _requests_section(report["requests"]),
            Section(_("Retention purges"), fields=[(_("Runs"), str(purges["runs"])),
                                                   (_("Failed runs"), str(purges["failed_runs"])),
                                                   (_("Statistics rows kept"), str(purges["stats_rows"]))],
                    subsections=[Section(_("Rows removed, by category"), table=_pairs(purges["removed"]),
                                         empty_text=_("Nothing removed."))]),
            _incidents_section(report["incidents"]),
            Section(_("Data protection impact assessments (R-72)"), table=dpia,
                    empty_text=_("No purpose processes health data.")),
        ]
        if not report["complete"]:
            sections.insert(0, Section(_("Month not over"), paragraphs=[
                _("This month is not over yet: the figures are those of the generation time.")]))
        subtitle = _("%(org)s — %(month)s (time zone %(tz)s)") % {
            "org": report["organisation_name"], "month": report["month"], "tz": report["time_zone"]}
        return Document(title=_("Monthly compliance report"), language=report["language"], subtitle=subtitle,
                        sections=sections, footer=_("Counts only: this report holds no personal data"))


def render(report: dict, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(report, ensure_ascii=False, indent=2).encode()
    if fmt == "html":
        return to_html(report_document(report)).encode()
    if fmt == "pdf":
        return to_pdf(report_document(report))
    raise ValueError(f"unknown format {fmt!r}: choose json, html or pdf")
