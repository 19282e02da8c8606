"""Notification timelines (Alertmanager's acceptance scenarios) on a fake clock.

ingest → dispatcher → the notify chain (mute, dedup, send_resolved) → real delivery and
SqliteStore, built by production's `build_service` → webhook channels on a loopback fake
and a log channel on a StringIO: what a user receives. Times are Alertmanager's test
timelines scaled by 10 (group_wait 1s → 10s).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import Fake
from conftest import push_timeline, settle_deliveries
from fakeclock import FakeClock
from harness import ServiceFactory
from pytest_aiohttp import AiohttpServer

from router.delivery.worker import DeliveryManager
from router.ingest.ingestor import AlertIngestor
from router.model import fingerprint, nflog_key
from router.routing.grouping import Dispatcher
from router.storage.sqlite import SqliteStore

# A push: (labels, startsAt offset, endsAt offset or None), offsets from the test's start.
Push = tuple[Mapping[str, str], float, float | None]
# What arrived: (second, path suffix, status, notification_reason, [(lbl, status), ...]).
Seen = tuple[int, str, str, str, list[tuple[str, str]]]


def alert(lbl: str, start: float, end: float | None = None, name: str = "test") -> Push:
    return ({"alertname": name, "lbl": lbl}, start, end)


@dataclass
class Pipe:
    clock: FakeClock
    base: float
    fakes: list[Fake]
    stream: io.StringIO
    delivery: DeliveryManager
    dispatcher: Dispatcher
    ingestor: AlertIngestor
    store: SqliteStore
    seen: list[Seen] = field(default_factory=list)
    lines: list[tuple[int, str]] = field(default_factory=list)
    _counted: dict[int, int] = field(default_factory=dict)

    @property
    def fake(self) -> Fake:
        return self.fakes[0]

    async def push(self, *pushes: Push) -> None:
        await push_timeline(self.ingestor, self.clock, self.base, pushes)

    async def quiet(self) -> None:
        await settle_deliveries(self.delivery, self.clock)

    async def run(self, until: int, pushes: Mapping[int, list[Push]] | None = None) -> None:
        """Step the clock second by second, pushing, flushing due groups, delivering."""
        pushes = pushes or {}
        start = round(self.clock.now() - self.base)
        for t in range(start, until + 1):
            await self.clock.advance(self.base + t - self.clock.now())
            for batch in pushes.get(t, []):
                await self.push(batch)
            await self.dispatcher.run_due()
            await self.quiet()
            self._collect(t)

    def _collect(self, t: int) -> None:
        for i, fake in enumerate(self.fakes):
            for request in fake.requests[self._counted.get(i, 0):]:
                self._see(t, request.json(), request.path)
            self._counted[i] = len(fake.requests)
        new = self.stream.getvalue().splitlines()[len(self.lines):]
        self.lines.extend((t, line) for line in new)

    def _see(self, t: int, body: Any, path: str) -> None:
        alerts = [(a["labels"]["lbl"], a["status"]) for a in body["alerts"]]
        suffix = path.rsplit("/", 1)[-1]
        self.seen.append((t, suffix, body["status"], body["notification_reason"],
                          sorted(alerts)))

    def at(self, suffix: str) -> list[tuple[int, str, str, list[tuple[str, str]]]]:
        return [(t, status, reason, alerts) for t, s, status, reason, alerts in self.seen
                if s == suffix]


PipeFactory = Callable[..., Awaitable[Pipe]]


@pytest.fixture
async def make_pipe(
    aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore, clock: FakeClock
) -> AsyncIterator[PipeFactory]:
    """`pipe = await make_pipe(yaml, *fake_scripts)`: production's graph on the fake clock."""
    async with ServiceFactory.open(aiohttp_server, tmp_path, store, clock) as factory:

        async def make(text: str, *scripts: list[Any]) -> Pipe:
            built = await factory(text, *scripts)
            s = built.service
            return Pipe(clock, clock.now(), built.fakes, built.stream, s.delivery,
                        s.dispatcher, s.ingestor, store)

        yield make


def config(group_by: str = "[]", wait: str = "10s", interval: str = "10s",
           repeat: str = "1h", receivers: str = "") -> str:
    return f"""
route:
  receiver: default
  group_by: {group_by}
  group_wait: {wait}
  group_interval: {interval}
  repeat_interval: {repeat}
receivers:
  - name: default
{receivers or '''    webhook_configs:
      - url: URL/hook'''}
"""


FIRST, NEW, REPEAT = "first notification", "new alerts added", "repeat interval elapsed"
SOME, ALL = "some alerts resolved", "all alerts resolved"


def firing(*lbls: str) -> list[tuple[str, str]]:
    return sorted((lbl, "firing") for lbl in lbls)


