"""Shared fixtures: a fake clock, a temporary SQLite store and an in-process router app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.app import create_app
from router.channels.http import HttpClient
from router.config.load import load_config_text
from router.config.types import RouterConfig
from router.errors import ConfigError
from router.logs import NOTIFICATIONS
from router.service import Service
from router.storage.sqlite import SqliteStore
from router.web.keys import SERVICE

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "fixtures"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(tmp_path / "router.db")
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def http() -> AsyncIterator[HttpClient]:
    """The shared HTTP client as channels get it in the running app: bound to a session."""
    async with aiohttp.ClientSession() as session:
        yield HttpClient(session)


@pytest.fixture
async def clocked_http(clock: FakeClock) -> AsyncIterator[HttpClient]:
    """`http` on the test's fake clock: for channels that cache a vendor's token or read
    its reset times (WeChat, Rocket.Chat)."""
    async with aiohttp.ClientSession() as session:
        yield HttpClient(session, now=clock.now)


def assert_config_problem(text: str, path: str, message: str, *, hidden: str = "hush-hush"
                          ) -> None:
    """`text` is refused with a problem at `path` whose message holds `message`, and no
    problem quotes `hidden` (a secret of the config)."""
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "x.yml")
    problems = [(p.path, p.message) for p in info.value.problems]
    assert any(p == path and message in m for p, m in problems), problems
    assert hidden not in str(info.value)


def config_from(text: str, tmp_path: Path) -> RouterConfig:
    """Load a YAML config written inline by a test (storage in tmp_path)."""
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    cfg = load_config_text(text, str(path))
    from dataclasses import replace

    return replace(cfg, storage=replace(cfg.storage, path=str(tmp_path / "router.db")))


RouterClient = TestClient


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For a test that calls setup_logging: the root and notifications loggers as they were
    (a root left at `error` would hide the warnings later tests look for)."""
    root, notes = logging.getLogger(), logging.getLogger(NOTIFICATIONS)
    saved = (root.level, root.handlers[:], notes.level, notes.handlers[:], notes.propagate)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    notes.setLevel(saved[2])
    notes.handlers[:] = saved[3]
    notes.propagate = saved[4]
    logging.captureWarnings(False)


