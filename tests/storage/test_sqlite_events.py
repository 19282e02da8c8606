"""The event log in the store: events commit (or roll back) with the change they ride on,
ids increase in commit order, only committed events are published, the trace migrates in,
and trimming moves the horizon that streams `reset` below."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

from router.errors import StoreRejected
from router.events.model import Event, EventQuery
from router.storage.sqlite import SqliteStore
from router.storage.sqlite_tx import read_migrations
from router.trace import TraceEvent
from storage.test_sqlite_isolation import OWNER, T0, alert, batched, row


def ev(kind: str = "alert.firing", at: float = T0, **data: str) -> Event:
    return Event(kind, at, data, receivers=("team",), severity="critical")


async def test_events_commit_with_their_change_and_are_published_after_commit(
    store: SqliteStore,
) -> None:
    published: list[Event] = []
    store.event_sink = published.extend
    a = alert("A")
    write = store.upsert_alerts([a], [ev(fp=a.fingerprint)])
    assert published == []  # nothing before the commit
    await write
    [event] = published
    assert event.id > 0
    assert event.data == {"fp": a.fingerprint}
    stored = await store.load_events(0, EventQuery(), 10)
    assert stored == [event]


async def test_a_refused_write_keeps_none_of_its_events(store: SqliteStore) -> None:
    published: list[Event] = []
    store.event_sink = published.extend
    broken = replace(alert("broken"), updated_at=2**64)
    results = await batched(
        store,
        store.upsert_alerts([alert("kept")], [ev(name="kept")]),
        store.upsert_alerts([broken], [ev(name="broken")]),
        store.outbox_insert(row(), OWNER, T0 + 30, [ev("notification.queued", name="q")]),
    )
    assert isinstance(results[1], StoreRejected)
    names = [e.data["name"] for e in published]
    assert names == ["kept", "q"]
    assert [e.data["name"] for e in await store.load_events(0, EventQuery(), 10)] == names
    # The insert still learns its own row id, not the event's.
    assert [r.id for r in await store.outbox_load_pending()] == [results[2]]


async def test_ids_increase_in_commit_order_across_transactions(store: SqliteStore) -> None:
    published: list[Event] = []
    store.event_sink = published.extend
    await asyncio.gather(*(store.append_events([ev(n=str(i)), ev(n=f"{i}b")])
                           for i in range(50)))
    await store.append_events([ev(n="last")])
    ids = [e.id for e in published]
    assert ids == sorted(ids)
    assert len(set(ids)) == 101
    assert [e.data["n"] for e in published][:2] == ["0", "0b"]
    assert (await store.event_bounds())[1] == ids[-1]


async def test_filters_match_the_hubs(store: SqliteStore) -> None:
    events = [Event("alert.firing", T0, {}, ("a", "b"), "critical"),
              Event("alert.resolved", T0, {}, ("b",), "warning"),
              Event("notification.sent", T0, {}, ("a",), "critical"),
              Event("trace.routed", T0, {}, (), "", "fp1")]
    await store.append_events(events)
    for query in (EventQuery(), EventQuery(types=("alert.",)), EventQuery(receiver="a"),
                  EventQuery(severity="warning"), EventQuery(types=("trace.",)),
                  EventQuery(types=("notification.sent", "alert.resolved"))):
        stored = await store.load_events(0, query, 10)
        assert [e.type for e in stored] == [e.type for e in events if query.matches(e)], query


async def test_trimming_moves_the_horizon_and_keeps_the_trace(store: SqliteStore) -> None:
    await store.append_events([ev(at=T0), ev(at=T0 + 10), ev(at=T0 + 20)])
    await store.append_trace([TraceEvent("fp", T0, "received", {})])
    assert await store.event_bounds() == (0, 4)
    assert await store.gc_events(T0 + 15) == 2  # the trace row is kept (its own retention)
    assert await store.event_bounds() == (2, 4)
    assert [e.at for e in await store.load_events(0, EventQuery(), 10)] == [T0 + 20]
    assert [e.kind for e in await store.load_trace("fp", 10)] == ["received"]
    await store.gc_events(T0 + 15)  # nothing more to trim: the horizon stays
    assert await store.event_bounds() == (2, 4)


async def test_trace_rows_move_into_the_log_and_ids_continue_above_them(tmp_path: Path
                                                                        ) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    for version, sql in read_migrations():
        if version <= 4:
            db.executescript(sql)
    db.execute("PRAGMA user_version = 4")
    db.executemany("INSERT INTO trace (id, fingerprint, at, kind, detail) VALUES (?,?,?,?,?)",
                   [(7, "fp", 1.0, "received", '{"source": "api"}'),
                    (9, "fp", 2.0, "routed", '{"route": "/"}')])
    db.commit()
    db.close()
    store = SqliteStore(path)
    await store.open()
    try:
        trace = await store.load_trace("fp", 10)
        assert [(e.kind, dict(e.detail)) for e in trace] == [
            ("received", {"source": "api"}), ("routed", {"route": "/"})]
        await store.append_events([ev()])
        [new] = await store.load_events(0, EventQuery(), 10)
        assert new.id == 10  # the cursor sequence continues above the migrated rows
        assert await store.event_bounds() == (0, 10)
    finally:
        await store.close()


async def test_the_session_key_is_made_once_and_kept(store: SqliteStore,
                                                     tmp_path: Path) -> None:
    key = await store.session_secret()
    assert len(key) == 32
    assert await store.session_secret() == key
    await store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    await reopened.open()
    try:
        assert await reopened.session_secret() == key
    finally:
        await reopened.close()
