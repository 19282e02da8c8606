"""The event log's seams for in-process consumers and the hub's fan-out: `follow` catches
up from the store then goes live without gaps or duplicates; a subscriber that cannot keep
up is closed, never waited for; a live stream gets one write per fan-out window however
many commits it holds; the `stream` config section."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import config_from
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.events import frames
from router.events.follow import Since, follow
from router.events.hub import TOO_SLOW, EventHub, Limits, StreamClosed
from router.events.model import TYPES, Event, EventQuery
from router.metrics import STREAM_EVENT_TYPES, Metrics
from router.storage.sqlite import SqliteStore


def hub(clock: FakeClock, queue: int = 100, buffer: int = 1 << 20) -> EventHub:
    return EventHub(Metrics(CollectorRegistry()), clock, limits=lambda: Limits(queue, buffer),
                    keepalive=lambda: 15.0)


def ev(kind: str, n: int) -> Event:
    return Event(kind, 0.0, {"n": n})


async def test_follow_catches_up_then_goes_live_with_its_filter(
        store: SqliteStore, clock: FakeClock) -> None:
    h = hub(clock)
    store.event_sink = h.publish
    await store.append_events([ev("alert.firing", 1), ev("notification.sent", 2),
                               ev("alert.resolved", 3)])
    sub = h.subscribe(EventQuery(types=("alert.",)))
    stream = follow(store, sub, Since.parse("1"), clock)
    [(opened, _)] = await anext(stream)
    assert (opened.type, opened.data) == ("open", {"head": 3, "cursor": 1})
    assert [e.data["n"] for e, _ in await anext(stream)] == [3]
    await store.append_events([ev("alert.firing", 4), ev("trace.routed", 5)])
    live = await anext(stream)
    assert [(e.id, e.data["n"]) for e, _ in live] == [(4, 4)]
    h.unsubscribe(sub)


async def test_since_latest_starts_at_the_newest_matching_event(
        store: SqliteStore, clock: FakeClock) -> None:
    h = hub(clock)
    await store.append_events([ev("alert.firing", 1), ev("alert.resolved", 2),
                               ev("notification.sent", 3)])
    sub = h.subscribe(EventQuery(types=("alert.",)))
    stream = follow(store, sub, Since.parse("latest"), clock)
    [(opened, _)] = await anext(stream)
    assert opened.data == {"head": 3, "cursor": 1}
    assert [e.data["n"] for e, _ in await anext(stream)] == [2]
    h.unsubscribe(sub)


async def test_an_in_process_subscriber_that_falls_behind_is_closed(clock: FakeClock) -> None:
    h = hub(clock, queue=3)
    slow = h.subscribe(EventQuery())
    h.publish([Event("alert.firing", 0.0, {}, id=i) for i in range(1, 5)])
    await asyncio.sleep(0)  # the fan-out runs on the next loop iteration
    with pytest.raises(StreamClosed) as closed:
        await slow.next()
    assert closed.value.reason == TOO_SLOW


class Recorder:
    def __init__(self, buffered: int = 0) -> None:
        self.writes: list[bytes] = []
        self.buffered = buffered

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return False


async def test_live_streams_get_one_write_per_window_and_slow_ones_are_cut(
        clock: FakeClock) -> None:
    h = hub(clock, buffer=4096)
    fast, slow = Recorder(), Recorder(buffered=10_000)
    subs = [h.subscribe(EventQuery(), frames.SSE) for _ in range(2)]
    closed: list[str] = []
    subs[1].on_close = closed.append
    subs[0].go_live(fast, 0)
    subs[1].go_live(slow, 0)
    for i in range(1, 4):  # three commits inside one window
        h.publish([Event("alert.firing", 0.0, {}, id=i)])
    async with asyncio.timeout(1):
        while not fast.writes:  # noqa: ASYNC110 (the window is real time)
            await asyncio.sleep(0.001)
    [data] = fast.writes
    assert data.count(b"event: alert.firing") == 3
    size, _, body = data.partition(b"\r\n")  # one HTTP/1.1 chunk
    assert int(size, 16) == len(body) - 2
    assert body.endswith(b"\n\n\r\n")
    assert closed == [TOO_SLOW]
    assert h.clients() == 2  # the handler unsubscribes when its stream ends


def test_the_stream_section(tmp_path: Path) -> None:
    cfg = config_from("""
route: {receiver: r}
receivers: [{name: r}]
stream: {retention: 2h, keepalive: 30s, client_queue: 50, client_buffer: 65536}
""", tmp_path)
    assert (cfg.stream.retention, cfg.stream.keepalive) == (7200.0, 30.0)
    assert (cfg.stream.client_queue, cfg.stream.client_buffer) == (50, 65536)


def test_every_event_type_has_its_metric_label() -> None:
    assert set(STREAM_EVENT_TYPES) == {*TYPES, "trace"}
