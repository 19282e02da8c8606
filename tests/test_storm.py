"""Storm digests (route `storm`) through the real pipeline on a fake clock.

ingest → dispatcher → the notify chain (mute, dedup, enqueue) → delivery and SqliteStore,
built by production's `build_service` → webhook channels on a loopback fake and a log
channel on a StringIO. `Harness` is shared with tests/test_flap.py and tests/test_fast_resolve.py.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import Fake
from conftest import config_from, push_timeline, settle_deliveries
from fakeclock import FakeClock
from harness import ServiceFactory
from pytest_aiohttp import AiohttpServer

from router.channels import build_channel
from router.channels.http import HttpClient
from router.config.types import LogConfig, Secret, SlackConfig, StormConfig, WebhookConfig
from router.delivery.worker import DeliveryManager
from router.ingest.ingestor import AlertIngestor
from router.metrics import Metrics
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer
from router.routing.grouping import Dispatcher
from router.routing.policy import NoisePolicy
from router.storage.sqlite import SqliteStore
from router.trace import TraceRecorder

# A push: (labels, startsAt offset, endsAt offset or None), offsets from the test's start.
Push = tuple[Mapping[str, str], float, float | None]
FIRST, NEW, ALL = "first notification", "new alerts added", "all alerts resolved"
SOME = "some alerts resolved"


@dataclass
class Received:
    t: int  # second of the test at which it arrived
    path: str  # last path segment of the request
    body: Any

    @property
    def summary(self) -> tuple[int, str, str, list[tuple[str, str]]]:
        """(t, groupKey, reason, [(lbl, status)])."""
        alerts = sorted((a["labels"]["lbl"], a["status"]) for a in self.body["alerts"])
        return self.t, self.body["groupKey"], self.body["notification_reason"], alerts


@dataclass
class Harness:
    clock: FakeClock
    base: float
    fake: Fake
    stream: io.StringIO
    metrics: Metrics
    trace: TraceRecorder
    delivery: DeliveryManager
    dispatcher: Dispatcher
    ingestor: AlertIngestor
    received: list[Received] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)

    async def push(self, *pushes: Push) -> None:
        await push_timeline(self.ingestor, self.clock, self.base, pushes)

    async def quiet(self) -> None:
        await settle_deliveries(self.delivery, self.clock)

    async def run(self, until: int, pushes: Mapping[int, list[Push]] | None = None) -> None:
        """Step the clock second by second: push, flush due groups, deliver, collect."""
        pushes = pushes or {}
        start = round(self.clock.now() - self.base)
        for t in range(start, until + 1):
            await self.clock.advance(self.base + t - self.clock.now())
            for push in pushes.get(t, []):
                await self.push(push)
            await self.dispatcher.run_due()
            await self.quiet()
            self.received.extend(Received(t, r.path.rsplit("/", 1)[-1], r.json())
                                 for r in self.fake.requests[len(self.received):])
            new = self.stream.getvalue().splitlines()[len(self.lines):]
            self.lines.extend((t, line) for line in new)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def suppressed(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "alert_router_notifications_suppressed_total", {"reason": reason})
        return value or 0.0


HarnessFactory = Callable[[str], Awaitable[Harness]]


@contextlib.asynccontextmanager
async def harnesses(aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore,
                    clock: FakeClock) -> AsyncIterator[HarnessFactory]:
    """`h = await make(yaml)`: production's graph (`build_service`) on the fake clock; `URL`
    in the yaml is the loopback fake."""
    async with ServiceFactory.open(aiohttp_server, tmp_path, store, clock) as factory:

        async def make(text: str) -> Harness:
            built = await factory(text)
            s = built.service
            return Harness(clock, clock.now(), built.fakes[0], built.stream, s.metrics,
                           s.trace, s.delivery, s.dispatcher, s.ingestor)

        yield make


@pytest.fixture
async def make_harness(
    aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore, clock: FakeClock
) -> AsyncIterator[HarnessFactory]:
    async with harnesses(aiohttp_server, tmp_path, store, clock) as make:
        yield make


# --- storms -----------------------------------------------------------------------------

# The second webhook renders the digest data with a template, as a team's own would.
DIGEST_TEMPLATE = (
    '{{ {"reason": notificationReason, "groupKey": groupKey, "count": alerts|length,'
    ' "digest": digest} | toJson }}'
)
STORM_CONFIG = """
server:
  external_url: http://router.example.com
