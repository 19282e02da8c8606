"""Domain values: fingerprints against Alertmanager, RFC 3339 in and out, common items, order."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from router.model import Alert, common_items, fingerprint, make_alert, sort_alerts
from router.timefmt import GO_ZERO_TIME, format_time, parse_time

FIXTURES = Path(__file__).parent / "data" / "fixtures"


def _fixture_alerts() -> list[Any]:
    out = []
    for path in sorted(FIXTURES.glob("*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))["body"]
        for i, item in enumerate(body["alerts"]):
            out.append(pytest.param(item["labels"], item["fingerprint"], id=f"{path.stem}[{i}]"))
    return out


FIXTURE_ALERTS = _fixture_alerts()


def test_fixtures_hold_alerts() -> None:
    # Guards the parametrization below against silently collecting nothing.
    assert len(FIXTURE_ALERTS) >= 4


@pytest.mark.parametrize(("labels", "expected"), FIXTURE_ALERTS)
def test_fingerprint_matches_alertmanager_payloads(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"job": "foo", "severity": "warning"}, "9266ef3da838ad95"),
        ({"job": "foo", "severity": "critical"}, "3b15fd163d36582e"),
        ({"alertname": "alert1", "severity": "critical"}, "0223b772b51c29e1"),
        ({}, "cbf29ce484222325"),
    ],
)
def test_fingerprint_test_vectors(labels: dict[str, str], expected: str) -> None:
    assert fingerprint(labels) == expected


def test_fingerprint_ignores_insertion_order_and_is_zero_padded_hex() -> None:
    a = fingerprint({"severity": "warning", "job": "foo"})
    assert a == fingerprint({"job": "foo", "severity": "warning"})
    for labels in ({"a": str(i)} for i in range(200)):
        fp = fingerprint(labels)
        assert len(fp) == 16
        assert fp == fp.lower()
        int(fp, 16)


def test_fingerprint_separates_names_from_values() -> None:
    # The 0xFF separator keeps {"ab": "c"} and {"a": "bc"} apart.
    assert fingerprint({"ab": "c"}) != fingerprint({"a": "bc"})


def test_make_alert_fingerprints_labels_only() -> None:
    a = make_alert({"alertname": "X"}, {"summary": "one"}, 1.0, None, "", 2.0)
    b = make_alert({"alertname": "X"}, {"summary": "two"}, 1.0, None, "", 2.0)
    assert a.fingerprint == b.fingerprint == fingerprint({"alertname": "X"})


# --- parse_time ------------------------------------------------------------------------


def _ts(year: int, month: int, day: int, hour: int, minute: int, second: int) -> float:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp()


def test_parse_time_nanoseconds() -> None:
    got = parse_time("2026-11-24T22:42:51.668498258Z")
    assert got == pytest.approx(_ts(2026, 11, 24, 22, 42, 51) + 0.668498258, abs=1e-6)


@pytest.mark.parametrize(
    "value",
    [
        "2025-03-04T10:40:00Z",
        "2025-03-04T10:40:00z",
        "2025-03-04T12:40:00+02:00",
        "2025-03-04T05:10:00-05:30",
        "2025-03-04T10:40:00.000Z",
        "2025-03-04 10:40:00+00:00",
    ],
)
def test_parse_time_offsets(value: str) -> None:
    assert parse_time(value) == _ts(2025, 3, 4, 10, 40, 0)


def test_parse_time_offset_with_fraction() -> None:
    assert parse_time("2025-03-04T12:40:00.25+02:00") == _ts(2025, 3, 4, 10, 40, 0) + 0.25


def test_parse_time_go_zero_time_is_none() -> None:
    assert parse_time(GO_ZERO_TIME) is None
    assert parse_time("0001-01-01T00:00:00Z") is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "1700000000",
        "2025-03-04T10:40:00",  # no offset
        "2025-03-04",
        "2025-13-01T00:00:00Z",  # month 13
        "2025-02-30T00:00:00Z",  # no such day
        "2025-03-04T25:00:00Z",
        "2025-03-04T10:40:00.Z",
        " 2025-03-04T10:40:00Z",
        "2025-03-04T10:40:00+0200",
    ],
)
def test_parse_time_garbage_raises_value_error(value: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339") as info:
        parse_time(value)
    assert repr(value) in str(info.value)


# --- format_time -----------------------------------------------------------------------


def test_format_time_whole_seconds_have_no_fraction() -> None:
    assert format_time(_ts(2025, 3, 4, 10, 40, 0)) == "2025-03-04T10:40:00Z"


def test_format_time_none_is_go_zero_time() -> None:
    assert format_time(None) == "0001-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("fraction", "suffix"),
    [(0.5, ".5Z"), (0.25, ".25Z"), (0.123456, ".123456Z"), (0.1, ".1Z"), (0.000001, ".000001Z")],
)
def test_format_time_trims_trailing_zeros(fraction: float, suffix: str) -> None:
    assert format_time(_ts(2025, 3, 4, 10, 40, 0) + fraction) == "2025-03-04T10:40:00" + suffix


def test_format_time_rounding_carries_into_the_next_second() -> None:
    assert format_time(_ts(2025, 3, 4, 10, 40, 59) + 0.9999997) == "2025-03-04T10:41:00Z"


def test_format_time_round_trips_through_parse_time() -> None:
    for text in ("2026-11-24T22:42:51.668498Z", "1999-12-31T23:59:59Z", "2025-03-04T10:40:00.5Z"):
        parsed = parse_time(text)
        assert parsed is not None
        assert format_time(parsed) == text


# --- common_items ----------------------------------------------------------------------


def test_common_items_of_nothing_is_empty() -> None:
    assert common_items([]) == {}


def test_common_items_keeps_pairs_equal_everywhere() -> None:
    maps = [
        {"alertname": "X", "severity": "critical", "instance": "a", "team": "db"},
        {"alertname": "X", "severity": "critical", "instance": "b"},
        {"alertname": "X", "severity": "critical", "instance": "c", "team": "db"},
    ]
    assert common_items(maps) == {"alertname": "X", "severity": "critical"}


def test_common_items_of_one_map_is_that_map_and_a_copy() -> None:
    only = {"a": "1", "b": "2"}
    got = common_items(iter([only]))
    assert got == only
    got["c"] = "3"
    assert only == {"a": "1", "b": "2"}


def test_common_items_with_nothing_in_common() -> None:
    assert common_items([{"a": "1"}, {"a": "2"}, {"a": "1"}]) == {}


# --- sort_alerts -----------------------------------------------------------------------


def _alert(**labels: str) -> Alert:
    return make_alert(labels, {}, 0.0, None, "", 0.0)


def _names(alerts: tuple[Alert, ...]) -> list[str]:
    return [a.labels["alertname"] for a in alerts]


def test_sort_by_job_then_instance() -> None:
    alerts = [
        _alert(alertname="4", job="b", instance="a"),
        _alert(alertname="3", job="a", instance="z"),
        _alert(alertname="1", job="a", instance="a"),
        _alert(alertname="2", job="a", instance="b"),
    ]
    assert _names(sort_alerts(alerts)) == ["1", "2", "3", "4"]


def test_alerts_with_job_or_instance_sort_before_those_without() -> None:
    # Alertmanager's AlertSlice.Less: a missing job/instance sorts last, not first.
    alerts = [
        _alert(alertname="4"),
        _alert(alertname="3", instance="a"),
        _alert(alertname="2", job="z"),
        _alert(alertname="1", job="z", instance="z"),
    ]
    assert _names(sort_alerts(alerts)) == ["1", "2", "3", "4"]


def test_then_by_label_set_fewer_labels_first() -> None:
    alerts = [
        _alert(alertname="A", a="1", b="1"),
        _alert(alertname="Z"),
        _alert(alertname="B", a="1"),
    ]
    assert _names(sort_alerts(alerts)) == ["Z", "B", "A"]


def test_then_by_label_set_values_in_name_order() -> None:
    alerts = [
        _alert(alertname="X", severity="warning"),
        _alert(alertname="X", severity="critical"),
        _alert(alertname="W", severity="warning"),
    ]
    got = [(a.labels["alertname"], a.labels["severity"]) for a in sort_alerts(alerts)]
    assert got == [("W", "warning"), ("X", "critical"), ("X", "warning")]


def test_then_by_label_set_missing_name_sorts_first() -> None:
    # prometheus' LabelSet.Before: over the sorted union of names, the first name one set
    # lacks puts that set first ("region" < "zone": the set without "region" wins).
    with_zone = _alert(alertname="X", zone="a")
    with_region = _alert(alertname="X", region="z")
    assert sort_alerts([with_region, with_zone]) == (with_zone, with_region)
    assert sort_alerts([with_zone, with_region]) == (with_zone, with_region)


def test_sort_is_independent_of_input_order() -> None:
    alerts = [
        _alert(alertname=str(i), job=f"j{i % 3}", instance=f"i{i % 4}", extra=str(i % 5))
        for i in range(30)
    ]
    expected = sort_alerts(alerts)
    rng = random.Random(7)
    for _ in range(10):
        shuffled = list(alerts)
        rng.shuffle(shuffled)
        assert sort_alerts(shuffled) == expected
