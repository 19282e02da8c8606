"""time_intervals: every field and range form, boundaries, zones and DST, validation errors
with their positions, and the route mute/active decision.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from router.config.fields import FieldReader
from router.config.interval_types import InclusiveRange, TimeInterval, TimeRange, TimeSpec
from router.config.time_intervals import parse_time_intervals
from router.config.yaml_source import Source
from router.noise.time_intervals import is_muted


def parse(text: str) -> tuple[dict[str, TimeInterval], list[str]]:
    """Parse a `time_intervals:` document; problems as `line:col: path: message`."""
    src = Source("t.yml")
    root = src.compose(text)
    assert root is not None
    items = root.get_list("time_intervals") or []
    out = parse_time_intervals(FieldReader(src, Path()), items)
    return out, [f"{p.line}:{p.col}: {p.path}: {p.message}" for p in src.sorted_problems()]


def one(spec_yaml: str) -> TimeInterval:
    """A single interval named `x` holding one spec written as flow YAML."""
    found, problems = parse(f"time_intervals:\n  - name: x\n    time_intervals: [{spec_yaml}]\n")
    assert problems == []
    return found["x"]


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC).timestamp()


# -- evaluation ----------------------------------------------------------------------


def test_parsed_values() -> None:
    found, problems = parse(
        """
time_intervals:
  - name: offhours
    time_intervals:
      - times:
          - {start_time: "00:00", end_time: "09:00"}
          - {start_time: 17:00, end_time: "24:00"}
        weekdays: ['Monday:FRIDAY', sunday]
        days_of_month: ['1:5', -1, '-3:-2']
        months: ['january:March', 12, 'may:6']
        years: ['2025:2026', 2030]
        location: Europe/Paris
      - {}
"""
    )
    assert problems == []
    spec, always = found["offhours"].specs
    assert spec == TimeSpec(
        times=(TimeRange(0, 540), TimeRange(1020, 1440)),
        weekdays=(InclusiveRange(1, 5), InclusiveRange(0, 0)),
        days_of_month=(InclusiveRange(1, 5), InclusiveRange(-1, -1), InclusiveRange(-3, -2)),
        months=(InclusiveRange(1, 3), InclusiveRange(12, 12), InclusiveRange(5, 6)),
        years=(InclusiveRange(2025, 2026), InclusiveRange(2030, 2030)),
        location=ZoneInfo("Europe/Paris"),
    )
    assert always == TimeSpec()
    assert always.contains(0.0)


def test_times_start_inclusive_end_exclusive() -> None:
    iv = one("{times: [{start_time: '09:00', end_time: '17:00'}]}")
    assert not iv.contains(utc(2025, 6, 2, 8, 59, 59))
    assert iv.contains(utc(2025, 6, 2, 9, 0))
    assert iv.contains(utc(2025, 6, 2, 16, 59, 59))
    assert not iv.contains(utc(2025, 6, 2, 17, 0))


def test_times_until_2400_covers_the_last_minute() -> None:
    iv = one("{times: [{start_time: '23:00', end_time: '24:00'}]}")
    assert iv.contains(utc(2025, 6, 2, 23, 59, 59))
    assert not iv.contains(utc(2025, 6, 3, 0, 0))


def test_several_times_are_or_ed() -> None:
    iv = one(
        "{times: [{start_time: '00:00', end_time: '09:00'},"
        " {start_time: '17:00', end_time: '24:00'}]}"
    )
    assert iv.contains(utc(2025, 6, 2, 3))
    assert not iv.contains(utc(2025, 6, 2, 12))
    assert iv.contains(utc(2025, 6, 2, 20))


def test_weekdays_sunday_is_day_zero_and_ranges_are_inclusive() -> None:
    # 2025-06-01 is a Sunday.
    weekend = one("{weekdays: [saturday, Sunday]}")
    workweek = one("{weekdays: ['monday:friday']}")
    assert weekend.contains(utc(2025, 6, 1, 12))
    assert weekend.contains(utc(2025, 5, 31, 12))
    assert not weekend.contains(utc(2025, 6, 2, 12))
    assert workweek.contains(utc(2025, 6, 2))  # Monday 00:00
    assert workweek.contains(utc(2025, 6, 6, 23, 59))  # Friday
    assert not workweek.contains(utc(2025, 6, 7))  # Saturday


def test_days_of_month_positive_and_ranges() -> None:
    iv = one("{days_of_month: ['1:5', 15]}")
    assert iv.contains(utc(2025, 6, 1))
    assert iv.contains(utc(2025, 6, 5, 23))
    assert not iv.contains(utc(2025, 6, 6))
    assert iv.contains(utc(2025, 6, 15))
    assert not iv.contains(utc(2025, 6, 16))


@pytest.mark.parametrize(
    ("year", "first_day"),
    [(2024, 27), (2025, 26)],  # 2024 is a leap year: February has 29 days
)
def test_last_three_days_of_february(year: int, first_day: int) -> None:
    iv = one("{days_of_month: ['-3:-1']}")
    last = first_day + 2
    assert not iv.contains(utc(year, 2, first_day - 1, 23, 59))
    assert iv.contains(utc(year, 2, first_day))
    assert iv.contains(utc(year, 2, last, 23, 59))
    assert not iv.contains(utc(year, 3, 1))
    assert iv.contains(utc(year, 3, 29))  # March has 31 days: 29..31


def test_days_beyond_the_month_are_clamped_or_skipped() -> None:
    clamped = one("{days_of_month: ['28:31']}")
    assert clamped.contains(utc(2025, 2, 28))
    assert clamped.contains(utc(2025, 4, 30))
    skipped = one("{days_of_month: ['30:31']}")
    assert not any(skipped.contains(utc(2025, 2, d)) for d in range(1, 29))
    assert skipped.contains(utc(2025, 3, 31))
    # In a 28-day month -31 resolves before the 1st and -27 to the 2nd.
    first_days = one("{days_of_month: ['-31:-27']}")
    assert first_days.contains(utc(2025, 2, 1))
    assert first_days.contains(utc(2025, 2, 2))
    assert not first_days.contains(utc(2025, 2, 3))
    assert first_days.contains(utc(2025, 3, 5))  # 31 days: 1..5
    assert not first_days.contains(utc(2025, 3, 6))


def test_months_and_years() -> None:
    iv = one("{months: ['january:march', december], years: ['2025:2026']}")
    assert iv.contains(utc(2025, 1, 1))
    assert iv.contains(utc(2026, 3, 31, 23))
    assert not iv.contains(utc(2026, 4, 1))
    assert iv.contains(utc(2026, 12, 31))
    assert not iv.contains(utc(2027, 1, 1))
    assert not iv.contains(utc(2024, 12, 31))
    assert one("{months: [2]}").contains(utc(2025, 2, 10))


def test_fields_are_and_ed_and_any_spec_matches() -> None:
    found, problems = parse(
        """
