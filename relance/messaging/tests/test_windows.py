"""Sending windows (R-22): table tests on the real calendar, clock changes, and properties (hypothesis)."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relance.consent.policy import MessageClass
from relance.messaging import windows
from relance.messaging.windows import (
    PROMOTIONAL,
    PROMOTIONAL_DEFAULT,
    SERVICE,
    SERVICE_DEFAULT,
    WindowPolicy,
    is_open,
    next_slot,
    policy_for,
    public_holidays,
    window_on,
)

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
PROMO = policy_for(MessageClass.PROMOTIONAL_COMMERCIAL, country="FR", time_zone="Europe/Paris")
SERVICE_FR = policy_for(MessageClass.SERVICE, country="FR", time_zone="Europe/Paris")
PROMO_MOSELLE = replace(PROMO, subdiv="57")
PROMO_ALSACE = replace(PROMO, subdiv="6AE")
PROMO_NY = policy_for(MessageClass.PROMOTIONAL_COMMERCIAL, country="US", time_zone="America/New_York",
                      overrides={"subdiv": "NY"})
SERVICE_NY = policy_for(MessageClass.SERVICE, country="US", time_zone="America/New_York")


def paris(*args) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the calendar the tables rely on --------------------------------------------------------------

def test_it_relies_on_the_real_calendar_for_the_table_dates():
    """R-22: the weekdays the tables below assume (0 = Monday … 6 = Sunday)."""
    assert date(2026, 11, 22).weekday() == 6
    assert date(2026, 11, 21).weekday() == 5
    assert date(2027, 7, 14).weekday() == 2
    assert date(2026, 5, 1).weekday() == 4
    assert date(2027, 5, 1).weekday() == 5
    assert date(2026, 12, 24).weekday() == 3
    assert date(2026, 12, 26).weekday() == 5
    assert date(2026, 3, 29).weekday() == 6 and date(2026, 10, 25).weekday() == 6  # last Sundays


def test_it_knows_the_eleven_french_public_holidays_of_2026():
    """R-22: metropolitan France (Code du travail L3133-1); 26 December is not one of them."""
    assert public_holidays("FR", None, 2026) == {
        date(2026, 1, 1), date(2026, 4, 6), date(2026, 5, 1), date(2026, 5, 8), date(2026, 5, 14),
        date(2026, 5, 25), date(2026, 7, 14), date(2026, 8, 15), date(2026, 11, 1), date(2026, 11, 11),
        date(2026, 12, 25),
    }


@pytest.mark.parametrize("subdiv", ["57", "6AE", "Moselle", "Alsace"])
def test_it_adds_good_friday_and_saint_stephen_in_alsace_moselle(subdiv):
    """R-22: Alsace-Moselle (local law, L3134-13) adds Good Friday and 26 December."""
    extra = public_holidays("FR", subdiv, 2026) - public_holidays("FR", None, 2026)
    assert extra == {date(2026, 4, 3), date(2026, 12, 26)}


# --- tables --------------------------------------------------------------------------------------

PROMOTIONAL_TABLE = [
    # (label, policy, now, expected slot or None)
    ("Sunday 10:00 → Monday 08:00", PROMO, paris(2026, 11, 22, 10), paris(2026, 11, 23, 8)),
    ("Saturday 19:59 → now", PROMO, paris(2026, 11, 21, 19, 59), None),
    ("Saturday 20:00 → Monday 08:00", PROMO, paris(2026, 11, 21, 20), paris(2026, 11, 23, 8)),
    ("Saturday 07:59:59 → 08:00", PROMO, paris(2026, 11, 21, 7, 59, 59), paris(2026, 11, 21, 8)),
    ("Saturday 08:00 → now", PROMO, paris(2026, 11, 21, 8), None),
    ("14 July 2027 (Wednesday) → 15 July 08:00", PROMO, paris(2027, 7, 14, 10), paris(2027, 7, 15, 8)),
    ("1 May 2026 (Friday) → Saturday 2 May", PROMO, paris(2026, 5, 1, 10), paris(2026, 5, 2, 8)),
    ("1 May 2027 (Saturday) → Monday 3 May", PROMO, paris(2027, 5, 1, 10), paris(2027, 5, 3, 8)),
    ("Christmas Eve 21:00 → 26 Dec (not a national holiday)", PROMO, paris(2026, 12, 24, 21), paris(2026, 12, 26, 8)),
    ("Christmas Eve 21:00, Moselle → Monday 28 Dec", PROMO_MOSELLE, paris(2026, 12, 24, 21), paris(2026, 12, 28, 8)),
    ("Christmas Eve 21:00, Alsace → Monday 28 Dec", PROMO_ALSACE, paris(2026, 12, 24, 21), paris(2026, 12, 28, 8)),
    ("Good Friday 2026 is open in Paris", PROMO, paris(2026, 4, 3, 10), None),
    ("Good Friday 2026 in Moselle → Saturday 4 April", PROMO_MOSELLE, paris(2026, 4, 3, 10), paris(2026, 4, 4, 8)),
    ("Easter Saturday 20:00 → Tuesday (Easter Monday)", PROMO, paris(2026, 4, 4, 20), paris(2026, 4, 7, 8)),
    ("New Year's Eve 20:00 → Saturday 2 Jan 2027", PROMO, paris(2026, 12, 31, 20), paris(2027, 1, 2, 8)),
    ("Saturday 30 Dec 2028 20:00 → Tuesday 2 Jan 2029", PROMO, paris(2028, 12, 30, 20), paris(2029, 1, 2, 8)),
]

SERVICE_TABLE = [
    ("Sunday 10:00 → now", SERVICE_FR, paris(2026, 11, 22, 10), None),
    ("Saturday 20:30 → now (service closes at 21:00)", SERVICE_FR, paris(2026, 11, 21, 20, 30), None),
    ("Christmas Eve 21:00 → 25 Dec 08:00 (holidays allowed)", SERVICE_FR, paris(2026, 12, 24, 21), paris(2026, 12, 25, 8)),
    ("14 July 2027 10:00 → now", SERVICE_FR, paris(2027, 7, 14, 10), None),
    ("New Year's Eve 23:00 → 1 Jan 08:00", SERVICE_FR, paris(2026, 12, 31, 23), paris(2027, 1, 1, 8)),
    ("after midnight → 08:00 the same day", SERVICE_FR, paris(2027, 1, 1, 0, 30), paris(2027, 1, 1, 8)),
]


@pytest.mark.parametrize(("label", "policy", "now", "expected"), PROMOTIONAL_TABLE + SERVICE_TABLE,
                         ids=[row[0] for row in PROMOTIONAL_TABLE + SERVICE_TABLE])
def test_it_defers_to_the_next_slot_on_the_real_calendar(label, policy, now, expected):
    """R-22: promotional Mon–Sat 08:00–20:00 never on public holidays; service 08:00–21:00 every day."""
    slot = next_slot(now, policy)
    assert slot == expected
    assert is_open(now, policy) is (expected is None)
    if slot is not None:
        assert slot.tzinfo is UTC


def test_it_reads_now_in_any_time_zone_and_answers_in_utc():
    """R-22: the window is in the organisation's zone whatever zone `now` comes in."""
    sunday = paris(2026, 11, 22, 10)
    for now in (sunday, sunday.astimezone(UTC), sunday.astimezone(ZoneInfo("Asia/Tokyo"))):
        assert next_slot(now, PROMO) == utc(2026, 11, 23, 7)


