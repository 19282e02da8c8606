"""Accepted values (README "Accepted values"): what the edge refuses, and what it accepts
works everywhere downstream. Issue 11 items 1 and 2.

Every refusal is a 4xx with a JSON body naming the bad field; a value inside the bounds
renders, stores, serialises and compares; one alert that cannot be shown or flushed (if
one ever got in) fails neither the other groups nor the API views.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from channels.fakes import Fake, start_fake
from conftest import quiet, wait_until
from fakeclock import FakeClock

from router.model import make_alert
from router.timefmt import format_time, format_time_ms, parse_time

START = 1_800_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def config(url: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [pg]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
sources:
  ev:
    labels:
      alertname: "{{{{ event.name }}}}"
      pg: "{{{{ event.pg }}}}"
    starts_at: "{{{{ event.at }}}}"
"""


async def raw_post(client: Any, path: str, data: str | bytes) -> Any:
    return await client.post(path, data=data, headers={"Content-Type": "application/json"})


async def refused(client: Any, path: str, payload: Any, status: int = 422) -> dict[str, Any]:
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    resp = await raw_post(client, path, data)
    body = await resp.json()
    assert resp.status == status, body
    assert isinstance(body, dict)
    assert body["detail"]
    return body


@pytest.fixture
async def hook(aiohttp_server: Any) -> Fake:
    return await start_fake(aiohttp_server, "webhook")


# --- item 1: the reproduction ---------------------------------------------------

POISON = "9999-12-31T23:59:59.9999999Z"


