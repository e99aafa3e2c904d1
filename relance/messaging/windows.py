"""Sending windows (R-22): when a message may go out, in the organisation's time zone.

Pure: plain values in (an aware `now`, a `WindowPolicy`), plain values out (None, or an aware UTC
datetime that the caller puts in `MessageFacts.not_before`; decide() then defers until it).

The defaults are ours, stricter on purpose, not a CNIL rule (SPEC §9): promotional Monday–Saturday
08:00–20:00 and never on the country's public holidays; service 08:00–21:00 every day, holidays
included; an urgent service message may bypass the window (the caller logs why).

Clock changes: a day's window runs from the first instant the local clock reads `start` (or later)
to the first instant it reads `end` (or later), so each day's window is one interval of instants:
- a start or end inside a spring-forward gap is the first valid instant after the gap: start 02:30
  in Europe/Paris on 29 March 2026 opens at 03:00 CEST (01:00 UTC);
- a start or end inside the hour a fall-back day repeats is its first occurrence; the window never
  closes and reopens on the same day (it is an hour longer or shorter than configured that day).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from relance.consent.policy import PROMOTIONAL_CLASSES, MessageClass

SERVICE = "service"
PROMOTIONAL = "promotional"
EVERY_DAY = frozenset(range(7))  # date.weekday(): 0 = Monday … 6 = Sunday
MONDAY_TO_SATURDAY = frozenset(range(6))
# Asking for consent is unsolicited from the person's side: it gets the promotional window.
PROMOTIONAL_WINDOW_CLASSES = PROMOTIONAL_CLASSES | {MessageClass.CONSENT_REQUEST}
ALL_CLASSES = frozenset(MessageClass)
# No opening in two years means a policy that cannot be met (e.g. only days that are all holidays).
MAX_SEARCH_DAYS = 2 * 366 + 7


@dataclass(frozen=True)
class WindowPolicy:
    """When one family of messages may be sent. Times are wall-clock times in `time_zone`."""

    family: str = SERVICE
    days: frozenset[int] = EVERY_DAY
    start: time = time(8)
    end: time = time(21)
    exclude_holidays: bool = False
    country: str = "FR"
    subdiv: str | None = None  # e.g. "57" Moselle, "6AE" Alsace: Good Friday and 26 December
    time_zone: str = "Europe/Paris"
    urgent_bypass: bool = True

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "days", _days(self.days))
        set_(self, "start", _clock(self.start, "start"))
        set_(self, "end", _clock(self.end, "end"))
        set_(self, "country", str(self.country).upper())
        _check_family(self)
        if self.start >= self.end:
            raise ValueError(f"the sending window must start before it ends (start {self.start}, end {self.end}); "
                             "windows across midnight are not supported")
        zone(self.time_zone)
        if self.exclude_holidays:
            _check_country(self.country, self.subdiv)


def _days(days: Iterable[int]) -> frozenset[int]:
    if isinstance(days, (int, str)):
        raise ValueError(f"days of the week are a list of numbers from 0 (Monday) to 6 (Sunday), got {days!r}")
    result = frozenset(days)
    if not result:
        raise ValueError("a sending window needs at least one day of the week (0 = Monday … 6 = Sunday); none was given")
    if not result <= EVERY_DAY or any(isinstance(day, bool) for day in result):
        raise ValueError(f"days of the week are numbers from 0 (Monday) to 6 (Sunday), got {sorted(result, key=str)}")
    return result


def _clock(value: time | str, name: str) -> time:
    """Accept a `time` or "HH:MM" (as stored in settings); a window time has no time zone of its own."""
    if isinstance(value, str):
        try:
            value = time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"the window {name} must be a time such as '08:00', got {value!r}") from None
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ValueError(f"the window {name} must be a local time without a time zone, got {value!r}")
    return value


def _check_family(policy: WindowPolicy) -> None:
    if policy.family not in (SERVICE, PROMOTIONAL):
        raise ValueError(f"the window family is {SERVICE!r} or {PROMOTIONAL!r}, got {policy.family!r}")
    if policy.family == PROMOTIONAL and policy.urgent_bypass:
        raise ValueError("only service messages may bypass the sending window when urgent (R-22)")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris'") from None


def _check_country(country: str, subdiv: str | None) -> None:
    try:
        holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        where = f"{country!r}" + (f" subdivision {subdiv!r}" if subdiv else "")
        raise ValueError(f"no public holiday calendar for {where}; check the country code "
                         "(ISO 3166-1, e.g. 'FR') and subdivision (e.g. '57' Moselle, '6AE' Alsace)") from None


@lru_cache(maxsize=1024)
def public_holidays(country: str, subdiv: str | None, year: int) -> frozenset[date]:
    """The country's (and subdivision's) public holidays in `year`, from the `holidays` package."""
    return frozenset(holidays.country_holidays(country, subdiv=subdiv, years=year))


PROMOTIONAL_DEFAULT = WindowPolicy(family=PROMOTIONAL, days=MONDAY_TO_SATURDAY, start=time(8), end=time(20),
                                   exclude_holidays=True, urgent_bypass=False)
SERVICE_DEFAULT = WindowPolicy(family=SERVICE, days=EVERY_DAY, start=time(8), end=time(21),
                               exclude_holidays=False, urgent_bypass=True)
OVERRIDABLE = frozenset(f.name for f in fields(WindowPolicy)) - {"family", "country", "time_zone"}


def family_of(message_class: str) -> str:
    if message_class in PROMOTIONAL_WINDOW_CLASSES:
        return PROMOTIONAL
    if message_class in ALL_CLASSES:
        return SERVICE
    raise ValueError(f"unknown message class {message_class!r}")


def policy_for(message_class: str, *, country: str, time_zone: str,
               overrides: Mapping[str, object] | None = None) -> WindowPolicy:
    """The default window of the message class's family, in the organisation's country and zone."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - OVERRIDABLE
    if unknown:
        raise ValueError(f"cannot override {sorted(unknown)} in a sending window; allowed: {sorted(OVERRIDABLE)}")
    default = PROMOTIONAL_DEFAULT if family_of(message_class) == PROMOTIONAL else SERVICE_DEFAULT
    return replace(default, country=country, time_zone=time_zone, **overrides)