route:
  receiver: default
  group_by: ['...']
  group_wait: 0s
  group_interval: 10s
  repeat_interval: 1h
  storm: {threshold: 20, window: 1m, digest_interval: 5m}
  routes:
    - matchers: [team="calm"]
      receiver: calm
      storm: false
receivers:
  - name: default
    webhook_configs:
      - url: URL/plain
      - url: URL/digest
        template: digest.j2
    log_configs:
      - send_resolved: true
  - name: calm
    webhook_configs:
      - url: URL/calm
"""


def storm_alert(i: int, at: float) -> Push:
    labels = {"alertname": f"Storm{i % 3}", "severity": ("critical", "warning")[i % 2],
              "lbl": str(i)}
    return labels, at, None


async def test_a_storm_becomes_digests_and_then_normal_notifications_resume(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    (tmp_path / "digest.j2").write_text(DIGEST_TEMPLATE, encoding="utf-8")
    h = await make_harness(STORM_CONFIG)
    pushes: dict[int, list[Push]] = {0: [storm_alert(i, 0) for i in range(10)]}
    for t in range(1, 11):  # 490 more within 10 s: a storm from the 11th arrival at t=1
        pushes[t] = [storm_alert(i, t) for i in range(10 + (t - 1) * 49, 10 + t * 49)]
    pushes[5].append(({"alertname": "Calm", "team": "calm", "lbl": "calm"}, 5, None))
    pushes[400] = [storm_alert(500, 400)]
    await h.run(420, pushes)

    def key(i: int) -> str:
        return "{}:{" + ", ".join(
            f'{k}="{v}"' for k, v in sorted(storm_alert(i, 0)[0].items())) + "}"

    # Before the storm: one message per group. Then one digest at once and one per
    # digest_interval (the last one when the storm is over); then a new alert notifies
    # normally and none of the 500 covered groups notifies again.
    assert sorted((*r.summary[:3], len(r.summary[3])) for r in h.at("plain")) == [
        *sorted((0, key(i), FIRST, 1) for i in range(10)),
        (1, "{}:storm", FIRST, 59),
        (301, "{}:storm", NEW, 500),
        (400, key(500), FIRST, 1),
    ]
    digests = [r.body for r in h.at("plain") if r.body["groupKey"] == "{}:storm"]
    assert all(d["groupLabels"] == {} and d["status"] == "firing" for d in digests)
    seen = {a["labels"]["lbl"] for d in digests for a in d["alerts"]}
    assert seen == {str(i) for i in range(500)}
    assert {a.labels["lbl"] for a in h.ingestor.alerts.values()} == {
        *(str(i) for i in range(501)), "calm"}
    assert all(h.dispatcher.holds(a.fingerprint) for a in h.ingestor.alerts.values())

    # A route that switched the inherited storm off was never held.
    assert [r.summary for r in h.at("calm")] == [
        (5, '{}/{team="calm"}:{alertname="Calm", lbl="calm", team="calm"}', FIRST,
         [("calm", "firing")])]
    assert len(h.lines) == len(h.at("plain"))
    assert [line.split(" | ")[0] for t, line in h.lines if t == 1] == [
        '[FIRING:59] receiver=default group={} reason="first notification"']

    # The templated channel got the digest data: counts, top groups and the full list.
    rendered = [r.body for r in h.at("digest")]
    assert [(b["groupKey"], b["count"]) for b in rendered if b["digest"]] == [
        ("{}:storm", 59), ("{}:storm", 500)]
    first, last = (b["digest"] for b in rendered if b["digest"])
    assert (first["total"], first["firing"], first["groups"], first["ended"]) == (
        59, 59, 59, False)
    assert last["ended"] is True
    assert last["alertsURL"] == "http://router.example.com/api/v1/alerts"
    assert last["byAlertname"] == [
        {"alertname": "Storm0", "count": 167, "firing": 167},
        {"alertname": "Storm1", "count": 167, "firing": 167},
        {"alertname": "Storm2", "count": 166, "firing": 166},
    ]
    assert last["bySeverity"] == [{"severity": "critical", "count": 250, "firing": 250},
                                  {"severity": "warning", "count": 250, "firing": 250}]
    assert len(last["topGroups"]) == 10
    assert last["topGroups"][0]["count"] == 1
    assert not any(b.get("digest") for b in rendered if b["groupKey"] != "{}:storm")

    # Held back: the 490 alerts that never got their own first notification.
    assert h.suppressed("storm") == 490
    events = await h.trace.events(next(a.fingerprint for a in h.ingestor.alerts.values()
                                       if a.labels["lbl"] == "100"))
    assert [e.detail.get("cause") for e in events if e.kind == "deferred"] == ["storm"]


async def test_changes_after_a_storm_notify_against_the_covered_state(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    """A storm that starts before any group flushed sends only digests; the closing digest
    is skipped when nothing changed since the last one; afterwards the log holds each
    group's digested state, so only news (here a resolution) notifies."""
    (tmp_path / "digest.j2").write_text(DIGEST_TEMPLATE, encoding="utf-8")
    h = await make_harness(STORM_CONFIG)
    await h.run(350, {0: [storm_alert(i, 0) for i in range(30)],
                      330: [(storm_alert(7, 0)[0], 0, 330)]})
    assert [r.summary for r in h.at("plain")] == [
        (0, "{}:storm", FIRST, sorted((str(i), "firing") for i in range(30))),
        (330, '{}:{alertname="Storm1", lbl="7", severity="warning"}', ALL,
         [("7", "resolved")]),
    ]
    policy = h.dispatcher.policy
    assert isinstance(policy, NoisePolicy)
    assert not policy.in_storm("0")
    assert h.suppressed("storm") == 30