def test_it_skips_a_long_run_of_holidays():
    """R-22: a Friday-only window in May 2026 skips 1 May and 8 May (both Fridays)."""
    fridays = replace(PROMO, days={4})
    assert next_slot(paris(2026, 4, 30, 12), fridays) == paris(2026, 5, 15, 8)


def test_it_skips_an_american_long_weekend():
    """R-22: New York 2026: Friday 3 July (Independence Day observed), Saturday 4 July, Sunday."""
    thursday_evening = datetime(2026, 7, 2, 20, tzinfo=NEW_YORK)
    assert next_slot(thursday_evening, PROMO_NY) == utc(2026, 7, 6, 12)  # Monday 08:00 EDT


# --- clock changes -------------------------------------------------------------------------------

def test_it_opens_at_8_local_on_the_spring_forward_sunday_in_paris():
    """R-22: 29 March 2026, clocks go from 02:00 CET to 03:00 CEST; 08:00 exists and is 06:00 UTC."""
    assert next_slot(paris(2026, 3, 28, 21), SERVICE_FR) == utc(2026, 3, 29, 6)
    assert next_slot(paris(2026, 3, 29, 1, 30), SERVICE_FR) == utc(2026, 3, 29, 6)
    assert next_slot(paris(2026, 3, 28, 20), PROMO) == utc(2026, 3, 30, 6)  # Sunday skipped, Monday CEST
    assert not is_open(utc(2026, 3, 29, 5, 59, 59), SERVICE_FR)
    assert is_open(utc(2026, 3, 29, 6), SERVICE_FR)


