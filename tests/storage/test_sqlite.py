"""SqliteStore on a real database file: round-trips, group commit, outbox lifecycle, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from router.errors import StoreUnavailable
from router.model import Alert, NflogEntry, make_alert, nflog_key
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

T0 = 1_700_000_000.25


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "router.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    yield s
    await s.close()


async def reopen(store: SqliteStore, path: Path) -> SqliteStore:
    await store.close()
    fresh = SqliteStore(path)
    await fresh.open()
    return fresh


def alert(name: str, **kw: object) -> Alert:
    base = make_alert({"alertname": name}, {"summary": name}, T0, None, "http://prom", T0)
    return replace(base, **kw)  # type: ignore[arg-type]


OWNER = "worker-1"


async def insert(store: SqliteStore, row: OutboxRow, until: float = T0 + 30) -> OutboxRow:
    """Store `row` leased to OWNER; returns it with the id the store assigned."""
    return replace(row, id=await store.outbox_insert(row, OWNER, until))


def outbox_row(store: SqliteStore, **kw: object) -> OutboxRow:
    row = OutboxRow(
        id=0, receiver="team", channel="slack", index=0, group_key="{}:{}",
        payload=b'{"text":"hi"}', firing=frozenset({"aa", "bb"}), resolved=frozenset(),
        reason="first notification", priority=2, created_at=T0, ingested_at=T0 - 1,
        expires_in=7200.0,
    )
    return replace(row, **kw)  # type: ignore[arg-type]


def entry(key: str, expires_at: float) -> NflogEntry:
    return NflogEntry(
        key=key, firing=frozenset({"aa"}), resolved=frozenset({"bb"}), sent_at=T0,
        expires_at=expires_at, data={"thread": "1.2"},
    )


# --- alerts ---------------------------------------------------------------------------


async def test_alerts_round_trip_every_field(store: SqliteStore, db_path: Path) -> None:
    firing = make_alert(
        {"alertname": "Диск", "instance": "hôte:9100", "emoji": "🔥"},
        {"summary": "", "description": "line1\nline2 \"quoted\""},
        T0, None, "http://prom/graph?g0.expr=up", T0 + 0.5, source="webhook",
    )
    resolved = alert("Gone", ends_at=T0 + 300.125, timeout_end=True, updated_at=T0 + 1.5,
                     received_at=T0 + 0.001)
    await store.upsert_alerts([firing, resolved])

    store = await reopen(store, db_path)
    try:
        loaded = {a.fingerprint: a for a in await store.load_alerts()}
    finally:
        await store.close()
    assert loaded == {firing.fingerprint: firing, resolved.fingerprint: resolved}
    assert loaded[firing.fingerprint].ends_at is None
    assert loaded[firing.fingerprint].annotations["summary"] == ""


async def test_newest_upsert_wins_and_delete_removes(store: SqliteStore) -> None:
    first = alert("A", updated_at=T0)
    newer = alert("A", updated_at=T0 + 10, annotations={"summary": "newer"})
    other = alert("B")
    await asyncio.gather(store.upsert_alerts([first]), store.upsert_alerts([newer, other]))
    assert {a.fingerprint: a for a in await store.load_alerts()} == {
        newer.fingerprint: newer, other.fingerprint: other,
    }

    await store.delete_alerts([other.fingerprint, "not-there"])
    assert await store.load_alerts() == [newer]


async def test_concurrent_writes_share_transactions(store: SqliteStore) -> None:
    alerts = [alert(f"A{i}") for i in range(1000)]
    before = store.transactions
    await asyncio.gather(*(store.upsert_alerts([a]) for a in alerts))
    used = store.transactions - before
    assert len(await store.load_alerts()) == 1000
    assert 1 <= used <= 10


async def test_interleaved_writes_keep_their_order(store: SqliteStore) -> None:
    a = alert("A")
    row = await insert(store, outbox_row(store))
    key = nflog_key("g", "team", "slack", 0)
    *_, new_id = await asyncio.gather(
        store.upsert_alerts([a]),
        store.outbox_ack(row.id, OWNER, entry(key, T0 + 100)),
        store.delete_alerts([a.fingerprint]),
        store.upsert_alerts([replace(a, updated_at=T0 + 5)]),
        store.outbox_insert(row, OWNER, T0 + 30),
    )
    assert [x.updated_at for x in await store.load_alerts()] == [T0 + 5]
    # Ids come from the store and are never reused (the first row is gone).
    assert [r.id for r in await store.outbox_load_pending()] == [new_id]
    assert new_id == row.id + 1
    assert [e.key for e in await store.load_nflog(T0)] == [key]


# --- outbox ---------------------------------------------------------------------------


async def test_outbox_lifecycle(store: SqliteStore, db_path: Path) -> None:
    row = await insert(store, outbox_row(store))
    assert await store.outbox_get(row.id) == row

    await store.outbox_reschedule(row.id, OWNER, T0 + 30, 1, "server_error: 503")
    rescheduled = await store.outbox_get(row.id)
    assert rescheduled is not None
    assert (rescheduled.attempts, rescheduled.next_attempt_at) == (1, T0 + 30)
    # Writes by a worker that does not hold the row change nothing.
    await store.outbox_dead(row.id, "someone-else", 9, "nope")
    assert await store.outbox_get(row.id) == rescheduled
    await store.outbox_dead(row.id, OWNER, 5, "client_error: 400")
    dead = await store.outbox_get(row.id)
    assert dead is not None
    assert (dead.state, dead.attempts, dead.last_error) == ("dead", 5, "client_error: 400")
    assert await store.outbox_load_pending() == []
    assert await store.outbox_list("dead") == [dead]
    assert await store.outbox_counts() == {("slack", "dead"): 1}

    requeued = await store.outbox_requeue(row.id, T0 + 60, OWNER, T0 + 90)
    assert requeued is not None
    assert (requeued.state, requeued.attempts, requeued.next_attempt_at) == (
        "pending", 0, T0 + 60,
    )
    assert requeued.payload == row.payload
    assert await store.outbox_requeue(row.id, T0 + 61, OWNER, T0 + 90) is None  # not dead
    assert await store.outbox_requeue(9999, T0, OWNER, T0 + 90) is None

    key = nflog_key(row.group_key, row.receiver, row.channel, row.index)
    await store.outbox_ack(row.id, OWNER, entry(key, T0 + 7200))

    store = await reopen(store, db_path)
    try:
        assert await store.outbox_get(row.id) is None
        assert await store.load_nflog(T0) == [entry(key, T0 + 7200)]
        assert await store.outbox_counts() == {}
    finally:
        await store.close()


async def test_replace_updates_content_of_pending_row(store: SqliteStore) -> None:
    row = await insert(store, outbox_row(store))
    newer = replace(
        row, payload=b"\x00binary\xff", firing=frozenset({"cc"}), resolved=frozenset({"aa"}),
        reason="some alerts resolved", priority=0, ingested_at=T0 + 3, all_resolved=True,
        expires_in=60.0, created_at=T0 + 99, attempts=7,
    )
    await store.outbox_replace(newer, "someone-else")  # not the holder: no change
    assert await store.outbox_get(row.id) == row
    await store.outbox_replace(newer, OWNER)
    # created_at and attempts belong to the row, not to its content.
    assert await store.outbox_get(row.id) == replace(newer, created_at=T0, attempts=0)


async def test_pending_rows_and_ids_survive_restart(store: SqliteStore, db_path: Path) -> None:
    rows = [outbox_row(store, group_key=f"g{i}", priority=i % 4) for i in range(3)]
    ids = await asyncio.gather(*(store.outbox_insert(r, OWNER, T0 + 30) for r in rows))
    rows = [replace(r, id=i) for r, i in zip(rows, ids, strict=True)]
    assert ids == sorted(ids)
    await store.outbox_dead(rows[1].id, OWNER, 3, "auth")

    store = await reopen(store, db_path)
    try:
        assert await store.outbox_load_pending() == [rows[0], rows[2]]
        assert await store.outbox_insert(rows[0], OWNER, T0 + 30) == rows[-1].id + 1
    finally:
        await store.close()


# --- notification log -----------------------------------------------------------------


async def test_nflog_expiry_and_gc(store: SqliteStore) -> None:
    old, live = entry("old", T0 + 10), entry("live", T0 + 1000)
    await store.record_nflog(old)
    await store.record_nflog(live)
    assert sorted(e.key for e in await store.load_nflog(T0)) == ["live", "old"]
    assert await store.load_nflog(T0 + 10) == [live]

    assert await store.gc_nflog(T0 + 10) == 1
    assert await store.gc_nflog(T0 + 10) == 0
    assert await store.load_nflog(T0) == [live]

    await store.record_nflog(replace(live, firing=frozenset()))
    assert await store.load_nflog(T0) == [replace(live, firing=frozenset())]


# --- failures -------------------------------------------------------------------------


async def test_disk_full_fails_the_whole_batch(store: SqliteStore, db_path: Path) -> None:
    kept = alert("kept")
    await store.upsert_alerts([kept])
    await store.set_max_page_count(await store.page_count())

    big = [alert(f"big{i}", annotations={"description": "x" * 2000}) for i in range(200)]
    row = outbox_row(store)
    results = await asyncio.gather(
        store.upsert_alerts(big),
        store.outbox_insert(row, OWNER, T0 + 30),
        store.record_nflog(entry("k", T0 + 100)),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results), results
    assert "full" in str(results[0])

    # The store recovers once there is room again.
    await store.set_max_page_count(1_000_000)
    await store.upsert_alerts([alert("after")])

    store = await reopen(store, db_path)
    try:
        assert sorted(a.labels["alertname"] for a in await store.load_alerts()) == [
            "after", "kept",
        ]
        assert await store.outbox_load_pending() == []
        assert await store.load_nflog(T0) == []
    finally:
        await store.close()


async def test_writes_after_close_raise(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.open()
    pending = asyncio.ensure_future(store.upsert_alerts([alert("flushed")]))
    await asyncio.sleep(0)  # queued, not yet committed
    await store.close()
    await pending

    with pytest.raises(StoreUnavailable):
        await store.upsert_alerts([alert("late")])
    with pytest.raises(StoreUnavailable):
        await store.outbox_ack(1, OWNER, entry("k", T0))

    store = SqliteStore(db_path)
    await store.open()
    try:
        assert [a.labels["alertname"] for a in await store.load_alerts()] == ["flushed"]
    finally:
        await store.close()


async def test_migrations_are_applied_once(db_path: Path) -> None:
    for _ in range(2):
        store = SqliteStore(db_path)
        await store.open()
        await store.upsert_alerts([alert("A")])
        await store.close()
    store = SqliteStore(db_path)
    await store.open()
    try:
        assert len(await store.load_alerts()) == 1
    finally:
        await store.close()
