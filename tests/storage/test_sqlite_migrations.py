"""Migrations numbered on parallel branches: each missing one runs, whatever the highest
applied (a database that had 007 before 005 and 006 existed gets them when they land),
and a database from before `schema_migrations` counts every version up to its
user_version as applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from router.events.model import EventQuery
from router.storage import sqlite_tx
from router.storage.sqlite import SqliteStore


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def applied(path: Path) -> tuple[int, list[int]]:
    with sqlite3.connect(path) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        rows = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    return version, rows


async def reopen(path: Path) -> None:
    store = SqliteStore(path)
    await store.open()
    await store.close()


async def test_a_migration_numbered_below_the_applied_ones_still_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "router.db"
    # A build without 005 and 006 (whichever of them ships now) makes the database.
    # (008 links events to alerts: it needs 005's events table, so it is left out too)
    shipped = [m for m in sqlite_tx.read_migrations() if m[0] not in (5, 6, 8)]
    versions = [v for v, _ in shipped]
    assert 7 in versions
    monkeypatch.setattr(sqlite_tx, "read_migrations", lambda: shipped)
    await reopen(path)
    assert applied(path) == (max(versions), versions)
    # A later merge brings 005 and 006, numbered below 007 that this database already had.
    late = [(5, "CREATE TABLE late_five (x INTEGER);"), (6, "CREATE TABLE late_six (x);")]
    merged = sorted(set(shipped) | set(late))
    monkeypatch.setattr(sqlite_tx, "read_migrations", lambda: merged)
    await reopen(path)
    assert {"late_five", "late_six", "webpush_subscriptions"} <= tables(path)
    assert applied(path) == (max(versions), sorted(v for v, _ in merged))
    await reopen(path)  # each ran once: a second run would fail on CREATE TABLE


async def test_a_database_from_before_the_list_is_upgraded(tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    with sqlite3.connect(path) as db:
        for version, sql in sqlite_tx.read_migrations():
            if version <= 4:
                db.executescript(sql)
        db.execute("INSERT INTO nflog VALUES ('k', '[]', '[]', 1, 9e12, '{}')")
        db.execute("PRAGMA user_version = 4")
    store = SqliteStore(path)
    await store.open()
    try:
        assert len(await store.load_nflog(0)) == 1
        assert await store.webpush_subscriptions() == []
    finally:
        await store.close()
    version, rows = applied(path)
    assert rows[:4] == [1, 2, 3, 4]
    assert 7 in rows
    with sqlite3.connect(path) as db:
        cols = [r[1] for r in db.execute("PRAGMA table_info(outbox)")]
    assert cols[-1] == "recipient"



async def test_a_version_this_build_does_not_know_stays_applied(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A database at user_version 5 from a build that had 005 (and no list), opened by this
    one (without 005): 005 stays counted as applied, so the merged build does not run it
    again."""
    path = tmp_path / "router.db"
    # without 008, which builds on the real 005's events table
    shipped = [m for m in sqlite_tx.read_migrations() if m[0] != 8]
    monkeypatch.setattr(sqlite_tx, "read_migrations", lambda: shipped)
    five = (5, "CREATE TABLE late_five (x INTEGER);")
    with sqlite3.connect(path) as db:
        for _version, sql in [*(m for m in shipped if m[0] <= 4), five]:
            db.executescript(sql)
        db.execute("PRAGMA user_version = 5")
    await reopen(path)
    assert applied(path)[1] == sorted({1, 2, 3, 4, 5} | {v for v, _ in shipped})
    monkeypatch.setattr(sqlite_tx, "read_migrations", lambda: sorted([*shipped, five]))
    await reopen(path)  # 005 is not run again (CREATE TABLE would fail)


async def test_notification_events_written_before_008_are_linked_to_their_alerts(
        tmp_path: Path) -> None:
    path = tmp_path / "router.db"
    with sqlite3.connect(path) as db:
        for version, sql in sqlite_tx.read_migrations():
            if version < 8:
                db.executescript(sql)
        db.execute("PRAGMA user_version = 7")
        db.execute("INSERT INTO events (at, type, data) VALUES (1, 'notification.sent',"
                   " '{\"firing\": [\"fa\"], \"resolved\": [\"fb\"], \"receiver\": \"r\"}')")
    store = SqliteStore(path)
    await store.open()
    try:
        for fp in ("fa", "fb"):
            (found,) = await store.load_events(0, EventQuery(fingerprint=fp), 10)
            assert found.type == "notification.sent"
        assert await store.load_events(0, EventQuery(fingerprint="fc"), 10) == []
        # trimmed with its event
        assert await store.gc_events(2) == 1
    finally:
        await store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM event_alerts").fetchone()[0] == 0