def test_it_opens_at_8_local_on_the_fall_back_sunday_in_paris():
    """R-22: 25 October 2026, 03:00 CEST becomes 02:00 CET; 08:00 CET is 07:00 UTC."""
    first_2_30, second_2_30 = utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)  # 02:30 twice in Paris
    assert next_slot(first_2_30, SERVICE_FR) == utc(2026, 10, 25, 7)
    assert next_slot(second_2_30, SERVICE_FR) == utc(2026, 10, 25, 7)
    assert next_slot(paris(2026, 10, 25, 20, 59), SERVICE_FR) is None
    assert next_slot(paris(2026, 10, 25, 21), SERVICE_FR) == utc(2026, 10, 26, 7)


def test_it_opens_a_start_in_the_spring_gap_at_the_first_instant_after_it():
    """R-22: start 02:30 does not exist on 29 March 2026 in Paris; the window opens at 03:00 CEST."""
    night = replace(SERVICE_FR, start=time(2, 30))
    assert next_slot(paris(2026, 3, 29, 0), night) == utc(2026, 3, 29, 1)
    assert not is_open(utc(2026, 3, 29, 0, 59, 59, 999999), night)
    assert is_open(utc(2026, 3, 29, 1), night)
    assert next_slot(paris(2026, 3, 28, 0), night) == utc(2026, 3, 28, 1, 30)  # 02:30 CET the day before


def test_it_closes_an_end_in_the_spring_gap_when_the_clock_jumps():
    """R-22: end 02:30 on 29 March 2026 in Paris: open at 01:59:59 CET, closed at 03:00 CEST."""
    night = replace(SERVICE_FR, start=time(0), end=time(2, 30))
    assert is_open(utc(2026, 3, 29, 0, 59, 59), night)
    assert next_slot(utc(2026, 3, 29, 1), night) == utc(2026, 3, 29, 22)  # Monday 00:00 CEST


def test_it_keeps_one_window_a_day_when_the_fall_back_hour_repeats():
    """R-22: start or end in the repeated hour (25 October 2026, Paris) is its first occurrence."""
    starts_in_fold = replace(SERVICE_FR, start=time(2, 30))
    assert next_slot(paris(2026, 10, 25, 0), starts_in_fold) == utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert is_open(utc(2026, 10, 25, 1, 15), starts_in_fold)  # 02:15 CET, the second pass: still open
    ends_in_fold = replace(SERVICE_FR, start=time(0), end=time(2, 30))
    assert is_open(utc(2026, 10, 25, 0, 29), ends_in_fold)
    assert not is_open(utc(2026, 10, 25, 1, 15), ends_in_fold)  # 02:15 CET again: it does not reopen
    assert next_slot(utc(2026, 10, 25, 1, 15), ends_in_fold) == utc(2026, 10, 25, 23)  # Monday 00:00 CET


def test_it_follows_new_york_clock_changes():
    """R-22: America/New_York, 8 March 2026 (spring forward) and 1 November 2026 (fall back)."""
    assert next_slot(datetime(2026, 3, 7, 22, tzinfo=NEW_YORK), SERVICE_NY) == utc(2026, 3, 8, 12)  # 08:00 EDT
    assert next_slot(datetime(2026, 10, 31, 22, tzinfo=NEW_YORK), SERVICE_NY) == utc(2026, 11, 1, 13)  # EST
    night = replace(SERVICE_NY, start=time(2, 30))
    assert next_slot(datetime(2026, 3, 8, 0, tzinfo=NEW_YORK), night) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert next_slot(datetime(2026, 11, 1, 0, tzinfo=NEW_YORK), night) == utc(2026, 11, 1, 7, 30)  # 02:30 EST
    in_fold = replace(SERVICE_NY, start=time(1, 30))  # 01:00–02:00 repeats in New York
    assert next_slot(datetime(2026, 11, 1, 0, tzinfo=NEW_YORK), in_fold) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT


