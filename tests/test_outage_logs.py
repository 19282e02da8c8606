"""Logs stay readable during an outage: a failure that repeats is logged once per cause a
minute, at warning or error level with its `count`, and its traceback only at debug.

Seen from outside, on a real router and the fake clock: a locked database fails every
group flush, trace write, lease renewal, garbage collection and ingest request for more
than a minute (20 groups, 35 group intervals); receivers answering 503 fail every attempt
and kill every row; a template fails for every notification. Before, each of these was a
line (and often a 2 KB traceback) per occurrence. Then RepeatLog itself (router/logs.py):
causes, `per` fields, levels, the window's edge, and debug lines.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import start_fake
from conftest import flushed, post_alerts, run_until, settle_deliveries, v2_alert
from fakeclock import FakeClock

from router.logs import RepeatLog
from router.rendering import Renderer
from router.service import Service

GROUPS = 20


def config(url: str) -> str:
    return f"""
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: team
    webhook_configs:
      - url: {url}
"""


def two_receivers(url: str, url2: str) -> str:
    return f"""
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: [team="other"]
      receiver: other
receivers:
  - name: team
    webhook_configs:
      - url: {url}
  - name: other
    webhook_configs:
      - url: {url2}
delivery:
  max_attempts: 3
  backoff_base: 1s
  backoff_cap: 1s
"""


def lines(caplog: pytest.LogCaptureFixture, start: int = 0) -> list[logging.LogRecord]:
    """The router's records a production log shows (info and above), from `start` on."""
    return [r for r in caplog.records[start:]
            if r.name.startswith("router") and r.levelno >= logging.INFO]


def named(records: list[logging.LogRecord], message: str) -> list[logging.LogRecord]:
    return [r for r in records if r.getMessage() == message]


def counts(records: list[logging.LogRecord], message: str) -> list[int]:
    return [r.__dict__["count"] for r in named(records, message)]


def causes(records: list[logging.LogRecord]) -> Counter[tuple[str, str, str]]:
    return Counter((r.name, r.getMessage(), str(r.__dict__.get("cause"))) for r in records)


def sample(state: Service, name: str) -> float:
    value = state.metrics.registry.get_sample_value(name)
    assert value is not None, name
    return value


async def step_until(state: Service, clock: FakeClock, until: float) -> None:
    """Second by second, each step's flushes and sends (retries included) done."""
    while clock.now() < until:
        await clock.advance(min(1.0, until - clock.now()))
        await flushed(state)
        await settle_deliveries(state.delivery, clock)


async def post(client: Any, name: str, **annotations: str) -> int:
    resp = await client.post("/api/v2/alerts", json=[
        {"labels": {"alertname": name}, "annotations": annotations}])
    status: int = resp.status
    return status


async def test_a_store_outage_logs_each_cause_once_a_minute_with_its_count(
    make_router: Any, aiohttp_server: Any, tmp_path: Path, clock: FakeClock,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("router.storage.sqlite.BUSY_TIMEOUT_MS", 20)  # locked: fail fast
    hook = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(hook.url))
    caplog.set_level(logging.DEBUG, logger="router")
    await post_alerts(client, *(v2_alert(f"Group{i}") for i in range(GROUPS)))
    start, before = clock.now(), len(caplog.records)
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        assert [await post(client, "Refused") for _ in range(5)] == [503] * 5
        await run_until(state, clock, start + 59)  # 30 group intervals, all failing
        first_minute = lines(caplog, before)
        await run_until(state, clock, start + 70)  # the garbage collector runs at 60 s
        assert [await post(client, "Refused") for _ in range(2)] == [503] * 2
        outage = lines(caplog, before)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert hook.requests == []
    failed_flushes = sample(state, "alert_router_flush_errors_total")
    assert failed_flushes == GROUPS * 35

    # Every source of the outage spoke, each once in the first minute, with a count and
    # without a traceback.
    seen = {r.getMessage() for r in first_minute}
    assert {"group flush failed", "could not store trace events", "outbox lease request failed",
            "store unavailable", "store write failed"} <= seen, seen
    assert named(outage, "garbage collection failed")
    assert max(causes(first_minute).values()) == 1, causes(first_minute)
    assert max(causes(outage).values()) <= 2, causes(outage)
    for record in outage:
        assert record.levelno >= logging.WARNING, record.getMessage()
        assert record.exc_info is None, record.getMessage()
        assert record.__dict__["count"] >= 1, record.getMessage()

    # A minute on, the next line counts what was held back: 30 intervals of 20 groups
    # (the first line counted itself), and 5 refused requests.
    assert counts(outage, "group flush failed") == [1, GROUPS * 30]
    assert counts(outage, "store unavailable") == [1, 5]
    assert "locked" in named(outage, "group flush failed")[0].__dict__["cause"]

    # At debug level, every occurrence is there with its traceback.
    debug = [r for r in caplog.records
             if r.levelno == logging.DEBUG and r.getMessage() == "group flush failed"]
    assert len(debug) == failed_flushes
    assert all(r.exc_info is not None for r in debug)

    # A different cause gets its own line at once, though "store unavailable" was logged
    # less than a minute ago: the disk is full now.
    assert await post(client, "Healed") == 200
    await state.store.set_max_page_count(await state.store.page_count())
    big = {f"note{i}": "y" * 60_000 for i in range(4)}
    since = len(caplog.records)
    assert await post(client, "Full", **big) == 503
    full = lines(caplog, since)
    for message in ("store unavailable", "store write failed"):
        [record] = named(full, message)
        assert "full" in record.__dict__["cause"]
        assert record.__dict__["count"] == 1
    await state.store.set_max_page_count(1_000_000)


