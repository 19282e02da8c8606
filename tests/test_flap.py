"""Flap damping (route `flap`) through the real pipeline on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import config_from
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer
from test_storm import ALL, FIRST, HarnessFactory, Push, harnesses

from router.config.types import FlapConfig
from router.model import fingerprint
from router.storage.sqlite import SqliteStore

FLAPPING = "alert flapping"
CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 5s
  group_interval: 10s
  repeat_interval: 1h
  flap: {changes: 3, window: 1m, quiet: 30s}
receivers:
  - name: default
    webhook_configs:
      - url: URL/hook
"""
X = {"alertname": "Flappy", "lbl": "x"}
Y = {"alertname": "Steady", "lbl": "y"}


@pytest.fixture
async def make_harness(
    aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore, clock: FakeClock
) -> AsyncIterator[HarnessFactory]:
    async with harnesses(aiohttp_server, tmp_path, store, clock) as make:
        yield make


def toggles(labels: dict[str, str], times: list[int]) -> dict[int, list[Push]]:
    """Fires at times[0], resolves at times[1], fires again at times[2], ..."""
    out: dict[int, list[Push]] = {}
    start = times[0]
    for i, t in enumerate(times):
        if i % 2 == 0:
            start = t
            out[t] = [(labels, t, None)]
        else:
            out[t] = [(labels, start, t)]
    return out


async def test_a_flapping_alert_is_announced_once_then_held_until_quiet(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(CONFIG)
    # Ten pushes within a minute: firing, resolved, firing, ... ending resolved at 54.
    pushes = toggles(X, list(range(0, 60, 6)))
    pushes[0].append((Y, 0, None))
    pushes[40] = [(Y, 0, 40)]
    await h.run(120, pushes)
    flappy = '{}:{alertname="Flappy"}'
    steady = '{}:{alertname="Steady"}'
    notice_key = f"{flappy}:flapping:{fingerprint(X)}"
    # Exactly what the endpoint received: the first notification, ONE flapping notice (the
    # 4th change, at 24, made it flapping), nothing while it flaps, and its final state
    # once stable for 30 s (last change at 54; the group's tick at 85). The steady alert
    # of the same route is unaffected.
    assert sorted(r.summary for r in h.received) == [
        (5, flappy, FIRST, [("x", "firing")]),
        (5, steady, FIRST, [("y", "firing")]),
        (25, notice_key, FLAPPING, [("x", "firing")]),
        (45, steady, ALL, [("y", "resolved")]),
        (85, flappy, ALL, [("x", "resolved")]),
    ]
    notice = next(r.body for r in h.received if r.body["groupKey"] == notice_key)
    assert notice["alerts"][0]["annotations"]["flapping"] == (
        "changed between firing and resolved 4 times within 1m; further changes are held "
        "until it is stable for 30s")
    assert h.dispatcher.groups == {}
    assert h.suppressed("flap") == 1
    events = await h.trace.events(fingerprint(X))
    assert [(e.kind, e.detail.get("cause")) for e in events if e.kind == "deferred"] == [
        ("deferred", "flap")]


async def test_without_flap_the_same_toggling_pages_on_and_off(
    make_harness: HarnessFactory,
) -> None:
    h = await make_harness(CONFIG.replace("  flap: {changes: 3, window: 1m, quiet: 30s}\n", ""))
    await h.run(120, toggles(X, list(range(0, 60, 6))))
    assert [r.summary[::2] for r in h.received] == [
        (5, FIRST), (35, ALL), (41, FIRST), (61, ALL),
    ]
    assert h.suppressed("flap") == 0


async def test_a_new_episode_needs_fresh_changes(make_harness: HarnessFactory) -> None:
    """Released after `quiet`, the alert is judged on new changes only: one more toggle
    later is notified normally."""
    h = await make_harness(CONFIG)
    pushes = toggles(X, list(range(0, 60, 6)))
    pushes[200] = [(X, 200, None)]
    await h.run(230, pushes)
    assert [r.summary[2] for r in h.received] == [FIRST, FLAPPING, ALL, FIRST]
    assert h.received[-1].t == 205


def test_flap_is_inherited_unless_switched_off(tmp_path: Path) -> None:
    cfg = config_from("""
route:
  receiver: default
  flap: {changes: 5, window: 10m, quiet: 5m}
  routes:
    - matchers: [team="a"]
    - matchers: [team="b"]
      flap: false
    - matchers: [team="c"]
      flap: {changes: 2, window: 1m, quiet: 1m}
receivers:
  - name: default
""", tmp_path)
    a, b, c = cfg.route.routes
    assert cfg.route.flap == a.flap == FlapConfig(changes=5, window=600.0, quiet=300.0)
    assert b.flap is None
    assert c.flap == FlapConfig(changes=2, window=60.0, quiet=60.0)
