"""Reads Alertmanager's top-level `time_intervals:` (and the deprecated
`mute_time_intervals:`) into `TimeInterval` values, with Alertmanager's own messages.

Every check runs at load time, so a bad weekday or time zone is a `file:line:col` config
error rather than a surprise at mute time. The values are router/config/interval_types.py.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from router.config.fields import FieldReader
from router.config.interval_types import InclusiveRange, TimeInterval, TimeRange, TimeSpec
from router.config.yaml_source import Node, suggest

__all__ = ["MONTHS", "WEEKDAYS", "local_zone", "parse_time_intervals"]

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_SPEC_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")
# Alertmanager's own regex: `24:00` is the only hour-24 form accepted.
_HHMM = re.compile(r"^((([01][0-9])|(2[0-3])):[0-5][0-9])$|(^24:00$)")
_T = TypeVar("_T")
_ATOI = re.compile(r"[+-]?[0-9]+")  # what Go's strconv.Atoi accepts (no spaces, no `_`)


def parse_time_intervals(fields: FieldReader, items: list[Node]) -> dict[str, TimeInterval]:
    """Read the top-level `time_intervals:` list; problems are recorded on their nodes.

    To also accept the deprecated `mute_time_intervals:`, pass both lists concatenated:
    names must be unique across them, as in Alertmanager.
    """
    out: dict[str, TimeInterval] = {}
    for item in items:
        if not item.expect_map():
            continue
        item.expect_keys(("name", "time_intervals"))
        name_node = item.get("name")
        name = item.get_str("name")
        if name_node is None or name_node.is_null or name == "":
            item.error("missing name in time interval")
        specs = tuple(
            spec
            for spec_node in item.get_list("time_intervals") or []
            if (spec := _parse_spec(spec_node)) is not None
        )
        if name is None or name == "":
            continue
        if name in out:
            assert name_node is not None
            name_node.error(f'time interval "{name}" is not unique')
            continue
        out[name] = TimeInterval(name, specs)
    return out


def _parse_spec(node: Node) -> TimeSpec | None:
    if node.is_null:
        return TimeSpec()  # `- {}` and a bare `-` both mean "always"
    if not node.expect_map():
        return None
    node.expect_keys(_SPEC_KEYS)
    return TimeSpec(
        times=_list(node, "times", _time_range),
        weekdays=_list(node, "weekdays", _weekday_range),
        days_of_month=_list(node, "days_of_month", _day_range),
        months=_list(node, "months", _month_range),
        years=_list(node, "years", _year_range),
        location=_location(node),
    )


def _list(node: Node, key: str, parse: Callable[[Node], _T | None]) -> tuple[_T, ...] | None:
    items = node.get_list(key)
    if items is None:
        return None
    return tuple(value for item in items if (value := parse(item)) is not None)


def _time_range(node: Node) -> TimeRange | None:
    if not node.expect_map():
        return None
    node.expect_keys(("start_time", "end_time"))
    start_text, end_text = node.get_str("start_time", ""), node.get_str("end_time", "")
    if not start_text or not end_text:
        node.error("both start and end times must be provided")
        return None
    start = _minutes(node.get("start_time") or node, start_text)
    end = _minutes(node.get("end_time") or node, end_text)
    if start is None or end is None:
        return None
    if start >= end:
        node.error("start time cannot be equal or greater than end time")
        return None
    return TimeRange(start, end)


def _minutes(node: Node, text: str) -> int | None:
    if not _HHMM.match(text):
        node.error(f"couldn't parse timestamp {text}, invalid format")
        return None
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class _RangeError(Exception):
    """A range element that does not parse; the message is Alertmanager's."""


def _split_range(text: str, member: Callable[[str], int]) -> InclusiveRange:
    """Alertmanager's `stringableRangeFromString`: lower-cased, `a` or `a:b`."""
    text = text.lower()
    if ":" not in text:
        value = member(text)
        return InclusiveRange(value, value)
    parts = text.split(":")
    if len(parts) != 2:
        raise _RangeError(f"couldn't parse range {text}, invalid format")
    return InclusiveRange(member(parts[0]), member(parts[1]))