async def test_receivers_down_log_each_cause_once_a_minute_per_receiver(
    make_router: Any, aiohttp_server: Any, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every attempt fails (503) and every row dies: per receiver, one retry line and one
    dead line a minute, the next one counting the attempts and rows in between."""
    hooks = [await start_fake(aiohttp_server, "webhook", [503] * 1000) for _ in range(2)]
    client, state = await make_router(two_receivers(hooks[0].url, hooks[1].url))
    caplog.set_level(logging.INFO, logger="router")
    start = clock.now()
    await post_alerts(client, *(v2_alert(f"Group{i}", team=team)
                                for i in range(10) for team in ("a", "other")))
    await step_until(state, clock, start + 30)
    assert len(hooks[0].requests) == len(hooks[1].requests) == 10 * 3  # max_attempts each
    # A minute on, a new state of every group: 10 more rows per receiver fail and die.
    await step_until(state, clock, start + 61)
    await post_alerts(client, *(v2_alert(f"Group{i}", team=team, instance="b")
                                for i in range(10) for team in ("a", "other")))
    await step_until(state, clock, start + 90)
    assert len(hooks[0].requests) == len(hooks[1].requests) == 20 * 3
    logged = lines(caplog)
    for record in logged:
        assert record.exc_info is None, record.getMessage()
    for receiver in ("team", "other"):
        mine = [r for r in logged if r.__dict__.get("receiver") == receiver]
        # The first line counts itself; the next one the 10 x 2 retries and 10 deaths of
        # the first minute (including the first, already shown).
        assert counts(mine, "delivery failed, will retry") == [1, 20]
        assert counts(mine, "delivery is dead") == [1, 10]
        assert all(r.__dict__["cause"] == "server_error" for r in mine)
    assert len(logged) == 8, [r.getMessage() for r in logged]


# --- RepeatLog itself ---------------------------------------------------------------------


def test_repeat_log_counts_per_cause_and_per_field_at_the_level_asked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    repeats = RepeatLog(logging.getLogger("router.test"), lambda: now[0], window=60.0)
    caplog.set_level(logging.DEBUG, logger="router.test")

    def fail(exc: BaseException | None = None, **kwargs: Any) -> bool:
        return repeats.failure("send failed", exc, level=logging.WARNING, **kwargs)

    boom = ValueError("boom")
    assert fail(boom, receiver="a", per=("receiver",))
    assert not fail(boom, receiver="a", per=("receiver",))
    assert fail(boom, receiver="b", per=("receiver",))  # another receiver: its own line
    assert fail(KeyError("x"), receiver="a", per=("receiver",))  # another cause: its own line
    assert fail(cause="refused", receiver="a")  # a cause without an exception
    assert not fail(cause="refused", receiver="a")
    now[0] = 59.9
    assert not fail(boom, receiver="a", per=("receiver",))
    now[0] = 60.0
    assert fail(boom, receiver="a", per=("receiver",))  # a minute on: 1 + 2 held back

    shown = [r for r in caplog.records if r.levelno > logging.DEBUG]
    assert [(r.levelno, r.__dict__.get("receiver"), r.__dict__["cause"], r.__dict__["count"])
            for r in shown] == [
        (logging.WARNING, "a", "ValueError: boom", 1),
        (logging.WARNING, "b", "ValueError: boom", 1),
        (logging.WARNING, "a", "KeyError: 'x'", 1),
        (logging.WARNING, "a", "refused", 1),
        (logging.WARNING, "a", "ValueError: boom", 3),
    ]
    assert all(r.exc_info is None for r in shown)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    # Each occurrence with an exception has its traceback at debug; one held back without
    # an exception is there too, without a traceback.
    assert [bool(r.exc_info) for r in debug] == [True, True, True, True, False, True, True]
    assert all("count" not in r.__dict__ for r in debug)


def test_repeat_log_writes_no_debug_line_when_debug_is_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    repeats = RepeatLog(logging.getLogger("router.test"), lambda: 0.0)
    caplog.set_level(logging.INFO, logger="router.test")
    for _ in range(3):
        try:
            raise OSError("disk")
        except OSError as exc:
            repeats.failure("write failed", exc)
    assert [(r.levelno, r.__dict__["count"], r.exc_info) for r in caplog.records] == [
        (logging.ERROR, 1, None)]


def test_a_failing_template_is_logged_once_a_minute_per_receiver(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """It fails for every notification: a warning per receiver and channel a minute."""
    now = [0.0]
    renderer = Renderer([], now=lambda: now[0])
    broken = renderer.compile_string("{{ 1 // 0 }}")
    caplog.set_level(logging.INFO, logger="router")

    def render(receiver: str) -> None:
        try:
            broken.render()
        except ZeroDivisionError:
            renderer.failed("slack", receiver)

    for at in range(0, 70, 2):  # a notification every 2 s for 70 s, to two receivers
        now[0] = float(at)
        render("team")
        render("other")
    assert [(r.levelno, r.__dict__["receiver"], r.__dict__["count"], r.exc_info)
            for r in caplog.records] == [
        (logging.WARNING, "team", 1, None), (logging.WARNING, "other", 1, None),
        (logging.WARNING, "team", 30, None), (logging.WARNING, "other", 30, None),
    ]
