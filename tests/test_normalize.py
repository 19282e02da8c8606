"""Input formats → alerts: Alertmanager webhook v4, API v2 postable alerts, mapped JSON events.

Every rejected shape names the JSON path of the bad field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from router.config.types import SourceConfig
from router.errors import InputError
from router.ingest.formats import EventMapper, from_postable, from_webhook
from router.model import fingerprint
from router.timefmt import parse_time

FIXTURES = Path(__file__).parent / "data" / "fixtures"
FIXTURE_NAMES = sorted(p.name for p in FIXTURES.glob("*.json"))

T0 = 1_700_000_000.0
RT = 300.0
# After every captured payload (they were captured on 2026-11-24).
AFTER_FIXTURES = parse_time("2026-11-25T00:00:00Z") or 0.0


def body_of(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]
    return data


def input_error(fn: Any, *args: Any) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args)
    return info.value


# --- Alertmanager webhook v4 -------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_webhook_fixtures(name: str) -> None:
    body = body_of(name)
    alerts = from_webhook(body, AFTER_FIXTURES)
    assert len(alerts) == len(body["alerts"])
    for got, sent in zip(alerts, body["alerts"], strict=True):
        assert got.labels == sent["labels"]
        assert got.annotations == sent["annotations"]
        assert got.fingerprint == sent["fingerprint"]
        assert got.generator_url == sent["generatorURL"]
        assert got.starts_at == parse_time(sent["startsAt"])
        assert got.source == "alertmanager"
        assert got.received_at == AFTER_FIXTURES
        assert not got.timeout_end
        if sent["status"] == "firing":
            # Firing copies carry Go's zero endsAt: no known end, firing until resolved.
            assert got.ends_at is None
            assert not got.resolved(AFTER_FIXTURES + 10 * 86400)
        else:
            assert got.ends_at == parse_time(sent["endsAt"])
            assert got.resolved(AFTER_FIXTURES)


def test_webhook_fixtures_cover_firing_and_resolved() -> None:
    statuses = {a["status"] for n in FIXTURE_NAMES for a in body_of(n)["alerts"]}
    assert statuses == {"firing", "resolved"}


def test_webhook_resolved_without_or_with_future_end_resolves_now() -> None:
    body = {"version": "4", "alerts": [
        {"status": "resolved", "labels": {"alertname": "A"}, "startsAt": "2023-11-14T22:00:00Z"},
        {"status": "resolved", "labels": {"alertname": "B"}, "startsAt": "2023-11-14T22:00:00Z",
         "endsAt": "2099-01-01T00:00:00Z"},
    ]}
    a, b = from_webhook(body, T0)
    assert a.ends_at == T0
    assert b.ends_at == T0
    assert a.resolved(T0)


def test_webhook_minimal_alert_defaults() -> None:
    (a,) = from_webhook({"alerts": [{"labels": {"alertname": "A", "empty": ""}}]}, T0)
    assert a.labels == {"alertname": "A"}
    assert (a.starts_at, a.ends_at, a.annotations, a.generator_url) == (T0, None, {}, "")


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ([], "$", "expected an object, got an array"),
        ({"version": "3", "alerts": []}, "version", "unsupported webhook version"),
        ({"version": "4"}, "alerts", "expected an array of alerts, got null"),
        ({"alerts": {"a": 1}}, "alerts", "expected an array of alerts, got an object"),
        ({"alerts": ["x"]}, "alerts[0]", "expected an object, got a string"),
        ({"alerts": [{"labels": {"a": "b"}, "status": "pending"}]}, "alerts[0].status",
         'status must be "firing" or "resolved"'),
        ({"alerts": [{"labels": {"a": "b"}, "startsAt": "soon"}]}, "alerts[0].startsAt",
         "not an RFC 3339 timestamp"),
        ({"alerts": [{"labels": {"a": "b"}}, {"labels": {"a": "b"}, "endsAt": 5}]},
         "alerts[1].endsAt", "expected an RFC 3339 timestamp string, got a number"),
        ({"alerts": [{"status": "firing"}]}, "alerts[0].labels",
         "expected an object, got null"),
        ({"alerts": [{"labels": {"a": ""}}]}, "alerts[0].labels",
         "at least one label with a non-empty value is required"),
        ({"alerts": [{"labels": {"a": "b"}, "annotations": {"summary": 1}}]},
         "alerts[0].annotations.summary", "expected a string value, got a number"),
        ({"alerts": [{"labels": {"a": "b"}, "generatorURL": True}]},
         "alerts[0].generatorURL", "expected a string, got a boolean"),
    ],
)
def test_webhook_bad_shapes(body: Any, path: str, message: str) -> None:
    err = input_error(from_webhook, body, T0)
    assert err.path == path
    assert message in err.message
    assert type(err) is InputError  # the web edge answers a plain InputError 422


# --- API v2 postable alerts ----------------------------------------------------------------


def test_postable_full_alert() -> None:
    body = [{
        "labels": {"alertname": "HighLatency", "severity": "page"},
        "annotations": {"summary": "p99 above 1s"},
        "startsAt": "2023-11-14T22:00:00Z",
        "endsAt": "2023-11-14T22:20:00.5Z",
        "generatorURL": "http://prom/graph",
    }]
    (a,) = from_postable(body, T0, RT)
    assert a.labels == {"alertname": "HighLatency", "severity": "page"}
    assert a.annotations == {"summary": "p99 above 1s"}
    assert a.starts_at == parse_time("2023-11-14T22:00:00Z")
    assert a.ends_at == parse_time("2023-11-14T22:20:00.5Z")
    assert a.generator_url == "http://prom/graph"
    assert a.fingerprint == fingerprint({"alertname": "HighLatency", "severity": "page"})
    assert a.source == "api"
    assert not a.timeout_end


def test_postable_no_times_fires_now_and_times_out() -> None:
    (a,) = from_postable([{"labels": {"alertname": "A"}}], T0, RT)
    assert (a.starts_at, a.ends_at, a.timeout_end) == (T0, T0 + RT, True)
    assert not a.resolved(T0 + RT - 1)
    assert a.resolved(T0 + RT)


def test_postable_only_starts_at_times_out() -> None:
    (a,) = from_postable([{"labels": {"a": "b"}, "startsAt": "2023-11-14T22:00:00Z",
                           "endsAt": "0001-01-01T00:00:00Z"}], T0, RT)
    assert a.starts_at == parse_time("2023-11-14T22:00:00Z")
    assert (a.ends_at, a.timeout_end) == (T0 + RT, True)


def test_postable_only_past_ends_at_starts_at_ends_at() -> None:
    (a,) = from_postable([{"labels": {"a": "b"}, "endsAt": "2023-11-14T22:00:00Z"}], T0, RT)
    ends = parse_time("2023-11-14T22:00:00Z")
    assert (a.starts_at, a.ends_at, a.timeout_end) == (ends, ends, False)
    assert a.resolved(T0)


def test_postable_empty_label_values_are_dropped() -> None:
    (a,) = from_postable([{"labels": {"alertname": "A", "instance": "", "job": "x"}}], T0, RT)
    assert a.labels == {"alertname": "A", "job": "x"}
    assert a.fingerprint == fingerprint({"alertname": "A", "job": "x"})


def test_postable_non_ascii_label_values_are_accepted() -> None:
    labels = {"alertname": "Größe", "team": "données", "emoji": "🔥 日本"}
    (a,) = from_postable([{"labels": labels, "annotations": {"résumé": "été"}}], T0, RT)
    assert a.labels == labels
    assert a.annotations == {"résumé": "été"}
    assert a.fingerprint == fingerprint(labels)


def test_postable_source_name_is_kept() -> None:
    (a,) = from_postable([{"labels": {"a": "b"}}], T0, RT, source="events")
    assert a.source == "events"


GOOD = {"labels": {"alertname": "ok"}}


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ({"labels": {"a": "b"}}, "$", "expected an array of alerts, got an object"),
        ("[]", "$", "expected an array of alerts, got a string"),
        ([GOOD, 7], "[1]", "expected an object, got a number"),
        ([GOOD, GOOD, GOOD, {"labels": {"foo": 1}}], "[3].labels.foo",
         "expected a string value, got a number"),
        ([{"labels": {"foo": None}}], "[0].labels.foo", "expected a string value, got null"),
        ([{}], "[0].labels", "expected an object, got null"),
        ([{"labels": {}}], "[0].labels", "at least one label with a non-empty value"),
        ([{"labels": {"a": "", "b": ""}}], "[0].labels", "at least one label"),
        ([{"labels": ["alertname", "x"]}], "[0].labels", "expected an object, got an array"),
        ([{"labels": {"": "x"}}], "[0].labels", "label names must not be empty"),
        ([{"labels": {"a": "b"}, "annotations": "x"}], "[0].annotations",
         "expected an object, got a string"),
        ([{"labels": {"a": "b"}, "annotations": {"x": ["y"]}}], "[0].annotations.x",
         "expected a string value, got an array"),
        ([GOOD, {"labels": {"a": "b"}, "startsAt": "yesterday"}], "[1].startsAt",
         "not an RFC 3339 timestamp: 'yesterday'"),
        ([{"labels": {"a": "b"}, "startsAt": 1700000000}], "[0].startsAt",
         "expected an RFC 3339 timestamp string, got a number"),
        ([{"labels": {"a": "b"}, "endsAt": "2023-02-30T00:00:00Z"}], "[0].endsAt",
         "not an RFC 3339 timestamp"),
        ([{"labels": {"a": "b"}, "startsAt": "2023-11-14T22:00:00Z",
           "endsAt": "2023-11-14T21:00:00Z"}], "[0].endsAt",
         "endsAt must not be before startsAt"),
        ([{"labels": {"a": "b"}, "generatorURL": {"u": 1}}], "[0].generatorURL",
         "expected a string, got an object"),
    ],
)
def test_postable_bad_shapes(body: Any, path: str, message: str) -> None:
    err = input_error(from_postable, body, T0, RT)
    assert err.path == path
    assert message in err.message
    assert type(err) is InputError  # the web edge answers a plain InputError 422
    assert str(err) == err.message


# --- generic JSON events mapped by a `sources:` entry -------------------------------------

CI = SourceConfig(
    name="ci",
    labels={
        "alertname": "PipelineFailed",
        "pipeline": "{{ event.pipeline }}",
        "branch": "{{ event.ref | default('') }}",
    },
    annotations={"summary": "Pipeline {{ event.pipeline }} is {{ event.state }}"},
    status='{% if event.state == "failed" %}firing{% else %}resolved{% endif %}',
    generator_url="{{ event.url }}",
)


def test_event_failed_pipeline_fires() -> None:
    event = {"pipeline": "deploy-api", "state": "failed", "ref": "main",
             "url": "https://ci.example/p/42"}
    (a,) = EventMapper(CI).map(event, T0, RT)
    assert a.labels == {"alertname": "PipelineFailed", "pipeline": "deploy-api", "branch": "main"}
    assert a.annotations == {"summary": "Pipeline deploy-api is failed"}
    assert a.generator_url == "https://ci.example/p/42"
    assert (a.starts_at, a.ends_at, a.timeout_end) == (T0, T0 + RT, True)
    assert a.source == "events"
    assert not a.resolved(T0)


def test_event_passed_pipeline_resolves_the_same_alert() -> None:
    mapper = EventMapper(CI)
    (fired,) = mapper.map({"pipeline": "deploy-api", "state": "failed", "ref": "main"}, T0, RT)
    (passed,) = mapper.map({"pipeline": "deploy-api", "state": "passed", "ref": "main"},
                           T0 + 60, RT)
    assert passed.fingerprint == fired.fingerprint
    assert passed.ends_at == T0 + 60
    assert passed.resolved(T0 + 60)
    assert not passed.timeout_end


def test_event_array_maps_each_event() -> None:
    events = [
        {"pipeline": "a", "state": "failed"},
        {"pipeline": "b", "state": "success"},
    ]
    a, b = EventMapper(CI).map(events, T0, RT)
    assert (a.labels["pipeline"], a.resolved(T0)) == ("a", False)
    assert (b.labels["pipeline"], b.resolved(T0)) == ("b", True)
    # A missing field renders empty, and an empty label is dropped.
    assert "branch" not in a.labels


def test_event_times_from_the_event() -> None:
    cfg = SourceConfig(
        name="jobs", labels={"alertname": "{{ event.name }}"},
        status="{{ event.status }}", starts_at="{{ event.started }}", ends_at="{{ event.ended }}",
    )
    mapper = EventMapper(cfg)
    (a,) = mapper.map({"name": "x", "status": "RESOLVED", "started": "2023-11-14T22:00:00Z",
                       "ended": "2023-11-14T22:10:00Z"}, T0, RT)
    assert (a.starts_at, a.ends_at) == (parse_time("2023-11-14T22:00:00Z"),
                                        parse_time("2023-11-14T22:10:00Z"))
    # Firing with an explicit future end keeps it; an end already past becomes a timeout.
    (b,) = mapper.map({"name": "x", "status": "firing", "started": "2023-11-14T22:00:00Z",
                       "ended": "2023-11-14T22:30:00Z"}, T0, RT)
    assert (b.ends_at, b.timeout_end) == (parse_time("2023-11-14T22:30:00Z"), False)
    (c,) = mapper.map({"name": "x", "status": "firing", "started": "2023-11-14T21:00:00Z",
                       "ended": "2023-11-14T21:30:00Z"}, T0, RT)
    assert (c.ends_at, c.timeout_end) == (T0 + RT, True)


def test_event_without_status_template_fires() -> None:
    (a,) = EventMapper(SourceConfig(name="s", labels={"alertname": "X"})).map({}, T0, RT)
    assert not a.resolved(T0)


BY_PIPELINE = SourceConfig(name="ci", labels={"pipeline": "{{ event.pipeline }}"})


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"state": "failed"}, "$"),
        ({"pipeline": "  ", "state": "failed"}, "$"),
        ([{"pipeline": "a"}, {"state": "failed"}], "[1]"),
    ],
)
def test_event_mapped_to_no_labels(body: Any, path: str) -> None:
    err = input_error(EventMapper(BY_PIPELINE).map, body, T0, RT)
    assert (err.path, err.message) == (path, "source 'ci' mapped the event to no labels")
    assert type(err) is InputError  # the web edge answers a plain InputError 422


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ([{"pipeline": "a", "state": "failed"}, "x"], "[1]",
         "expected an event object, got a string"),
        ("just text", "$", "expected an event object, got a string"),
        (None, "$", "expected an event object, got null"),
    ],
)
def test_event_bad_input(body: Any, path: str, message: str) -> None:
    err = input_error(EventMapper(CI).map, body, T0, RT)
    assert err.path == path
    assert message in err.message
    assert type(err) is InputError  # the web edge answers a plain InputError 422


RECURSE = ("{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{% endmacro %}"
           "X{{ m(event.depth) }}")


@pytest.mark.parametrize(
    ("cfg", "event", "message"),
    [
        (SourceConfig(name="s", labels={"alertname": "X"}, status="{{ event.state }}"),
         {"state": "broken"}, "status must render to firing or resolved, got 'broken'"),
        (SourceConfig(name="s", labels={"alertname": "X"}, status="{{ event.state }}"),
         {}, "status must render to firing or resolved, got ''"),
        (SourceConfig(name="s", labels={"alertname": "X"}, starts_at="{{ event.at }}"),
         {"at": "noon"}, "not an RFC 3339 timestamp: 'noon'"),
        (SourceConfig(name="s", labels={"alertname": "{{ event.a.b.c }}"}),
         {"a": {}}, "source 's' could not map the event"),
        (SourceConfig(name="s", labels={"alertname": "X", "n": "{{ event.n + 1 }}"}),
         {"n": "seven"}, "source 's' could not map the event"),
        (SourceConfig(name="s", labels={"alertname": "X", "n": "{{ 10 / event.n }}"}),
         {"n": 0}, "source 's' could not map the event"),
        # found by tests/fuzz: a macro recursing as deep as the event says was a 503
        (SourceConfig(name="s", labels={"alertname": RECURSE}),
         {"depth": 100_000}, "source 's' could not map the event"),
        # found by tests/fuzz: a filter meeting a value of the wrong type (AttributeError)
        (SourceConfig(name="s", labels={"alertname": "X{{ event.a | xmlattr }}"}),
         {"a": ""}, "source 's' could not map the event"),
    ],
)
def test_event_mapping_failures_name_the_event(
    cfg: SourceConfig, event: dict[str, Any], message: str
) -> None:
    err = input_error(EventMapper(cfg).map, event, T0, RT)
    assert err.path == "$"
    assert message in err.message
    assert type(err) is InputError  # the web edge answers a plain InputError 422
    err = input_error(EventMapper(cfg).map, [event], T0, RT)
    assert err.path == "[0]"