async def test_poison_timestamp_is_refused_and_the_rest_keeps_working(
    make_router: Any, hook: Fake, clock: FakeClock
) -> None:
    client, _ = await make_router(config(hook.url))
    body = [{"labels": {"alertname": "Good", "pg": "1"}},
            {"labels": {"alertname": "Poison", "pg": "1"}, "startsAt": POISON, "endsAt": POISON}]
    err = await refused(client, "/api/v2/alerts", body)
    assert err["error"] == "invalid"
    assert err["path"] == "[1].startsAt"
    assert "9999-12-31T23:59:59Z" in err["detail"]
    # The sender fixes its batch; everything in it is delivered and listed.
    resp = await raw_post(client, "/api/v2/alerts", json.dumps(body[:1]))
    assert resp.status == 200
    await clock.advance(1)
    await wait_until(lambda: len(hook.requests) == 1, "the Good alert's notification")
    assert [a["labels"]["alertname"] for a in hook.requests[0].json()["alerts"]] == ["Good"]
    for path in ("/api/v1/alerts", "/api/v2/alerts"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert [a["labels"]["alertname"] for a in await resp.json()] == ["Good"]


@pytest.mark.parametrize(("path", "payload", "where"), [
    ("/api/v2/alerts", [{"labels": {"a": "1"}, "startsAt": POISON}], "[0].startsAt"),
    ("/api/v2/alerts", [{"labels": {"a": "1"}, "endsAt": "10000-01-01T00:00:00Z"}],
     "[0].endsAt"),
    ("/api/v2/alerts", [{"labels": {"a": "1"}, "startsAt": "1969-12-31T23:59:59Z"}],
     "[0].startsAt"),
    # An offset that carries the instant past the last second (it used to overflow).
    ("/api/v2/alerts", [{"labels": {"a": "1"}, "startsAt": "9999-12-31T23:00:00-01:00"}],
     "[0].startsAt"),
    ("/api/v2/alerts", [{"labels": {"a": "1"}, "startsAt": "2026-01-01T00:00:00+99:99"}],
     "[0].startsAt"),
    ("/api/v1/alertmanager",
     {"version": "4", "alerts": [{"labels": {"a": "1"}, "startsAt": POISON}]},
     "alerts[0].startsAt"),
    ("/api/v1/alertmanager",
     {"alerts": [{"status": "resolved", "labels": {"a": "1"},
                  "endsAt": "9999-12-31T23:59:59-23:59"}]}, "alerts[0].endsAt"),
    ("/api/v1/events/ev", {"name": "x", "pg": "1", "at": POISON}, "$"),
])
async def test_timestamps_out_of_range_are_422_with_the_path(
    make_router: Any, hook: Fake, path: str, payload: Any, where: str
) -> None:
    client, state = await make_router(config(hook.url))
    err = await refused(client, path, payload)
    assert err["path"] == where
    assert state.ingestor.alerts == {}


def test_the_bounds_format_in_both_styles_and_round_trip() -> None:
    from router.timefmt import MAX_TIME

    last = parse_time("9999-12-31T23:59:59Z")
    assert last == MAX_TIME
    assert format_time(MAX_TIME) == "9999-12-31T23:59:59Z"
    assert format_time_ms(MAX_TIME) == "9999-12-31T23:59:59.000Z"
    # Rounded to the microsecond: the last second's fractions are all past the bound.
    assert parse_time("9999-12-31T23:59:58.9999999Z") == MAX_TIME
    assert format_time(MAX_TIME - 0.5) == "9999-12-31T23:59:58.5Z"
    assert format_time(parse_time("2026-11-24T22:42:51.1234567Z")) == "2026-11-24T22:42:51.123457Z"
    assert parse_time("1970-01-01T00:00:00Z") == 0.0
    assert format_time(0.0) == "1970-01-01T00:00:00Z"
    assert parse_time("2026-01-01T23:30:00-23:59") == parse_time("2026-01-02T23:29:00Z")
    assert parse_time("0001-01-01T00:00:00Z") is None  # Go's zero time: "no time"


# --- item 2: each class of bad input is a 4xx with the path -------------------------------


@pytest.mark.parametrize(("payload", "where", "status"), [
    ('[{"labels": {"alertname": "\\ud800"}}]', "[0].labels.alertname", 422),
    ('[{"labels": {"alertname": "x", "\\udfff": "y"}}]', "[0].labels", 422),
    ('[{"labels": {"alertname": "x"}, "annotations": {"d": "a\\ud800b"}}]',
     "[0].annotations.d", 422),
    ('[{"labels": {"alertname": "x"}, "generatorURL": "\\udbff"}]', "[0].generatorURL", 422),
    ('[{"labels": {"alertname": "x"}, "n": ' + "9" * 5000 + "}]", "[0].n", 422),
    ('[{"labels": {"alertname": "x"}, "n": -' + "1" * 400 + "}]", "[0].n", 422),
    ('[{"labels": {"alertname": "x"}, "n": 1e400}]', "[0].n", 422),
    ('[{"labels": {"alertname": "x"}, "n": NaN}]', "[0].n", 400),
])
async def test_unrepresentable_json_values_are_4xx_with_the_path(
    make_router: Any, hook: Fake, payload: str, where: str, status: int
) -> None:
    client, state = await make_router(config(hook.url))
    err = await refused(client, "/api/v2/alerts", payload, status=status)
    assert err["path"] == where
    assert err["error"] == ("invalid" if status == 422 else "bad_json")
    assert state.ingestor.alerts == {}


async def test_a_surrogate_pair_is_a_character_not_an_error(
    make_router: Any, hook: Fake, clock: FakeClock
) -> None:
    client, _ = await make_router(config(hook.url))
    resp = await raw_post(client, "/api/v2/alerts",
                          '[{"labels": {"alertname": "\\ud83d\\udd25", "pg": "1"}}]')
    assert resp.status == 200, await resp.text()
    await clock.advance(1)
    await wait_until(lambda: len(hook.requests) == 1, "the notification")
    assert hook.requests[0].json()["alerts"][0]["labels"]["alertname"] == "🔥"


@pytest.mark.parametrize(("labels", "where", "words"), [
    ({"alertname": "x", "n" * 1025: "v"}, "[0].labels", "1024 bytes"),
    ({"alertname": "x" * 16385}, "[0].labels.alertname", "16384 bytes"),
    ({"alertname": "é" * 8193}, "[0].labels.alertname", "16384 bytes"),
    ({f"l{i}": "v" for i in range(257)}, "[0].labels", "256 labels"),
])
async def test_label_sizes_are_bounded(
    make_router: Any, hook: Fake, labels: dict[str, str], where: str, words: str
) -> None:
    client, _ = await make_router(config(hook.url))
    err = await refused(client, "/api/v2/alerts", [{"labels": labels}])
    assert err["path"] == where
    assert words in err["detail"]


async def test_values_at_the_bounds_render_store_serialise_and_list(
    make_router: Any, hook: Fake, clock: FakeClock, tmp_path: Any
) -> None:
    labels = {f"l{i:03d}": "v" for i in range(253)}
    labels |= {"alertname": "é" * 8192, "n" * 1024: "x\x00\n\u2028\U0001f525", "pg": "1"}
    alert = {"labels": labels, "annotations": {"a": "b" * 65536},
             "startsAt": "1970-01-01T00:00:00Z", "endsAt": "9999-12-31T23:59:59Z"}
    client, state = await make_router(config(hook.url))
    resp = await raw_post(client, "/api/v2/alerts", json.dumps([alert]))
    assert resp.status == 200, await resp.text()
    await clock.advance(1)
    await wait_until(lambda: len(hook.requests) == 1, "the notification")
    sent = hook.requests[0].json()["alerts"][0]
    assert sent["labels"] == labels
    assert sent["startsAt"] == "1970-01-01T00:00:00Z"
    assert sent["endsAt"] == "0001-01-01T00:00:00Z"  # firing: Alertmanager's zero time
    for path, ends in (("/api/v1/alerts", "9999-12-31T23:59:59Z"),
                       ("/api/v2/alerts", "9999-12-31T23:59:59.000Z")):
        resp = await client.get(path)
        assert resp.status == 200, path
        listed = (await resp.json())[0]
        assert (listed["labels"], listed["endsAt"]) == (labels, ends)
    stored = await state.store.load_alerts()
    assert [a.labels for a in stored] == [labels]


# --- defence in depth: a value that cannot be shown never stalls the others ---------------


async def test_a_group_that_cannot_flush_is_counted_and_isolated(
    make_router: Any, hook: Fake, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Were an unformattable alert ever held (an older version's database), its group's
    flush fails alone: other groups deliver, the views answer, the failure is counted."""
    client, state = await make_router(config(hook.url))
    now = clock.now()
    bad = make_alert({"alertname": "Bad", "pg": "1"}, {}, 1e13, None, "", now)
    await state.ingestor.accept([bad], "api")
    resp = await raw_post(client, "/api/v2/alerts",
                          json.dumps([{"labels": {"alertname": "Good", "pg": "2"}}]))
    assert resp.status == 200
    with caplog.at_level(logging.INFO):
        await clock.advance(1)
        await wait_until(lambda: len(hook.requests) == 1, "the Good group's notification")
        await quiet(state)
        for _ in range(5):
            await clock.advance(2)
            await quiet(state)
    assert [a["labels"]["alertname"] for a in hook.requests[0].json()["alerts"]] == ["Good"]
    assert len(hook.requests) == 1
    failures = state.metrics.registry.get_sample_value("alert_router_flush_errors_total")
    assert failures is not None
    assert failures >= 6
    # Logged once per cause per minute, without a traceback at info level.
    flush_logs = [r for r in caplog.records if "flush failed" in r.getMessage()]
    assert len(flush_logs) == 1
    assert flush_logs[0].exc_info is None
    assert "year" in flush_logs[0].__dict__["cause"]
    with caplog.at_level(logging.INFO):
        for _ in range(30):  # a minute later: one more line, counting the repeats
            await clock.advance(2)
            await quiet(state)
    flush_logs = [r for r in caplog.records if "flush failed" in r.getMessage()]
    assert [r.__dict__["count"] for r in flush_logs] == [1, 30]
    for path in ("/api/v1/alerts", "/api/v2/alerts"):
        resp = await client.get(path)
        assert resp.status == 200, path
        names = {a["labels"]["alertname"] for a in await resp.json()}
        assert "Good" in names, path


async def test_building_a_batch_that_fails_is_isolated_too(
    make_router: Any, hook: Fake, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, state = await make_router(config(hook.url))
    policy = state.dispatcher.policy
    real = policy.visible

    def visible(group: Any, now: float) -> Any:
        if group.labels.get("pg") == "1":
            raise RuntimeError("cannot build this batch")
        return real(group, now)

    monkeypatch.setattr(policy, "visible", visible)
    resp = await raw_post(client, "/api/v2/alerts", json.dumps(
        [{"labels": {"alertname": "A", "pg": "1"}}, {"labels": {"alertname": "B", "pg": "2"}}]))
    assert resp.status == 200
    await clock.advance(1)
    await wait_until(lambda: len(hook.requests) == 1, "the healthy group's notification")
    await quiet(state)
    assert hook.requests[0].json()["alerts"][0]["labels"]["alertname"] == "B"
    assert state.metrics.registry.get_sample_value("alert_router_flush_errors_total") == 1
    monkeypatch.setattr(policy, "visible", real)
    await clock.advance(2)  # the failed group is retried at its next group_interval
    await wait_until(lambda: len(hook.requests) == 2, "the retried group")



async def test_mapped_event_values_are_bounded_too(make_router: Any, hook: Fake) -> None:
    client, state = await make_router(config(hook.url))
    event = {"name": "x" * 16385, "pg": "1", "at": "2026-01-01T00:00:00Z"}
    err = await refused(client, "/api/v1/events/ev", [event])
    assert err["path"] == "[0]"
    assert "label 'alertname' value longer than 16384 bytes" in err["detail"]
    assert state.ingestor.alerts == {}


async def test_an_older_versions_out_of_range_alert_is_clamped_on_restore(
    make_router: Any, hook: Fake, clock: FakeClock, tmp_path: Any
) -> None:
    """The issue's poison, stored before the bounds existed: after a restart the group's
    flush works and both alerts are delivered (nothing acknowledged is lost)."""
    from router.storage.sqlite import SqliteStore

    now = clock.now()
    store = SqliteStore(tmp_path / "router.db")
    await store.open()
    poison = make_alert({"alertname": "Poison", "pg": "1"}, {}, 253402300800.0,
                        253402300800.0, "", now)
    good = make_alert({"alertname": "Good", "pg": "1"}, {}, now, None, "", now)
    await store.upsert_alerts([good, poison])
    await store.close()
    client, _ = await make_router(config(hook.url))
    await clock.advance(1)
    await wait_until(lambda: len(hook.requests) == 1, "the group's notification")
    sent = {a["labels"]["alertname"]: a for a in hook.requests[0].json()["alerts"]}
    assert set(sent) == {"Good", "Poison"}
    assert sent["Poison"]["startsAt"] == "9999-12-31T23:59:59Z"
    for path in ("/api/v1/alerts", "/api/v2/alerts"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert {a["labels"]["alertname"] for a in await resp.json()} == {"Good", "Poison"}