def _atoi(text: str) -> int:
    if not _ATOI.fullmatch(text):
        raise _RangeError(f'strconv.Atoi: parsing "{text}": invalid syntax')
    return int(text)


def _weekday(text: str) -> int:
    if text in WEEKDAYS:
        return WEEKDAYS.index(text)
    raise _RangeError(f"{text} is not a valid weekday{suggest(text, WEEKDAYS)}")


def _month(text: str) -> int:
    if text in MONTHS:
        return MONTHS.index(text) + 1
    if not _ATOI.fullmatch(text):
        raise _RangeError(f"{text} is not a valid month{suggest(text, MONTHS)}")
    return int(text)


def _ranged(
    node: Node, member: Callable[[str], int], check: Callable[[str, InclusiveRange], str | None]
) -> InclusiveRange | None:
    text = node.as_str()
    if text is None:
        return None
    try:
        r = _split_range(text, member)
    except _RangeError as exc:
        node.error(str(exc))
        return None
    problem = check(text, r)
    if problem is not None:
        node.error(problem)
        return None
    return r


def _check_weekdays(text: str, r: InclusiveRange) -> str | None:
    if r.begin > r.end:
        # Alertmanager's wording (sic): the start is after the end, e.g. `friday:monday`.
        return "start day cannot be before end day"
    return None


def _check_days(_text: str, r: InclusiveRange) -> str | None:
    for n in (r.begin, r.end):
        if n == 0 or not -31 <= n <= 31:
            return f"{n} is not a valid day of the month: out of range"
    if r.begin < 0 < r.end:
        return "end day must be negative if start day is negative"
    # Negative days depend on the month: reject only ranges empty even in a 28-day month.
    check_begin = 28 + r.begin if r.begin < 0 else r.begin
    check_end = 28 + r.end if r.end < 0 else r.end
    if check_begin > check_end:
        return f"end day {r.end} is always before start day {r.begin}"
    return None


def _check_months(text: str, r: InclusiveRange) -> str | None:
    # Alertmanager accepts any number here (13 would never match); reject it instead.
    for n in (r.begin, r.end):
        if not 1 <= n <= 12:
            return f"{n} is not a valid month: out of range"
    if r.begin > r.end:
        return f"end month {MONTHS[r.end - 1]} is before start month {MONTHS[r.begin - 1]}"
    return None


def _check_years(_text: str, r: InclusiveRange) -> str | None:
    if r.begin <= 0:
        return f"{r.begin} is not a valid year: must be positive"
    if r.begin > r.end:
        return f"end year {r.end} is before start year {r.begin}"
    return None


def _weekday_range(node: Node) -> InclusiveRange | None:
    return _ranged(node, _weekday, _check_weekdays)


def _day_range(node: Node) -> InclusiveRange | None:
    return _ranged(node, _atoi, _check_days)


def _month_range(node: Node) -> InclusiveRange | None:
    return _ranged(node, _month, _check_months)


def _year_range(node: Node) -> InclusiveRange | None:
    return _ranged(node, _atoi, _check_years)


def _location(node: Node) -> ZoneInfo | None:
    child = node.get("location")
    if child is None or child.is_null:
        return None
    name = child.as_str()
    if name is None or name in ("", "UTC"):
        return None
    if name == "Local":
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # ValueError: keys such as "../x" or absolute paths, which Go also refuses.
        child.error(f"unknown time zone {name}")
        return None


def local_zone() -> ZoneInfo:
    """The machine's zone, as Go resolves `Local`: $TZ, else /etc/localtime, else UTC."""
    tz = os.environ.get("TZ")
    if tz is not None:
        try:
            return ZoneInfo(tz.removeprefix(":")) if tz else ZoneInfo("UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")
    try:
        with Path("/etc/localtime").open("rb") as f:
            return ZoneInfo.from_file(f, key="Local")
    except (OSError, ValueError):
        return ZoneInfo("UTC")