async def test_batching(make_pipe: PipeFactory) -> None:
    """TestBatching: batched during group_wait, full group re-sent, then only on repeat."""
    pipe = await make_pipe(config(repeat="50s"))
    await pipe.run(100, {
        11: [alert("1", 10)],
        17: [alert("5", 10)],
        33: [alert("2", 15), alert("3", 15), alert("4", 16)],
    })
    everything = firing("1", "2", "3", "4", "5")
    assert pipe.at("hook") == [
        (21, "firing", FIRST, firing("1", "5")),
        (41, "firing", NEW, everything),
        (91, "firing", REPEAT, everything),
    ]
    first = pipe.fake.requests[0].json()
    assert first["groupKey"] == "{}:{}"
    assert first["alerts"][0]["startsAt"].startswith("2023-11-14T22:13:30")  # base + 10 s


async def test_repeat_every_group_interval_then_resolved(make_pipe: PipeFactory) -> None:
    """TestRepeat: repeat_interval 1ms repeats on every tick; the resolution is sent once."""
    pipe = await make_pipe(config(repeat="1ms"))
    await pipe.run(80, {10: [alert("x", 10)], 35: [alert("x", 10, 30)]})
    assert pipe.at("hook") == [
        (20, "firing", FIRST, firing("x")),
        (30, "firing", REPEAT, firing("x")),
        (40, "resolved", ALL, [("x", "resolved")]),
    ]
    assert pipe.fake.requests[-1].json()["alerts"][0]["endsAt"].startswith("2023-11-14T22:13:50")
    assert pipe.dispatcher.groups == {}


async def test_repeat_interval_is_rounded_up_to_group_interval(make_pipe: PipeFactory) -> None:
    """TestRetry's timing: repeat 30s with group_interval 20s repeats every 40s."""
    pipe = await make_pipe(config(interval="20s", repeat="30s"))
    await pipe.run(100, {0: [alert("x", 0)]})
    assert [(t, reason) for t, _, reason, _ in pipe.at("hook")] == [
        (10, FIRST), (50, REPEAT), (90, REPEAT),
    ]


async def test_integrations_are_deduplicated_independently(make_pipe: PipeFactory) -> None:
    """TestRetry: a second webhook failing for a while catches up on its own timeline."""
    receivers = """    webhook_configs:
      - url: URL/one
      - url: URL2/two"""
    pipe = await make_pipe(config(interval="20s", repeat="30s", receivers=receivers),
                           [], [400])
    await pipe.run(100, {0: [alert("x", 0)]})
    assert [(t, reason) for t, _, reason, _ in pipe.at("one")] == [
        (10, FIRST), (50, REPEAT), (90, REPEAT),
    ]
    # Its first send was rejected (dead letter), so nothing was logged for it: the next
    # tick sends it a first notification, and its repeats follow its own log entry.
    assert [(t, reason) for t, _, reason, _ in pipe.at("two")] == [
        (10, FIRST), (30, FIRST), (70, REPEAT),
    ]


async def test_resolved_filter(make_pipe: PipeFactory) -> None:
    """TestResolvedFilter: send_resolved false strips resolutions, sends none on their own,
    yet logs them, so an alert firing again is announced again."""
    receivers = """    webhook_configs:
      - url: URL/all
        send_resolved: true
      - url: URL/firing
        send_resolved: false"""
    pipe = await make_pipe(config(group_by="[alertname]", receivers=receivers))
    await pipe.run(60, {
        1: [alert("v1", 1), alert("v2", 1)],
        15: [alert("v1", 1, 14)],
        17: [alert("v3", 17)],
        25: [alert("v2", 1, 24)],
        35: [alert("v3", 17, 34)],
        45: [alert("v3", 45)],
    })
    assert pipe.at("all") == [
        (11, "firing", FIRST, firing("v1", "v2")),
        (21, "firing", NEW, [("v1", "resolved"), ("v2", "firing"), ("v3", "firing")]),
        (31, "firing", SOME, [("v2", "resolved"), ("v3", "firing")]),
        (41, "resolved", ALL, [("v3", "resolved")]),
        (55, "firing", FIRST, firing("v3")),
    ]
    assert pipe.at("firing") == [
        (11, "firing", FIRST, firing("v1", "v2")),
        (21, "firing", NEW, firing("v2", "v3")),
        (55, "firing", FIRST, firing("v3")),
    ]


async def test_silent_resolution_is_logged(make_pipe: PipeFactory) -> None:
    receivers = """    webhook_configs:
      - url: URL/firing
        send_resolved: false"""
    pipe = await make_pipe(config(group_by="[alertname]", receivers=receivers))
    await pipe.run(30, {1: [alert("v1", 1)], 15: [alert("v1", 1, 14)]})
    assert [t for t, *_ in pipe.at("firing")] == [11]
    key = nflog_key('{}:{alertname="test"}', "default", "webhook", 0)
    [entry] = await pipe.store.load_nflog(pipe.clock.now())
    assert entry.key == key
    assert entry.firing == frozenset()
    assert entry.resolved == {fingerprint({"alertname": "test", "lbl": "v1"})}
    assert entry.sent_at == pipe.base + 21


async def test_all_resolved_is_sent_even_without_other_changes(make_pipe: PipeFactory) -> None:
    """Two alerts resolve in the same interval: one "all resolved" notification."""
    pipe = await make_pipe(config(repeat="4h"))
    await pipe.run(60, {0: [alert("a", 0), alert("b", 0)],
                        12: [alert("a", 0, 12), alert("b", 0, 12)]})
    assert pipe.at("hook") == [
        (10, "firing", FIRST, firing("a", "b")),
        (20, "resolved", ALL, [("a", "resolved"), ("b", "resolved")]),
    ]


