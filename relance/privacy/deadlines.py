"""Deadlines of data-subject requests (R-41, Art. 12(3) GDPR). Pure: plain values in, plain values out.

"One month" is a calendar month counted from the day of receipt in the organisation's time zone:
a request received on 15 March is due on 15 April; one received on 31 January on 28 February (29 in a
leap year), because a missing day clamps to the month's end. The controller has that whole day, so
the deadline is the end of it (23:59:59 local). The extension adds two further months, still counted
from the receipt (31 January → 30 April), and may only be decided inside the first month.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

FIRST_PERIOD_MONTHS = 1
EXTENSION_MONTHS = 2
END_OF_DAY = time(23, 59, 59)


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("deadlines need aware datetimes (UTC or with a time zone)")


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, clamped to that month's last day."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_day(day: date, tz: str | tzinfo) -> datetime:
    """23:59:59 of `day` in the zone (no European DST change happens at that hour)."""
    return datetime.combine(day, END_OF_DAY, tzinfo=_zone(tz))


def local_day(moment: datetime, tz: str | tzinfo) -> date:
    _require_aware(moment)
    return moment.astimezone(_zone(tz)).date()


def due_date(received_at: datetime, months: int = FIRST_PERIOD_MONTHS, *, tz: str | tzinfo = "Europe/Paris") -> datetime:
    """When a request received at `received_at` must be answered: end of the same day `months`
    calendar months later, in the organisation's time zone (R-41)."""
    if months < 1:
        raise ValueError("a deadline is at least one month")
    return end_of_day(add_months(local_day(received_at, tz), months), tz)


def extended_due(received_at: datetime, *, tz: str | tzinfo = "Europe/Paris") -> datetime:
    """The deadline once extended by two further months (Art. 12(3)): three months from receipt."""
    return due_date(received_at, FIRST_PERIOD_MONTHS + EXTENSION_MONTHS, tz=tz)


def can_extend(received_at: datetime, now: datetime, *, tz: str | tzinfo = "Europe/Paris") -> bool:
    """An extension (and telling the person about it) must happen inside the first month."""
    _require_aware(now)
    return now <= due_date(received_at, tz=tz)


def time_left(due_at: datetime, now: datetime) -> timedelta:
    """Negative once late."""
    _require_aware(due_at)
    _require_aware(now)
    return due_at - now


def days_left(due_at: datetime, now: datetime, *, tz: str | tzinfo = "Europe/Paris") -> int:
    """Calendar days between today and the due day, in the organisation's zone (0 on the due day,
    negative once late): what a DPO's list shows."""
    return (local_day(due_at, tz) - local_day(now, tz)).days


def is_late(due_at: datetime, now: datetime) -> bool:
    return time_left(due_at, now) < timedelta(0)