def test_default_renderings_show_a_digest_s_alerts() -> None:
    renderer = Renderer(())
    alerts = tuple(make_alert({"alertname": "Storm", "lbl": str(i)}, {}, 0.0, None, "", 1.0)
                   for i in range(30))
    n = Notification("default", "{}:storm", {}, alerts, NotifyReason.FIRST, 1.0,
                     "http://router.example.com", digest={"total": 30})
    slack = build_channel("slack", SlackConfig(api_url=Secret("http://127.0.0.1:1/x")),
                          renderer, HttpClient())
    body = json.loads(slack.render(n))
    assert "30" in json.dumps(body)
    webhook = build_channel("webhook", WebhookConfig(url=Secret("http://127.0.0.1:1/h")),
                            renderer, HttpClient())
    assert len(json.loads(webhook.render(n))["alerts"]) == 30
    line = build_channel("log", LogConfig(), renderer, HttpClient()).render(n).decode()
    assert line.startswith("[FIRING:30] receiver=default group={}")


async def test_a_lasting_storm_sends_one_digest_per_interval(
    make_harness: HarnessFactory, tmp_path: Path
) -> None:
    (tmp_path / "digest.j2").write_text(DIGEST_TEMPLATE, encoding="utf-8")
    h = await make_harness(STORM_CONFIG.replace(
        "{threshold: 20, window: 1m, digest_interval: 5m}",
        "{threshold: 5, window: 1m, digest_interval: 2m}"))
    # One new alert every 5 s for 5 minutes: 12 a minute, over the threshold of 5.
    await h.run(420, {t: [storm_alert(t, t)] for t in range(0, 300, 5)})
    plain = [r.summary for r in h.at("plain")]
    assert [(t, key, reason, len(alerts)) for t, key, reason, alerts in plain] == [
        *((t, key, FIRST, 1) for t, key, _, _ in plain[:5]),  # the 5 before the storm
        (25, "{}:storm", FIRST, 6),
        (145, "{}:storm", NEW, 30),
        (265, "{}:storm", NEW, 54),
        (385, "{}:storm", NEW, 60),  # calm again: the closing digest
    ]
    assert [t for t, *_ in plain[:5]] == [0, 5, 10, 15, 20]


def test_storm_is_inherited_unless_switched_off(tmp_path: Path) -> None:
    cfg = config_from("""
route:
  receiver: default
  storm: {threshold: 20, window: 1m, digest_interval: 5m}
  routes:
    - matchers: [team="a"]
    - matchers: [team="b"]
      storm: false
receivers:
  - name: default
""", tmp_path)
    a, b = cfg.route.routes
    assert cfg.route.storm == a.storm == StormConfig(20, 60.0, 300.0)
    assert b.storm is None