@pytest.fixture
def notifications() -> Iterator[list[str]]:
    """The log channel's lines (the messages of `router.notifications` records), however
    an earlier in-process `serve` left the logging set up."""
    handler = _Lines()
    logger = logging.getLogger(NOTIFICATIONS)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def make_router(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> Callable[..., Any]:
    """`client, state = await make_router(yaml_text)`: the real app on a fake clock."""

    async def make(text: str, **kwargs: Any) -> tuple[Any, Service]:
        cfg = config_from(text, tmp_path)
        app = create_app(cfg, clock=kwargs.pop("clock", clock), registry=CollectorRegistry(),
                         **kwargs)
        client = await aiohttp_client(app)
        return client, app[SERVICE]

    return make


# --- waiting for the running app (tests/test_http_api.py, tests/test_app.py) -----------


async def wait_until(predicate: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Wait for a network or store event; timers move with the fake clock, never this."""
    import asyncio

    try:
        async with asyncio.timeout(seconds):
            # The loopback fakes signal nothing: poll for the request or the store write.
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def quiet(state: Service) -> None:
    """Let due timers run and every queued delivery finish, its outcome committed (an API
    read may otherwise take the store's lock before a queued outcome write does)."""
    import asyncio

    from fakeclock import settle

    await settle()
    # A due flush first: until its outbox insert commits, the delivery loop has nothing
    # to track and would look idle (the CI flake of test_explain).
    await flushed(state)
    async with asyncio.timeout(5):
        await state.delivery.wait_idle()
        await state.delivery.flush_records()
    await settle()


async def retry_scheduled(state: Service, channel: str = "slack") -> None:
    """Wait until a failed attempt of `channel` is seen (a network round trip), then until
    the delivery loop is parked on its retry with the reschedule committed.

    Only then may a test advance the clock: the loop computes its sleep from `now` when it
    goes to sleep, so advancing earlier would push the retry further out.
    """
    await wait_until(
        lambda: any(r.channel == channel and r.last_error is not None
                    for r in state.delivery.held_rows()),
        f"a failed {channel} attempt",
    )
    import asyncio

    async with asyncio.timeout(5):
        await state.delivery.parked()


# --- noise control timelines (test_noise_timelines.py, test_trace.py, test_api_v2.py) ------


def v2_alert(
    name: str, *, starts: float | None = None, ends: float | None = None, **labels: str
) -> dict[str, Any]:
    """An API v2 postable alert named `name` with extra labels and optional times."""
    from router.timefmt import format_time

    body: dict[str, Any] = {"labels": {"alertname": name, **labels}}
    if starts is not None:
        body["startsAt"] = format_time(starts)
    if ends is not None:
        body["endsAt"] = format_time(ends)
    return body


async def post_alerts(client: Any, *alerts: dict[str, Any]) -> None:
    """POST /api/v2/alerts (answered once committed), then let the dispatcher take them."""
    from fakeclock import settle

    resp = await client.post("/api/v2/alerts", json=list(alerts))
    assert resp.status == 200, await resp.text()
    await settle()


def api_matcher(name: str, value: str, *, regex: bool = False, equal: bool = True
                ) -> dict[str, Any]:
    return {"name": name, "value": value, "isRegex": regex, "isEqual": equal}


def silence_body(matchers: list[dict[str, Any]], starts: float, ends: float,
                 **extra: Any) -> dict[str, Any]:
    """A postableSilence with the given matchers and times."""
    from router.timefmt import format_time_ms

    return {"matchers": matchers, "startsAt": format_time_ms(starts),
            "endsAt": format_time_ms(ends), "createdBy": "oncall", "comment": "test",
            **extra}


async def create_silence(client: Any, matchers: list[dict[str, Any]], starts: float,
                         ends: float) -> str:
    """POST /api/v2/silences; returns the new silence id."""
    resp = await client.post("/api/v2/silences", json=silence_body(matchers, starts, ends))
    assert resp.status == 200, await resp.text()
    sid: str = (await resp.json())["silenceID"]
    return sid


async def flushed(state: Service) -> None:
    """Wait until every due group flush has finished (each group rescheduled or gone)."""
    clock = state.clock

    def done() -> bool:
        now = clock.now()
        nxt = state.dispatcher.next_due()
        return (nxt is None or nxt > now) and all(
            g.next_flush > now for g in state.dispatcher.groups.values())

    await wait_until(done, "the due group flushes")


async def run_until(state: Service, clock: FakeClock, until: float) -> None:
    """Move the fake clock to `until`, stopping at every group flush on the way and letting
    it and its deliveries finish, so each flush runs at its own due time."""
    while True:
        nxt = state.dispatcher.next_due()
        step_to = until if nxt is None or nxt > until else max(nxt, clock.now())
        await clock.advance(step_to - clock.now())
        await flushed(state)
        await quiet(state)
        if step_to >= until:
            return


# --- timeline harness pieces (tests/test_pipeline.py, tests/test_storm.py) ------------

async def push_timeline(ingestor: Any, clock: Any, base: float, pushes: Sequence[Any]) -> None:
    """Ingest (labels, start, end) pushes, times relative to `base`, as Alertmanager would."""
    from router.model import make_alert

    now = clock.now()
    await ingestor.accept([
        make_alert(labels, {}, base + start, None if end is None else base + end, "", now,
                   source="alertmanager")
        for labels, start, end in pushes
    ], "alertmanager")


async def settle_deliveries(delivery: Any, clock: Any) -> None:
    """Wait until no send is in flight: every row delivered, dead or backing off, and the
    delivery loop parked until its next timer or new work."""
    import asyncio

    async with asyncio.timeout(5):
        await delivery.parked()
