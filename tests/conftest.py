"""Shared fixtures: a fake clock, a temporary SQLite store and an in-process router app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from router.app import STATE, AppState, create_app
from router.clock import FakeClock
from router.config import load_config_text
from router.config_types import RouterConfig
from router.storage.sqlite import SqliteStore

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


def config_from(text: str, tmp_path: Path) -> RouterConfig:
    """Load a YAML config written inline by a test (storage in tmp_path)."""
    path = tmp_path / "config.yml"
    path.write_text(text, encoding="utf-8")
    cfg = load_config_text(text, str(path))
    from dataclasses import replace

    return replace(cfg, storage=replace(cfg.storage, path=str(tmp_path / "router.db")))


RouterClient = TestClient


@pytest.fixture
def make_router(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> Callable[..., Any]:
    """`client, state = await make_router(yaml_text)`: the real app on a fake clock."""

    async def make(text: str, **kwargs: Any) -> tuple[Any, AppState]:
        cfg = config_from(text, tmp_path)
        app = create_app(cfg, clock=kwargs.pop("clock", clock), registry=CollectorRegistry(),
                         **kwargs)
        client = await aiohttp_client(app)
        return client, app[STATE]

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


async def quiet(state: AppState) -> None:
    """Let due timers run and every queued delivery finish."""
    import asyncio

    from router.clock import settle

    await settle()
    async with asyncio.timeout(5):
        await state.delivery.wait_idle()
    await settle()


async def retry_scheduled(state: AppState, channel: str = "slack") -> None:
    """Wait until a failed attempt's retry is committed and the delivery loop sleeps on it.

    Only then may a test advance the clock: the loop computes its sleep from `now` when it
    goes to sleep, so advancing earlier would push the retry further out.
    """
    import asyncio

    from router.clock import settle

    async with asyncio.timeout(5):
        while True:
            # A retry is scheduled once a failure is recorded (a 429 keeps `attempts`).
            rows = [r for r in state.delivery.rows.values()
                    if r.channel == channel and r.last_error is not None]
            stored = await state.store.outbox_get(rows[0].id) if rows else None
            if stored is not None and stored.next_attempt_at == rows[0].next_attempt_at:
                break
            await asyncio.sleep(0.005)
    await settle()
