"""Deadlines of rights requests (R-41): examples, then properties over dates, zones and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relance.privacy import deadlines as d

PARIS = ZoneInfo("Europe/Paris")
ZONES = ["Europe/Paris", "UTC", "America/Cayenne", "Indian/Reunion", "Pacific/Noumea", "America/New_York",
         "Australia/Lord_Howe", "Pacific/Chatham", "Europe/London"]
moments = st.datetimes(min_value=datetime(1999, 1, 1), max_value=datetime(2100, 12, 1),
                       timezones=st.just(UTC))
zones = st.sampled_from(ZONES)


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


@pytest.mark.parametrize(("received", "due"), [
    (paris(2026, 1, 31, 10), date(2026, 2, 28)),
    (paris(2028, 1, 31, 10), date(2028, 2, 29)),  # leap year
    (paris(2026, 3, 31, 8), date(2026, 4, 30)),
    (paris(2026, 3, 15, 23, 30), date(2026, 4, 15)),
    (paris(2026, 12, 31, 12), date(2027, 1, 31)),
    (paris(2026, 2, 28, 12), date(2026, 3, 28)),  # not the month's end: the same day
])
def test_it_counts_one_calendar_month_and_clamps_missing_days_r41(received, due):
    assert d.due_date(received) == datetime.combine(due, d.END_OF_DAY, tzinfo=PARIS)


def test_it_reads_the_day_of_receipt_in_the_organisations_zone_r41():
    # 23:30 UTC on 31 January is already 1 February in Paris, still 31 January in Cayenne.
    moment = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    assert d.due_date(moment, tz="Europe/Paris").date() == date(2026, 3, 1)
    assert d.due_date(moment, tz="America/Cayenne").date() == date(2026, 2, 28)


def test_it_extends_by_two_further_months_counted_from_receipt_r41():
    received = paris(2026, 1, 31, 10)
    assert d.extended_due(received) == paris(2026, 4, 30, 23, 59, 59)


def test_it_allows_an_extension_only_inside_the_first_month_r41():
    received = paris(2026, 1, 31, 10)
    assert d.can_extend(received, paris(2026, 2, 28, 23, 59))
    assert not d.can_extend(received, paris(2026, 3, 1, 0, 0, 1))


def test_it_says_time_and_days_left_and_lateness():
    due = paris(2026, 2, 28, 23, 59, 59)
    assert d.days_left(due, paris(2026, 2, 26, 9)) == 2
    assert d.days_left(due, paris(2026, 2, 28, 9)) == 0
    assert d.days_left(due, paris(2026, 3, 2, 9)) == -2
    assert not d.is_late(due, paris(2026, 2, 28, 23, 59, 59))
    assert d.is_late(due, paris(2026, 3, 1, 0, 0))
    assert d.time_left(due, paris(2026, 2, 28, 23, 0)) == timedelta(minutes=59, seconds=59)


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        d.due_date(datetime(2026, 1, 1))


@settings(max_examples=300, deadline=None)
@given(moments, zones)
def test_it_puts_the_deadline_after_receipt_and_within_one_month_and_a_day_r41(received, zone):
    due = d.due_date(received, tz=zone)
    assert due > received
    local = received.astimezone(ZoneInfo(zone)).date()
    assert due.date() - local <= timedelta(days=31)
    assert due.date() - local >= timedelta(days=28)
    # the same day of the next month, or that month's last day when it has no such day
    assert due.date() == d.add_months(local, 1)
    assert due.month == local.month % 12 + 1
    assert due.day == local.day or (due.day < local.day and (due.date() + timedelta(days=1)).day == 1)


@settings(max_examples=200, deadline=None)
@given(moments, zones)
def test_it_ends_the_deadline_at_the_end_of_a_local_day_r41(received, zone):
    due = d.due_date(received, tz=zone)
    assert due.timetz().replace(tzinfo=None) == d.END_OF_DAY
    next_day_start = due.astimezone(UTC) + timedelta(seconds=1)
    assert next_day_start.astimezone(ZoneInfo(zone)).date() == due.date() + timedelta(days=1)


@settings(max_examples=300, deadline=None)
@given(moments, moments, zones)
def test_it_never_moves_a_deadline_earlier_for_a_later_receipt_r41(first, second, zone):
    early, late = sorted([first, second])
    assert d.due_date(early, tz=zone) <= d.due_date(late, tz=zone)
    assert d.extended_due(early, tz=zone) <= d.extended_due(late, tz=zone)


@settings(max_examples=200, deadline=None)
@given(moments, zones, st.integers(min_value=0, max_value=40 * 24 * 3600))
def test_it_extends_beyond_the_first_deadline_and_only_before_it_r41(received, zone, seconds):
    due, extended = d.due_date(received, tz=zone), d.extended_due(received, tz=zone)
    assert extended > due
    assert extended.date() - due.date() >= timedelta(days=59)
    now = received + timedelta(seconds=seconds)
    assert d.can_extend(received, now, tz=zone) == (now <= due)
    assert d.is_late(due, now) == (now > due)


@given(st.dates(min_value=date(1999, 1, 1), max_value=date(2100, 1, 1)), st.integers(min_value=1, max_value=36))
def test_it_adds_months_without_ever_overflowing_a_month(day, months):
    later = d.add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day <= day.day
