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


RouterClient = TestClient  # type: ignore[type-arg]


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
