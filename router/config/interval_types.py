"""The typed value of Alertmanager's `time_intervals` section, and what "contains" means.

`TimeInterval` is what the config loader builds (router/config/time_intervals.py) and what
the muting stage reads (router/noise/time_intervals.py). It lives in config/ beside
`types.py`, with no YAML import, so that config/ never imports a run-time module and
run-time modules never import the YAML reader. `contains` is the value's own calendar
semantics (Alertmanager's, including negative days of the month), as `Matcher.matches` is a
matcher's; which interval mutes which route is decided in noise/.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["InclusiveRange", "TimeInterval", "TimeRange", "TimeSpec"]


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Minutes of the day; start inclusive, end exclusive (0..1440)."""

    start_minute: int
    end_minute: int


@dataclass(frozen=True, slots=True)
class InclusiveRange:
    """`begin:end`, both included (a single value has begin == end)."""

    begin: int
    end: int


@dataclass(frozen=True, slots=True)
class TimeSpec:
    """One entry of an interval's `time_intervals` list: AND across fields, OR within one.

    A field that is None was omitted and matches anything. A given but empty list matches
    nothing, as in Alertmanager (Go checks `!= nil`). Weekdays are 0 = Sunday.
    """

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[InclusiveRange, ...] | None = None
    days_of_month: tuple[InclusiveRange, ...] | None = None
    months: tuple[InclusiveRange, ...] | None = None
    years: tuple[InclusiveRange, ...] | None = None
    location: ZoneInfo | None = None  # None = UTC

    def contains(self, ts: float) -> bool:
        """Whether the instant `ts` (epoch seconds) falls inside this spec, read in `location`."""
        t = dt.datetime.fromtimestamp(ts, self.location or dt.UTC)
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(r.start_minute <= minute < r.end_minute for r in self.times):
                return False
        if self.days_of_month is not None and not _day_in(self.days_of_month, t):
            return False
        if self.months is not None and not _within(self.months, t.month):
            return False
        # Python's weekday() is Monday = 0; Alertmanager's (Go's) is Sunday = 0.
        if self.weekdays is not None and not _within(self.weekdays, (t.weekday() + 1) % 7):
            return False
        return self.years is None or _within(self.years, t.year)


def _within(ranges: tuple[InclusiveRange, ...], value: int) -> bool:
    return any(r.begin <= value <= r.end for r in ranges)


def _clamp(n: int, low: int, high: int) -> int:
    return max(low, min(n, high))


def _day_in(ranges: tuple[InclusiveRange, ...], t: dt.datetime) -> bool:
    """Alertmanager's day-of-month test: negatives count from the month's real end."""
    days = calendar.monthrange(t.year, t.month)[1]
    for r in ranges:
        begin = days + r.begin + 1 if r.begin < 0 else r.begin
        end = days + r.end + 1 if r.end < 0 else r.end
        if begin > days:  # e.g. `30:31` in February: skipped rather than clamped
            continue
        begin, end = _clamp(begin, -days, days), _clamp(end, -days, days)
        if begin <= t.day <= end:
            return True
    return False


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """A named interval: contains an instant when any of its specs does."""

    name: str
    specs: tuple[TimeSpec, ...]

    def contains(self, ts: float) -> bool:
        return any(spec.contains(ts) for spec in self.specs)
