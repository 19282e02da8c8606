"""Outbox claims on a real database file shared by two store connections (two workers),
and rows in doubt (a holder may have sent them and died before recording the outcome)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from router.model import NflogEntry
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore
from router.storage.sqlite_tx import read_migrations

T0 = 1_700_000_000.0
TTL = 15.0


def row(group: str, priority: int = 2, due: float = T0) -> OutboxRow:
    return OutboxRow(
        id=0, receiver="team", channel="webhook", index=0, group_key=group,
        payload=group.encode(), firing=frozenset({group}), resolved=frozenset(),
        reason="first notification", priority=priority, created_at=T0, ingested_at=T0,
        next_attempt_at=due, expires_in=3600.0,
    )


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[SqliteStore, SqliteStore]]:
    a, b = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def queue_unheld(store: SqliteStore, rows: list[OutboxRow]) -> list[int]:
    """Rows queued by a process that then shut down (its leases given back)."""
    ids = [await store.outbox_insert(r, "gone", T0) for r in rows]
    await store.outbox_release("gone")
    return ids


async def test_concurrent_claims_never_hand_a_row_to_both(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    ids = await queue_unheld(a, [row(f"g{i}") for i in range(300)])
    got_a: list[int] = []
    got_b: list[int] = []

    async def claim(store: SqliteStore, owner: str, into: list[int]) -> None:
        while batch := await store.outbox_lease(owner, 7, T0, TTL):
            into.extend(r.id for r in batch)

    await asyncio.gather(claim(a, "A", got_a), claim(b, "B", got_b))
    assert sorted(got_a + got_b) == sorted(ids)
    assert not set(got_a) & set(got_b)
    # Held rows are nobody else's until the lease runs out.
    assert await b.outbox_lease("B", 1000, T0 + TTL - 1, TTL) == []
    assert await b.outbox_next_claimable("B", T0) == T0 + TTL


async def test_claims_take_due_rows_most_urgent_first(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, _ = pair
    await queue_unheld(a, [row("later", due=T0 + 60), row("warn", 2), row("crit", 0)])
    assert [r.group_key for r in await a.outbox_lease("A", 10, T0, TTL)] == ["crit", "warn"]
    assert await a.outbox_next_claimable("A", T0) == T0 + 60
    assert len(await a.outbox_renew("A", T0 + 100)) == 2  # still holding those two
    assert [r.group_key for r in await a.outbox_lease("A", 10, T0 + 60, TTL)] == ["later"]
    assert await a.outbox_next_claimable("A", T0 + 60) is None


async def test_an_expired_lease_is_claimable_and_the_old_holder_loses_its_writes(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    rid = await a.outbox_insert(row("g"), "A", T0 + TTL)
    assert await b.outbox_lease("B", 10, T0 + TTL - 0.1, TTL) == []
    [taken] = await b.outbox_lease("B", 10, T0 + TTL, TTL)
    assert taken.id == rid
    # "A" (crashed, or stalled past its lease) can no longer change or delete the row.
    await a.outbox_reschedule(rid, "A", T0 + 999, 3, "late")
    entry = NflogEntry("k", frozenset({"g"}), frozenset(), T0, T0 + 60, {})
    await a.outbox_ack(rid, "A", entry)
    # B took it from a holder whose lease ran out: A may have sent it (in doubt).
    assert await a.outbox_get(rid) == replace(row("g"), id=rid, in_doubt=True)
    assert await a.load_nflog(T0) == []  # the holder logs it when it has sent it
    assert await a.outbox_renew("A", T0 + 100) == []
    await b.outbox_ack(rid, "B", entry)
    assert await a.outbox_get(rid) is None
    assert await a.load_nflog(T0) == [entry]


async def test_renew_and_release(pair: tuple[SqliteStore, SqliteStore]) -> None:
    a, b = pair
    rid = await a.outbox_insert(row("g"), "A", T0 + TTL)
    assert await a.outbox_renew("A", T0 + 100) == [rid]
    assert await b.outbox_lease("B", 10, T0 + 99, TTL) == []
    await a.outbox_release("A")
    assert [r.id for r in await b.outbox_lease("B", 10, T0, TTL)] == [rid]


async def test_batched_inserts_learn_the_id_of_their_own_row(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, _ = pair
    before = a.transactions
    rows = [row(f"g{i}") for i in range(50)]
    ids = await asyncio.gather(*(a.outbox_insert(r, "A", T0 + TTL) for r in rows))
    assert a.transactions - before <= 2  # group commit: the inserts share transactions
    assert len(set(ids)) == 50
    for r, rid in zip(rows, ids, strict=True):
        assert await a.outbox_get(rid) == replace(r, id=rid)


async def test_adopt_takes_every_unheld_pending_row_due_or_not(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    await queue_unheld(a, [row("now"), row("later", due=T0 + 600)])
    held = await a.outbox_insert(row("held"), "A", T0 + TTL)
    assert await b.outbox_lease_owners(T0) == ["A"]
    assert sorted(r.group_key for r in await b.outbox_adopt("B", T0, TTL)) == ["later", "now"]
    assert sorted(await b.outbox_lease_owners(T0)) == ["A", "B"]
    assert await b.outbox_adopt("B", T0, TTL) == []
    await b.outbox_renew("B", T0 + 100)
    [late] = await b.outbox_adopt("B", T0 + TTL, TTL)  # A's lease ran out
    assert late.id == held


# --- in doubt: a holder may have sent the row and died before recording the outcome ----


async def test_a_row_taken_after_its_holders_lease_ran_out_is_in_doubt(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    sent = await a.outbox_insert(row("due"), "A", T0 + TTL)
    later = await a.outbox_insert(row("later", due=T0 + 60), "A", T0 + TTL)
    [taken] = await b.outbox_lease("B", 10, T0 + TTL, TTL)
    assert (taken.id, taken.in_doubt) == (sent, True)
    # Due only after A's lease ended: A never had the chance to send it.
    [backing_off] = await b.outbox_adopt("B", T0 + TTL, TTL)
    assert (backing_off.id, backing_off.in_doubt) == (later, False)


async def test_a_graceful_hand_over_is_not_in_doubt_and_keeps_an_earlier_doubt(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    clean = await a.outbox_insert(row("clean"), "A", T0 + TTL)
    doubtful = await a.outbox_insert(row("doubtful"), "dead", T0 + 1)
    [taken] = await a.outbox_lease("A", 10, T0 + 1, TTL)  # "dead"'s lease ran out
    assert (taken.id, taken.in_doubt) == (doubtful, True)
    await a.outbox_release("A")  # shutdown: A recorded every outcome it had
    got = {r.id: r.in_doubt for r in await b.outbox_lease("B", 10, T0, TTL)}
    assert got == {clean: False, doubtful: True}  # doubt lasts until the row is delivered


async def test_a_graceful_release_marks_only_the_sends_it_cut_short(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    cut = await a.outbox_insert(row("cut"), "A", T0 + TTL)
    await a.outbox_insert(row("queued"), "A", T0 + TTL)
    theirs = await a.outbox_insert(row("theirs"), "C", T0 + TTL)
    await a.outbox_release("A", cut_short=[cut, theirs, 0])  # not A's, no such row: ignored
    got = {r.group_key: r.in_doubt for r in await b.outbox_lease("B", 10, T0, TTL)}
    assert got == {"cut": True, "queued": False}
    other = await b.outbox_get(theirs)
    assert other is not None
    assert not other.in_doubt


async def test_a_dead_owners_release_puts_its_due_rows_in_doubt(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, b = pair
    due = await a.outbox_insert(row("due"), "crashed", T0 + TTL)
    await a.outbox_insert(row("later", due=T0 + 60), "crashed", T0 + TTL)
    await a.outbox_release("crashed", in_doubt=True)
    got = {r.group_key: r.in_doubt for r in await b.outbox_adopt("B", T0, TTL)}
    assert got == {"due": True, "later": False}
    assert (await b.outbox_get(due)) == replace(row("due"), id=due, in_doubt=True)


async def test_own_expired_lease_taken_back_is_not_in_doubt(
    pair: tuple[SqliteStore, SqliteStore]
) -> None:
    a, _ = pair
    await a.outbox_insert(row("g"), "A", T0 + TTL)
    [again] = await a.outbox_lease("A", 10, T0 + TTL, TTL)  # its renewals had failed
    assert not again.in_doubt  # A knows what it sent: nobody else held the row


async def test_upgrading_a_crashed_database_puts_its_held_due_rows_in_doubt(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for version, sql in read_migrations():
            if version <= 4:  # the schema before 006
                db.executescript(sql)
        db.execute("PRAGMA user_version = 4")
    old = SqliteStore(path)
    await old.open()  # migrates; the rows below are then written as a v4 router would
    held = await old.outbox_insert(row("held"), "crashed", T0 + TTL)
    released = await old.outbox_insert(row("released"), "gone", T0 + TTL)
    await old.outbox_release("gone")
    await old.close()
    with sqlite3.connect(path) as db:  # as before 006: run it again on these rows
        db.execute("ALTER TABLE outbox DROP COLUMN in_doubt")
        db.execute("DELETE FROM schema_migrations WHERE version = 6")
    store = SqliteStore(path)
    await store.open()
    try:
        got = {r.id: r.in_doubt for r in await store.outbox_load_pending()}
        assert got == {held: True, released: False}
    finally:
        await store.close()

