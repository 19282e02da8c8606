"""The decision trace table: appended by group commit, read newest-capped, bounded by gc."""

from __future__ import annotations

from pathlib import Path

from router.storage.sqlite import SqliteStore
from router.trace import TraceEvent


def event(fp: str, at: float, kind: str = "received", **detail: str) -> TraceEvent:
    return TraceEvent(fp, at, kind, detail)


async def test_events_round_trip_in_order_and_survive_a_restart(
    store: SqliteStore, tmp_path: Path
) -> None:
    await store.append_trace([event("a", 1.0, source="api"), event("b", 2.0),
                              event("a", 3.0, "notified", channel="slack[0]")])
    await store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    await reopened.open()
    try:
        trace = await reopened.load_trace("a", 10)
    finally:
        await reopened.close()
    assert [(e.at, e.kind, dict(e.detail)) for e in trace] == [
        (1.0, "received", {"source": "api"}),
        (3.0, "notified", {"channel": "slack[0]"}),
    ]


async def test_load_returns_the_newest_events_up_to_the_limit(store: SqliteStore) -> None:
    await store.append_trace([event("a", float(i)) for i in range(10)])
    assert [e.at for e in await store.load_trace("a", 3)] == [7.0, 8.0, 9.0]


async def test_gc_drops_old_events_and_caps_each_alert(store: SqliteStore) -> None:
    await store.append_trace([event("old", 1.0)] + [event("busy", 100.0 + i) for i in range(8)]
                             + [event("calm", 150.0)])
    removed = await store.gc_trace(before=50.0, cap=5)
    assert removed == 1 + 3
    assert await store.load_trace("old", 10) == []
    assert [e.at for e in await store.load_trace("busy", 10)] == [103.0, 104.0, 105.0,
                                                                   106.0, 107.0]
    assert len(await store.load_trace("calm", 10)) == 1