def test_it_has_no_window_on_a_day_the_zone_skipped():
    """R-22: Samoa skipped 30 December 2011; the window of the 29th is followed by the 31st's."""
    apia = replace(SERVICE_FR, time_zone="Pacific/Apia")
    assert window_on(date(2011, 12, 30), apia) is None
    assert next_slot(datetime(2011, 12, 29, 22, tzinfo=ZoneInfo("Pacific/Apia")), apia) == utc(2011, 12, 30, 18)


# --- urgent, defaults, validation -----------------------------------------------------------------

def test_it_lets_urgent_service_messages_bypass_the_window():
    """R-22: urgent service messages may bypass (the caller logs the reason)."""
    night = paris(2026, 11, 22, 3)
    assert next_slot(night, SERVICE_FR) is not None
    assert next_slot(night, SERVICE_FR, urgent=True) is None


def test_it_refuses_urgency_for_promotional_messages_or_when_turned_off():
    """R-22: only service messages may bypass; an organisation may turn the bypass off."""
    with pytest.raises(ValueError, match="may not bypass"):
        next_slot(paris(2026, 11, 22, 3), PROMO, urgent=True)
    strict = replace(SERVICE_FR, urgent_bypass=False)
    with pytest.raises(ValueError, match="may not bypass"):
        next_slot(paris(2026, 11, 22, 3), strict, urgent=True)
    with pytest.raises(ValueError, match="only service"):
        replace(PROMO, urgent_bypass=True)


def test_it_defaults_to_the_windows_of_r22():
    """R-22: promotional Mon–Sat 08:00–20:00 without holidays; service every day 08:00–21:00."""
    assert (PROMOTIONAL_DEFAULT.family, PROMOTIONAL_DEFAULT.days) == (PROMOTIONAL, frozenset(range(6)))
    assert (PROMOTIONAL_DEFAULT.start, PROMOTIONAL_DEFAULT.end) == (time(8), time(20))
    assert PROMOTIONAL_DEFAULT.exclude_holidays and not PROMOTIONAL_DEFAULT.urgent_bypass
    assert (SERVICE_DEFAULT.family, SERVICE_DEFAULT.days) == (SERVICE, frozenset(range(7)))
    assert (SERVICE_DEFAULT.start, SERVICE_DEFAULT.end) == (time(8), time(21))
    assert not SERVICE_DEFAULT.exclude_holidays and SERVICE_DEFAULT.urgent_bypass


@pytest.mark.parametrize(("message_class", "family"), [
    (MessageClass.PROMOTIONAL_COMMERCIAL, PROMOTIONAL),
    (MessageClass.PROMOTIONAL_NONCOMMERCIAL, PROMOTIONAL),
    (MessageClass.CONSENT_REQUEST, PROMOTIONAL),
    (MessageClass.SERVICE, SERVICE),
    (MessageClass.RIGHTS_REQUEST, SERVICE),
    (MessageClass.BREACH_NOTICE, SERVICE),
    ("service", SERVICE),
])
def test_it_picks_the_window_family_from_the_message_class(message_class, family):
    """R-22: a consent request is unsolicited, so it gets the stricter promotional window."""
    policy = policy_for(message_class, country="BE", time_zone="Europe/Brussels")
    assert (policy.family, policy.country, policy.time_zone) == (family, "BE", "Europe/Brussels")


def test_it_applies_overrides_written_as_settings():
    """R-22: both windows are configurable per organisation ("HH:MM" strings as stored)."""
    policy = policy_for("service", country="fr", time_zone="Europe/Paris",
                        overrides={"start": "09:30", "end": "18:00", "days": [0, 1, 2, 3, 4], "exclude_holidays": True})
    assert (policy.start, policy.end, policy.days, policy.country) == (time(9, 30), time(18), frozenset(range(5)), "FR")
    assert next_slot(paris(2026, 7, 14, 10), policy) == paris(2026, 7, 15, 9, 30)


