"""Fast resolve (route `fast_resolve`, Alertmanager #1510) on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import config_from
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer
from test_storm import ALL, FIRST, SOME, HarnessFactory, harnesses

from router.storage.sqlite import SqliteStore

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: [speed="fast"]
      fast_resolve: true
    - matchers: [speed="slow"]
receivers:
  - name: default
    webhook_configs:
      - url: URL/hook
"""
FAST = '{}/{speed="fast"}:{alertname="Fast"}'
SLOW = '{}/{speed="slow"}:{alertname="Slow"}'


@pytest.fixture
async def make_harness(
    aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore, clock: FakeClock
) -> AsyncIterator[HarnessFactory]:
    async with harnesses(aiohttp_server, tmp_path, store, clock) as make:
        yield make


def fast(lbl: str) -> dict[str, str]:
    return {"alertname": "Fast", "speed": "fast", "lbl": lbl}


def slow(lbl: str) -> dict[str, str]:
    return {"alertname": "Slow", "speed": "slow", "lbl": lbl}


async def test_the_resolution_goes_out_at_once_only_with_fast_resolve(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(CONFIG)
    await h.run(100, {0: [(fast("x"), 0, None), (slow("y"), 0, None)],
                      20: [(fast("x"), 0, 20), (slow("y"), 0, 20)]})
    assert sorted(r.summary for r in h.received) == [
        (10, FAST, FIRST, [("x", "firing")]),
        (10, SLOW, FIRST, [("y", "firing")]),
        (20, FAST, ALL, [("x", "resolved")]),  # at once
        (70, SLOW, ALL, [("y", "resolved")]),  # at the next group_interval tick
    ]
    assert h.dispatcher.groups == {}


async def test_only_a_wholly_resolved_group_flushes_early(make_harness: HarnessFactory) -> None:
    h = await make_harness(CONFIG)
    await h.run(100, {0: [(fast("a"), 0, None), (fast("b"), 0, None)],
                      20: [(fast("a"), 0, 20)],
                      80: [(fast("b"), 0, 80)]})
    assert [r.summary for r in h.received] == [
        (10, FAST, FIRST, [("a", "firing"), ("b", "firing")]),
        (70, FAST, SOME, [("a", "resolved"), ("b", "firing")]),  # one of two: the tick
        (80, FAST, ALL, [("b", "resolved")]),  # the last one: at once
    ]


async def test_a_resolution_within_group_wait_sends_nothing(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(CONFIG)
    # A control alert of another group fires alongside and resolves later: it arrives, so
    # the pipeline is alive and only the fast alert's notification was dropped.
    await h.run(80, {0: [(fast("x"), 0, None), (slow("y"), 0, None)],
                     3: [(fast("x"), 0, 3)],
                     20: [(slow("y"), 0, 20)]})
    assert [r.summary for r in h.received] == [
        (10, SLOW, FIRST, [("y", "firing")]),
        (70, SLOW, ALL, [("y", "resolved")]),
    ]
    assert not any(r.body["groupKey"] == FAST for r in h.received)
    assert h.dispatcher.groups == {}


def test_fast_resolve_is_inherited_unless_overridden(tmp_path: Path) -> None:
    cfg = config_from("""
route:
  receiver: default
  fast_resolve: true
  routes:
    - matchers: [team="a"]
    - matchers: [team="b"]
      fast_resolve: false
receivers:
  - name: default
""", tmp_path)
    a, b = cfg.route.routes
    assert (cfg.route.fast_resolve, a.fast_resolve, b.fast_resolve) == (True, True, False)