time_intervals:
  - name: x
    time_intervals:
      - {weekdays: [monday], times: [{start_time: '09:00', end_time: '10:00'}]}
      - {days_of_month: [15]}
"""
    )
    assert problems == []
    iv = found["x"]
    assert iv.contains(utc(2025, 6, 2, 9, 30))  # Monday 09:30
    assert not iv.contains(utc(2025, 6, 2, 10, 30))  # Monday, wrong time
    assert not iv.contains(utc(2025, 6, 3, 9, 30))  # Tuesday, right time
    assert iv.contains(utc(2025, 6, 15, 3))  # second spec


def test_empty_list_field_matches_nothing_as_in_alertmanager() -> None:
    assert not one("{weekdays: []}").contains(utc(2025, 6, 2))
    assert one("{weekdays: null}").contains(utc(2025, 6, 2))


def test_location_converts_before_every_field() -> None:
    # 2025-06-01T23:30Z is Monday 2025-06-02 01:30 in Paris (CEST, UTC+2).
    ts = utc(2025, 6, 1, 23, 30)
    paris = "location: Europe/Paris"
    assert one(f"{{weekdays: [monday], {paris}}}").contains(ts)
    assert not one("{weekdays: [monday]}").contains(ts)
    assert one(f"{{days_of_month: [2], {paris}}}").contains(ts)
    assert one(f"{{times: [{{start_time: '01:00', end_time: '02:00'}}], {paris}}}").contains(ts)
    # New Year in Tokyo while still December 31st in UTC.
    new_year = utc(2025, 12, 31, 16)
    assert one("{years: [2026], months: [1], location: Asia/Tokyo}").contains(new_year)
    assert one("{years: [2025], location: UTC}").contains(new_year)


def test_local_follows_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    iv = one("{times: [{start_time: '09:00', end_time: '17:00'}], location: Local}")
    assert iv.contains(utc(2025, 6, 2, 14))  # 10:00 EDT
    assert not iv.contains(utc(2025, 6, 2, 22))  # 18:00 EDT


def test_spring_forward_skips_the_missing_hour() -> None:
    # Europe/Paris jumps 02:00 CET → 03:00 CEST on 2025-03-30 (01:00 UTC): no instant of
    # that day reads 02:xx on the wall clock, so a 02:00–03:00 window never contains one.
    iv = one(
        "{times: [{start_time: '02:00', end_time: '03:00'}], location: Europe/Paris,"
        " days_of_month: [29, 30], months: [march]}"
    )
    assert not iv.contains(1743296399)  # 2025-03-30T00:59:59Z = 01:59:59 CET
    assert not iv.contains(1743296400)  # 2025-03-30T01:00:00Z = 03:00:00 CEST
    assert not iv.contains(1743298200)  # 2025-03-30T01:30:00Z = 03:30 CEST
    assert iv.contains(1743211800)  # 2025-03-29T01:30:00Z = 02:30 CET, the day before


def test_office_hours_follow_the_wall_clock_across_the_october_change() -> None:
    # 09:00–17:00 Paris is 07:00–15:00Z in summer time and 08:00–16:00Z after 2025-10-26.
    iv = one("{times: [{start_time: '09:00', end_time: '17:00'}], location: Europe/Paris}")
    assert not iv.contains(1761375540)  # 2025-10-25T06:59Z = 08:59 CEST
    assert iv.contains(1761375600)  # 2025-10-25T07:00Z = 09:00 CEST
    assert iv.contains(1761404340)  # 2025-10-25T14:59Z = 16:59 CEST
    assert not iv.contains(1761404400)  # 2025-10-25T15:00Z = 17:00 CEST
    assert not iv.contains(1761463800)  # 2025-10-26T07:30Z = 08:30 CET
    assert iv.contains(1761465600)  # 2025-10-26T08:00Z = 09:00 CET
    assert iv.contains(1761494340)  # 2025-10-26T15:59Z = 16:59 CET
    assert not iv.contains(1761494400)  # 2025-10-26T16:00Z = 17:00 CET


def test_fall_back_hour_happens_twice() -> None:
    iv = one("{times: [{start_time: '02:00', end_time: '03:00'}], location: Europe/Paris}")
    assert iv.contains(1761438600)  # 2025-10-26T00:30Z = 02:30 CEST
    assert iv.contains(1761442200)  # 2025-10-26T01:30Z = 02:30 CET
    assert not iv.contains(1761444000)  # 2025-10-26T02:00Z = 03:00 CET


# -- is_muted ------------------------------------------------------------------------


def test_is_muted() -> None:
    found, problems = parse(
        """