async def test_alert_firing_and_resolving_within_group_wait_is_never_sent(
    make_pipe: PipeFactory,
) -> None:
    receivers = """    webhook_configs:
      - url: URL/hook
    log_configs:
      - send_resolved: true"""
    pipe = await make_pipe(config(group_by="[alertname]", receivers=receivers))
    # A control alert in another group fires alongside (and resolves later): the pipeline
    # does deliver, so "a" going unsent is the router's decision, not a dead pipeline.
    await pipe.run(60, {0: [alert("a", 0), alert("c", 0, name="control")],
                        5: [alert("a", 0, 5)],
                        15: [alert("c", 0, 15, name="control")]})
    assert pipe.seen == [
        (10, "hook", "firing", FIRST, firing("c")),
        (20, "hook", "resolved", ALL, [("c", "resolved")]),
    ]
    assert [(t, line.split(" | ")[0]) for t, line in pipe.lines] == [
        (10, '[FIRING:1] receiver=default group={alertname="control"} '
             'reason="first notification"'),
        (20, '[RESOLVED:1] receiver=default group={alertname="control"} '
             'reason="all alerts resolved"'),
    ]
    assert not any(lbl == "a" for *_, alerts in pipe.seen for lbl, _ in alerts)
    assert not any('alertname="test"' in line for _, line in pipe.lines)
    assert pipe.dispatcher.groups == {}


async def test_alertmanager_ha_duplicates_notify_once(make_pipe: PipeFactory) -> None:
    """Both Alertmanagers of an HA pair send every alert; the user is paged once."""
    receivers = """    log_configs:
      - send_resolved: true"""
    pipe = await make_pipe(config(group_by="[alertname]", receivers=receivers))
    x = alert("x", 0, name="X")
    await pipe.run(80, {
        1: [x], 3: [x],  # both peers, a moment apart
        25: [x], 27: [x],  # their periodic re-sends
        # Peers compute a resolve_timeout end from their own receive time.
        40: [alert("x", 0, 38, name="X")], 43: [alert("x", 0, 39, name="X")],
    })
    assert [(t, line.split(" | ")[0]) for t, line in pipe.lines] == [
        (11, '[FIRING:1] receiver=default group={alertname="X"} reason="first notification"'),
        (41, '[RESOLVED:1] receiver=default group={alertname="X"} '
             'reason="all alerts resolved"'),
    ]


async def test_outage_delivers_the_latest_state_once(make_pipe: PipeFactory) -> None:
    """At-least-once across a webhook outage: the queued row takes on newer flushes, and the
    user finally receives one notification with the group's current state."""
    slow_down = (503, {"Retry-After": "15"})
    pipe = await make_pipe(config(), [slow_down, slow_down])
    await pipe.run(60, {0: [alert("a", 0)], 12: [alert("b", 12)]})
    bodies = [sorted(a["labels"]["lbl"] for a in r.json()["alerts"])
              for r in pipe.fake.requests]
    # Sent at 10 (503), retried at 25 with the newer state (503), delivered at 40.
    assert bodies == [["a"], ["a", "b"], ["a", "b"]]
    assert [(t, reason) for t, _, reason, _ in pipe.at("hook")] == [
        (10, FIRST), (25, FIRST), (40, FIRST),
    ]
    assert await pipe.store.outbox_load_pending() == []
    assert pipe.delivery.nflog[nflog_key("{}:{}", "default", "webhook", 0)].sent_at == (
        pipe.base + 40
    )


async def test_resolution_during_an_outage_is_sent_after_the_late_firing(
    make_pipe: PipeFactory,
) -> None:
    """The firing notification is still retrying when the alert resolves: the user gets it
    late, and then the resolution (not a stale "firing" as the last word)."""
    slow_down = (503, {"Retry-After": "15"})
    pipe = await make_pipe(config(), [slow_down])
    await pipe.run(60, {0: [alert("a", 0)], 12: [alert("a", 0, 12)]})
    assert pipe.at("hook") == [
        (10, "firing", FIRST, firing("a")),  # 503
        (25, "firing", FIRST, firing("a")),  # the retry, delivered
        (30, "resolved", ALL, [("a", "resolved")]),
    ]
    assert pipe.dispatcher.groups == {}


async def test_silent_resolution_waits_for_a_late_delivery(make_pipe: PipeFactory) -> None:
    """send_resolved false: the resolution is logged after the late firing notification
    lands, so the alert firing again later is announced again."""
    receivers = """    webhook_configs:
      - url: URL/firing
        send_resolved: false"""
    slow_down = (503, {"Retry-After": "15"})
    pipe = await make_pipe(config(receivers=receivers), [slow_down])
    await pipe.run(80, {0: [alert("a", 0)], 12: [alert("a", 0, 12)], 50: [alert("a", 50)]})
    assert [(t, reason) for t, _, reason, _ in pipe.at("firing")] == [
        (10, FIRST), (25, FIRST), (60, FIRST),
    ]