@pytest.mark.parametrize(("changes", "message"), [
    ({"days": []}, "at least one day"),
    ({"days": {7}}, "from 0 .Monday. to 6"),
    ({"days": 5}, "a list of numbers"),
    ({"days": "012345"}, "a list of numbers"),
    ({"days": {True}}, "from 0 .Monday. to 6"),
    ({"start": time(20), "end": time(8)}, "start before it ends"),
    ({"start": time(8), "end": time(8)}, "start before it ends"),
    ({"start": "8h"}, "such as '08:00'"),
    ({"start": time(8, tzinfo=UTC)}, "without a time zone"),
    ({"time_zone": "Europe/Atlantis"}, "unknown time zone"),
    ({"time_zone": "../etc/passwd"}, "unknown time zone"),
    ({"country": "XX", "exclude_holidays": True}, "no public holiday calendar"),
    ({"subdiv": "67", "exclude_holidays": True}, "'6AE' Alsace"),
    ({"family": "marketing"}, "family"),
])
def test_it_refuses_a_policy_that_cannot_work(changes, message):
    """R-22: an empty or inverted window, an unknown zone or calendar is refused when configured."""
    with pytest.raises(ValueError, match=message):
        replace(PROMO, **changes)


def test_it_refuses_unknown_or_protected_overrides():
    """R-22: overrides cannot change the family (a promotional window cannot become a service one)."""
    with pytest.raises(ValueError, match="cannot override"):
        policy_for("promotional_commercial", country="FR", time_zone="Europe/Paris", overrides={"family": SERVICE})
    with pytest.raises(ValueError, match="cannot override"):
        policy_for("service", country="FR", time_zone="Europe/Paris", overrides={"opens": "08:00"})
    with pytest.raises(ValueError, match="unknown message class"):
        policy_for("newsletter", country="FR", time_zone="Europe/Paris")


def test_it_refuses_a_naive_now():
    """R-22: a window is in a time zone; a naive `now` has none."""
    with pytest.raises(ValueError, match="aware"):
        next_slot(datetime(2026, 11, 22, 10), PROMO)


def test_it_says_so_when_the_window_never_opens(monkeypatch):
    """R-22: a window whose only days are all holidays fails loudly instead of looping."""

    class Everything:
        def __contains__(self, day):
            return True

    monkeypatch.setattr(windows, "public_holidays", lambda *args: Everything())
    with pytest.raises(ValueError, match="never opens"):
        next_slot(paris(2026, 11, 22, 10), PROMO)


def test_it_caches_holidays_per_country_subdivision_and_year():
    """R-22: the calendar is computed once per (country, subdivision, year)."""
    public_holidays.cache_clear()
    for _ in range(3):
        next_slot(paris(2026, 11, 22, 10), PROMO_MOSELLE)
    info = public_holidays.cache_info()
    assert info.misses == 1 and info.hits >= 2


# --- properties ---------------------------------------------------------------------------------

ZONES = ["Europe/Paris", "America/New_York", "UTC", "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago",
         "Pacific/Apia", "Asia/Kathmandu", "Pacific/Chatham", "America/St_Johns", "Europe/Dublin", "Africa/Casablanca"]
CALENDARS = [("FR", None), ("FR", "57"), ("FR", "6AE"), ("US", "NY"), ("DE", None), ("GB", None), ("CL", None)]


@cache
def reference_holidays(country, subdiv, year):
    return set(holidays.country_holidays(country, subdiv=subdiv, years=year))


def reference_open(instant: datetime, policy: WindowPolicy) -> bool:
    """The window read off the wall clock, independently of windows.py (exact outside repeated hours)."""
    local = instant.astimezone(ZoneInfo(policy.time_zone))
    if local.weekday() not in policy.days:
        return False
    if policy.exclude_holidays and local.date() in reference_holidays(policy.country, policy.subdiv, local.year):
        return False
    return policy.start <= local.time() < policy.end


def ambiguous(instant: datetime, policy: WindowPolicy) -> bool:
    """The local clock shows this time twice (a fall-back hour), where wall-clock reading is not exact."""
    wall = instant.astimezone(ZoneInfo(policy.time_zone)).replace(tzinfo=None)
    first, second = (wall.replace(tzinfo=ZoneInfo(policy.time_zone), fold=fold) for fold in (0, 1))
    return first.utcoffset() != second.utcoffset()


@st.composite
def policies(draw):
    start, end = sorted(draw(st.lists(st.times(), min_size=2, max_size=2, unique=True)))
    country, subdiv = draw(st.sampled_from(CALENDARS))
    return WindowPolicy(
        family=SERVICE, days=draw(st.frozensets(st.integers(0, 6), min_size=1)), start=start, end=end,
        exclude_holidays=draw(st.booleans()), country=country, subdiv=subdiv,
        time_zone=draw(st.sampled_from(ZONES)),
    )