time_intervals:
  - name: nights
    time_intervals: [{times: [{start_time: '00:00', end_time: '08:00'}]}]
  - name: weekend
    time_intervals: [{weekdays: [saturday, sunday]}]
  - name: office
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
"""
    )
    assert problems == []
    monday_3am, monday_noon, monday_8pm = (
        utc(2025, 6, 2, 3),
        utc(2025, 6, 2, 12),
        utc(2025, 6, 2, 20),
    )
    saturday_3am = utc(2025, 6, 7, 3)
    assert is_muted([], [], found, monday_3am) is None
    assert is_muted(["nights"], [], found, monday_3am) == "mute_interval:nights"
    assert is_muted(["nights"], [], found, monday_noon) is None
    # The first listed interval containing now names the reason.
    assert is_muted(["weekend", "nights"], [], found, saturday_3am) == "mute_interval:weekend"
    assert is_muted(["nights", "weekend"], [], found, saturday_3am) == "mute_interval:nights"
    assert is_muted([], ["office"], found, monday_noon) is None
    assert is_muted([], ["office"], found, monday_8pm) == "inactive_interval"
    assert is_muted([], ["office", "nights"], found, monday_3am) is None
    # Both at once: active during office hours, but muted on weekends.
    saturday_noon = utc(2025, 6, 7, 12)
    assert is_muted(["weekend"], ["office"], found, saturday_noon) == "mute_interval:weekend"
    assert is_muted(["weekend"], ["office"], found, monday_noon) is None
    with pytest.raises(KeyError, match="time interval nope doesn't exist in config"):
        is_muted(["nope"], [], found, monday_noon)


# -- validation ----------------------------------------------------------------------


def spec_problems(spec_yaml: str) -> list[str]:
    _, problems = parse(f"time_intervals:\n  - name: x\n    time_intervals:\n      - {spec_yaml}\n")
    return problems


P = "time_intervals[0].time_intervals[0]"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            "{times: [{start_time: '17:00', end_time: '09:00'}]}",
            f"4:18: {P}.times[0]: start time cannot be equal or greater than end time",
        ),
        (
            "{times: [{start_time: '09:00', end_time: '09:00'}]}",
            f"4:18: {P}.times[0]: start time cannot be equal or greater than end time",
        ),
        (
            "{times: [{start_time: '9:00', end_time: '17:00'}]}",
            f"4:31: {P}.times[0].start_time: couldn't parse timestamp 9:00, invalid format",
        ),
        (
            "{times: [{start_time: '00:00', end_time: '24:01'}]}",
            f"4:50: {P}.times[0].end_time: couldn't parse timestamp 24:01, invalid format",
        ),
        (
            "{times: [{start_time: '00:00'}]}",
            f"4:18: {P}.times[0]: both start and end times must be provided",
        ),
        (
            "{weekdays: ['friday:monday']}",
            f"4:21: {P}.weekdays[0]: start day cannot be before end day",
        ),
        (
            "{weekdays: ['saturday:sunday']}",  # the week starts on Sunday: no wrapping
            f"4:21: {P}.weekdays[0]: start day cannot be before end day",
        ),
        (
            "{weekdays: [mon]}",
            f'4:21: {P}.weekdays[0]: mon is not a valid weekday (did you mean "monday"?)',
        ),
        (
            "{weekdays: [Thurs]}",
            f'4:21: {P}.weekdays[0]: thurs is not a valid weekday (did you mean "thursday"?)',
        ),
        ("{weekdays: [1]}", f"4:21: {P}.weekdays[0]: 1 is not a valid weekday"),
        (
            "{weekdays: ['monday:tuesday:friday']}",
            f"4:21: {P}.weekdays[0]: couldn't parse range monday:tuesday:friday, invalid format",
        ),
        (
            "{days_of_month: [0]}",
            f"4:26: {P}.days_of_month[0]: 0 is not a valid day of the month: out of range",
        ),
        (
            "{days_of_month: ['1:32']}",
            f"4:26: {P}.days_of_month[0]: 32 is not a valid day of the month: out of range",
        ),
        (
            "{days_of_month: ['-3:5']}",
            f"4:26: {P}.days_of_month[0]: end day must be negative if start day is negative",
        ),
        (
            "{days_of_month: ['-1:-3']}",
            f"4:26: {P}.days_of_month[0]: end day -3 is always before start day -1",
        ),
        (
            "{days_of_month: ['10:-20']}",
            f"4:26: {P}.days_of_month[0]: end day -20 is always before start day 10",
        ),
        (
            "{days_of_month: [first]}",
            f'4:26: {P}.days_of_month[0]: strconv.Atoi: parsing "first": invalid syntax',
        ),
        (
            "{months: ['march:january']}",
            f"4:19: {P}.months[0]: end month january is before start month march",
        ),
        (
            "{months: [janury]}",
            f'4:19: {P}.months[0]: janury is not a valid month (did you mean "january"?)',
        ),
        ("{months: [13]}", f"4:19: {P}.months[0]: 13 is not a valid month: out of range"),
        (
            "{years: ['2026:2025']}",
            f"4:18: {P}.years[0]: end year 2025 is before start year 2026",
        ),
        (
            "{location: Mars/Olympus}",
            f"4:20: {P}.location: unknown time zone Mars/Olympus",
        ),
        (
            "{weekday: [monday]}",
            f'4:10: {P}.weekday: unknown key "weekday" (did you mean "weekdays"?)',
        ),
    ],
)
def test_spec_validation(spec: str, expected: str) -> None:
    assert spec_problems(spec) == [expected]


def test_valid_edge_forms() -> None:
    assert spec_problems("{days_of_month: ['-28:-1', '-31:-1', '1:31'], years: [1]}") == []
    assert spec_problems("{weekdays: [SUNDAY], months: [DECEMBER], location: Local}") == []
    assert spec_problems("{times: [{start_time: '00:00', end_time: '24:00'}]}") == []


def test_every_problem_is_reported() -> None:
    _, problems = parse(
        """
time_intervals:
  - name: a
    time_intervals:
      - weekdays: ['friday:monday']
        days_of_month: [0]
  - name: a
    time_intervals: []
  - time_intervals: []
  - name: b
    time_intervals: [{}]
    extra: 1
"""
    )
    assert problems == [
        "5:20: time_intervals[0].time_intervals[0].weekdays[0]: start day cannot be before end day",
        "6:25: time_intervals[0].time_intervals[0].days_of_month[0]: "
        "0 is not a valid day of the month: out of range",
        '7:11: time_intervals[1].name: time interval "a" is not unique',
        "9:5: time_intervals[2]: missing name in time interval",
        '12:5: time_intervals[3].extra: unknown key "extra"',
    ]


def test_duplicate_names_keep_the_first() -> None:
    found, _ = parse(
        """
time_intervals:
  - name: a
    time_intervals: [{weekdays: [monday]}]
  - name: a
    time_intervals: [{weekdays: [tuesday]}]
"""
    )
    assert found["a"].specs[0].weekdays == (InclusiveRange(1, 1),)