def next_slot(now: datetime, policy: WindowPolicy, *, urgent: bool = False) -> datetime | None:
    """None when a message may go at `now`; else the instant the window next opens, in UTC.

    `urgent` bypasses the window for policies that allow it (service); asking it of a promotional
    policy is a programming error and raises.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    if urgent:
        if policy.urgent_bypass:
            return None
        raise ValueError(f"{policy.family} messages may not bypass the sending window (R-22)")
    tz = zone(policy.time_zone)
    first_day = now.astimezone(tz).date()
    for offset in range(MAX_SEARCH_DAYS):
        window = window_on(first_day + timedelta(days=offset), policy, tz)
        if window is not None and window[1] > now:
            return None if window[0] <= now else window[0]
    raise ValueError(f"the sending window never opens within {MAX_SEARCH_DAYS} days; allow more days of the week")


def is_open(now: datetime, policy: WindowPolicy) -> bool:
    return next_slot(now, policy) is None


def window_on(day: date, policy: WindowPolicy, tz: ZoneInfo | None = None) -> tuple[datetime, datetime] | None:
    """The UTC interval [opens, closes) of `day`'s window, or None when nothing may go that day."""
    if day.weekday() not in policy.days:
        return None
    if policy.exclude_holidays and day in public_holidays(policy.country, policy.subdiv, day.year):
        return None
    tz = tz or zone(policy.time_zone)
    opens, closes = first_instant(day, policy.start, tz), first_instant(day, policy.end, tz)
    return (opens, closes) if opens < closes else None  # a day the zone skipped has no window


def first_instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the local clock reads `clock` on `day`, or later."""
    wall = datetime.combine(day, clock)
    early, late = sorted(wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1))
    if _local(early, tz) == wall:
        return early  # an ordinary time, or the first of a repeated one
    return _end_of_gap(early, late, wall, tz)


def _end_of_gap(before: datetime, after: datetime, wall: datetime, tz: ZoneInfo) -> datetime:
    """`wall` does not exist (clocks jumped over it): find the jump, a whole second, by bisection."""
    low, high = math.floor(before.timestamp()), math.ceil(after.timestamp())  # local(low) < wall <= local(high)
    while high - low > 1:
        middle = (low + high) // 2
        if _local(datetime.fromtimestamp(middle, UTC), tz) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)