instants = st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2090, 12, 31),
                        timezones=st.sampled_from([UTC, *map(ZoneInfo, ZONES)]))


def earliest(now, policy):
    return next_slot(now, policy) or now.astimezone(UTC)


@settings(max_examples=400, deadline=None)
@given(now=instants, policy=policies(), data=st.data())
def test_it_returns_the_first_open_instant_at_or_after_now(now, policy, data):
    """R-22: the slot is later than now, open, and nothing between now and the slot is open."""
    slot = next_slot(now, policy)
    if slot is None:
        assert is_open(now, policy)
        assert ambiguous(now, policy) or reference_open(now, policy)
        return
    assert slot.tzinfo is UTC and slot > now
    assert is_open(slot, policy) and not is_open(now, policy)
    assert ambiguous(slot, policy) or reference_open(slot, policy)
    before = slot - timedelta(microseconds=1)
    assert not is_open(before, policy)
    assert ambiguous(before, policy) or not reference_open(before, policy)
    gap = (slot - now) // timedelta(microseconds=1)
    steps = [gap * step // 40 for step in range(40)] + [data.draw(st.integers(0, gap - 1))]
    probes = [now.astimezone(UTC) + timedelta(microseconds=step) for step in steps]  # elapsed, not wall, time
    for probe in probes:
        assert ambiguous(probe, policy) or not reference_open(probe, policy), probe


@settings(max_examples=300, deadline=None)
@given(now=instants, policy=policies())
def test_it_is_idempotent(now, policy):
    """R-22: asking again at the slot sends at the slot: next_slot(next_slot(x)) == next_slot(x)."""
    slot = earliest(now, policy)
    assert earliest(slot, policy) == slot
    assert next_slot(slot, policy) is None
    assert slot.tzinfo is UTC


@settings(max_examples=300, deadline=None)
@given(now=instants, policy=policies())
def test_it_agrees_with_the_wall_clock_outside_repeated_hours(now, policy):
    """R-22: is_open is the wall-clock reading of the window in the organisation's zone."""
    assume(not ambiguous(now, policy))
    assert is_open(now, policy) == reference_open(now, policy)


@settings(max_examples=200, deadline=None)
@given(now=instants)
def test_it_never_sends_promotional_messages_on_sundays_holidays_or_at_night(now):
    """R-22: the default promotional window in France, whatever `now`."""
    slot = earliest(now, PROMO)
    local = slot.astimezone(PARIS)
    assert local.weekday() != 6
    assert local.date() not in reference_holidays("FR", None, local.year)
    assert time(8) <= local.time() < time(20)


@cache
def clock_changes(zone_name: str, year: int = 2026) -> list[datetime]:
    """The instants (UTC, to the hour) at which the zone's offset changed during `year`."""
    tz, hour = ZoneInfo(zone_name), timedelta(hours=1)
    instants = [utc(year, 1, 1) + hour * n for n in range(366 * 24)]
    offsets = [instant.astimezone(tz).utcoffset() for instant in instants]
    return [instants[n] for n in range(1, len(instants)) if offsets[n] != offsets[n - 1]]


QUARTER_HOURS = [time(h, m) for h in range(24) for m in (0, 15, 30, 45)]


@st.composite
def around_clock_changes(draw):
    zone_name = draw(st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
                                      "Europe/Dublin", "America/St_Johns"]))
    change = draw(st.sampled_from(clock_changes(zone_name)))
    now = change + timedelta(minutes=draw(st.integers(-36 * 60, 36 * 60)))
    early = st.sampled_from(QUARTER_HOURS[:20])  # 00:00–04:45, where clocks change
    start, end = sorted(draw(st.lists(st.one_of(early, st.sampled_from(QUARTER_HOURS)), min_size=2, max_size=2,
                                      unique=True)))
    policy = replace(SERVICE_FR, time_zone=zone_name, start=start, end=end)
    return now, policy


@settings(max_examples=300, deadline=None)
@given(case=around_clock_changes(), data=st.data())
def test_it_finds_the_first_open_instant_around_clock_changes(case, data):
    """R-22: the same properties within a day and a half of every 2026 clock change of six zones."""
    now, policy = case
    assert len(clock_changes(policy.time_zone)) == 2
    test_it_returns_the_first_open_instant_at_or_after_now.hypothesis.inner_test(now=now, policy=policy, data=data)
    test_it_is_idempotent.hypothesis.inner_test(now=now, policy=policy)
