"""The monthly compliance report (R-73): one month in the organisation's time zone, live messages and
the statistics of purged ones without overlap, STOPs, rights requests on time or late, purges,
incidents, DPIA status (R-72)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from relance.audit.models import AuditEvent
from relance.consent import services as consent
from relance.consent.tests.helpers import make_purpose
from relance.messaging.models import InboundMessage, Message
from relance.messaging.tests.helpers import enqueue, informed_contact, make_template
from relance.privacy import compliance
from relance.privacy.models import Breach, MessageStat, PurgeReport, RightsRequest
from relance.testing import SYSTEM, make_org

pytestmark = pytest.mark.django_db(databases=["default", "keys"])

# October 2026 in Paris: from 2026-09-30 22:00 UTC (CEST) to 2026-10-31 23:00 UTC (CET, after the DST change).
START = datetime(2026, 9, 30, 22, 0, tzinfo=UTC)
END = datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 10, day, hour, tzinfo=UTC)


@pytest.fixture
def clinic(db_both):
    return make_org("health")


def message(org, purpose, template, created_at, status, reason="", segments=1):
    contact = informed_contact(org, purpose)
    row = enqueue(contact, purpose, template)
    Message.unscoped.filter(pk=row.pk).update(created_at=created_at, status=status, reason=reason, segments=segments)
    return row


def request(org, n, kind, received, due, status="received", completed=None, **fields):
    return RightsRequest.objects.create(organisation=org, reference=f"DR-2026-{n:05d}", kind=kind, channel="staff",
                                        received_at=received, due_at=due, status=status, completed_at=completed,
                                        created_by_kind="system", details="", **fields)


def test_it_takes_the_month_in_the_organisations_time_zone():
    org = type("Org", (), {"time_zone": "Europe/Paris"})()
    assert compliance.month_bounds(org, 2026, 10) == (START, END)
    assert compliance.month_bounds(org, 2026, 12)[1] == datetime(2026, 12, 31, 23, tzinfo=UTC)
    assert compliance.parse_month("2026-02") == (2026, 2)
    for bad in ("2026-13", "octobre", "2026"):
        with pytest.raises(ValidationError):
            compliance.parse_month(bad)


def test_it_counts_live_messages_and_purged_statistics_without_overlap_r73(clinic):
    purpose = make_purpose(clinic, code="rdv")
    template = make_template(purpose)
    message(clinic, purpose, template, START + timedelta(minutes=30), "delivered", segments=2)  # 1 Oct, 00:30 Paris
    message(clinic, purpose, template, at(10), "failed", reason="invalid_number")
    message(clinic, purpose, template, at(11), "sent")
    message(clinic, purpose, template, at(12), "suppressed", reason="not_informed")
    message(clinic, purpose, template, at(13), "scheduled")
    message(clinic, purpose, template, END + timedelta(minutes=30), "delivered")  # 1 Nov in Paris: not counted
    message(clinic, purpose, template, START - timedelta(minutes=1), "delivered")  # 30 Sept: not counted
    stat = {"organisation": clinic, "purpose_code": "rdv", "channel": "sms", "message_class": "service"}
    MessageStat.objects.create(day=date(2026, 10, 3), status="delivered", count=40, segments=41, **stat)
    MessageStat.objects.create(day=date(2026, 10, 3), status="suppressed", reason="not_informed", count=3, **stat)
    MessageStat.objects.create(day=date(2026, 10, 31), status="suppressed", reason="withdrawn", count=2, **stat)
    MessageStat.objects.create(day=date(2026, 11, 1), status="delivered", count=500, **stat)
    other = make_org("health")
    MessageStat.objects.create(**{**stat, "organisation": other}, day=date(2026, 10, 3), status="delivered", count=9)

    part = compliance.monthly_report(clinic, 2026, 10, now=LATER)["messages"]

    assert part["sent"] == 1 + 1 + 1 + 40 and part["delivered"] == 41 and part["failed"] == 1
    assert part["suppressed"] == 1 + 3 + 2 and part["pending"] == 1
    assert part["segments"] == 2 + 1 + 1 + 41
    assert part["suppressed_by_reason"] == {"not_informed": 4, "withdrawn": 2}


def test_it_counts_stops_and_other_replies(clinic):
    def reply(action, when):
        InboundMessage.objects.create(organisation=clinic, phone_hash="h", to="TILLEULS", action=action, received_at=when)

    reply("stop", at(2)), reply("stop", at(30)), reply("start", at(4)), reply("stop", END + timedelta(hours=2))
    assert compliance.monthly_report(clinic, 2026, 10, now=LATER)["replies"] == {"stops": 2, "starts": 1, "info": 0}


def test_it_counts_rights_requests_answered_on_time_late_and_open(clinic):
    request(clinic, 1, "access", at(1), at(30), "completed", completed=at(20))  # on time
    request(clinic, 2, "erasure", at(2), at(25), "completed", completed=at(28))  # late
    request(clinic, 3, "erasure", at(3), at(27), "refused", completed=at(5), refusal_code="no_data")
    request(clinic, 4, "access", at(20), datetime(2026, 11, 20, tzinfo=UTC))  # open, not yet due
    request(clinic, 5, "objection", datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, 12, tzinfo=UTC))  # overdue
    request(clinic, 6, "access", at(25), datetime(2026, 11, 25, tzinfo=UTC), "completed",
            completed=datetime(2026, 11, 2, tzinfo=UTC))  # open at the end of October, answered in November
    request(make_org("library"), 7, "access", at(2), at(30))
    part = compliance.monthly_report(clinic, 2026, 10, now=LATER)["requests"]
    assert part["received"] == 5
    assert part["received_by_kind"] == {"access": 3, "erasure": 2}
    assert (part["answered"], part["answered_on_time"], part["answered_late"], part["refused"]) == (3, 2, 1, 1)
    assert (part["open_at_end"], part["overdue_at_end"]) == (3, 1)


def test_it_sums_the_purges_of_the_month_and_ignores_dry_runs(clinic):
    PurgeReport.objects.create(organisation=clinic, trigger="schedule", started_at=at(1), counts={"message_content": 10},
                               stats_rows=3)
    PurgeReport.objects.create(organisation=clinic, trigger="schedule", started_at=at(2),
                               counts={"message_content": 5, "exports": 1}, stats_rows=1, error="timeout")
    PurgeReport.objects.create(organisation=clinic, trigger="command", dry_run=True, started_at=at(3),
                               counts={"message_content": 999})
    part = compliance.monthly_report(clinic, 2026, 10, now=LATER)["purges"]
    assert part == {"runs": 2, "failed_runs": 1, "removed": {"exports": 1, "message_content": 15}, "stats_rows": 4}


def test_it_lists_the_incidents_with_their_clock(clinic):
    values = {"organisation": clinic, "nature": "x", "created_by_kind": "system"}
    Breach.objects.create(reference="INC-1", title="Lost laptop", aware_at=at(5), risk="risk",
                          notified_at=at(6), status="notified", **values)
    Breach.objects.create(reference="INC-2", title="Misdirected SMS", aware_at=at(10), risk="risk", **values)
    Breach.objects.create(reference="INC-3", title="Old", aware_at=datetime(2026, 8, 1, tzinfo=UTC), **values)
    part = compliance.monthly_report(clinic, 2026, 10, now=LATER)["incidents"]
    assert [i["reference"] for i in part["items"]] == ["INC-1", "INC-2"]
    assert (part["count"], part["notified"], part["late"], part["open"]) == (2, 1, 1, 3)
    assert "Lost laptop" not in str(part)  # references and codes only


def test_it_shows_the_dpia_status_of_health_purposes_r72(clinic):
    make_purpose(clinic, code="rdv", dpia_ref="AIPD-7")
    draft = make_purpose(clinic, code="rdv-draft", dpia_ref="", activate=False)
    with pytest.raises(ValidationError) as caught:  # no activation without a DPIA reference or reason
        consent.activate_purpose(draft, actor=SYSTEM)
    assert "dpia_ref" in caught.value.message_dict
    dpia = compliance.monthly_report(clinic, 2026, 10, now=LATER)["dpia"]
    assert dpia == [
        {"purpose_code": "rdv", "status": "active", "dpia_ref": "AIPD-7", "not_needed_reason": "", "ok": True},
        {"purpose_code": "rdv-draft", "status": "draft", "dpia_ref": "", "not_needed_reason": "", "ok": False}]


def test_it_renders_json_html_and_pdf_and_audits(clinic):
    request(clinic, 1, "access", at(1), at(30), "completed", completed=at(20))
    report = compliance.generate_monthly_report(clinic, 2026, 10, actor=SYSTEM, language="en", fmt="html")
    html = compliance.render(report, "html").decode()
    assert "Monthly compliance report" in html and clinic.name in html and '<html lang="en">' in html
    assert compliance.render(report, "pdf").startswith(b"%PDF")
    assert b'"month": "2026-10"' in compliance.render(report, "json")
    event = AuditEvent.objects.filter(organisation=clinic, action="privacy.compliance_report_generated").get()
    assert event.details == {"month": "2026-10", "format": "html", "language": "en"}


def test_it_says_when_the_month_is_not_over(clinic):
    report = compliance.monthly_report(clinic, 2026, 10, now=at(15))
    assert report["complete"] is False
    assert "not over" in compliance.render({**report, "language": "en"}, "html").decode()
