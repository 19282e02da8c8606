"""SqliteStore silences: round trip, replace by id, delete, survival across reopen, migration."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from router.errors import StoreUnavailable
from router.matchers import parse_matchers
from router.noise.silences import Silence, expire, update_silence
from router.storage.sqlite import SqliteStore

NOW = 1_700_000_000.125


def sil(sid: str, matchers: str = 'alertname="Foo"', end: float = NOW + 3600) -> Silence:
    return Silence(
        id=sid, matchers=tuple(parse_matchers(matchers)), starts_at=NOW, ends_at=end,
        updated_at=NOW, created_by="me", comment="ünïcode ✓", annotations={"ticket": "T-1"},
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "router.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(db_path)
    await s.open()
    yield s
    await s.close()


async def test_round_trip_keeps_every_field(store: SqliteStore) -> None:
    s = sil("a", 'alertname="Foo", env!="", job=~"api|web", x!~"y.*"')
    await store.upsert_silences([s])
    [loaded] = await store.load_silences()
    assert loaded == s
    assert dict(loaded.annotations) == {"ticket": "T-1"}
    assert loaded.mutes({"alertname": "Foo", "env": "p", "job": "api"}, NOW)


async def test_upsert_replaces_by_id_and_delete_removes(store: SqliteStore) -> None:
    await store.upsert_silences([sil("a"), sil("b")])
    await store.upsert_silences([expire(sil("a"), NOW + 1)])
    loaded = {s.id: s for s in await store.load_silences()}
    assert set(loaded) == {"a", "b"}
    assert loaded["a"].ends_at == NOW + 1
    await store.delete_silences(["b", "missing"])
    assert [s.id for s in await store.load_silences()] == ["a"]
    await store.upsert_silences([])
    await store.delete_silences([])


async def test_replacement_and_expired_predecessor_in_one_commit(store: SqliteStore) -> None:
    old = sil("old")
    await store.upsert_silences([old])
    new, expired = update_silence(old, sil("old", 'alertname="Bar"'), NOW + 10)
    assert expired is not None
    before = store.transactions
    await store.upsert_silences([new, expired])
    assert store.transactions == before + 1
    loaded = {s.id: s for s in await store.load_silences()}
    assert loaded == {new.id: new, "old": expired}


async def test_concurrent_writers_share_a_transaction(store: SqliteStore) -> None:
    before = store.transactions
    await asyncio.gather(*(store.upsert_silences([sil(f"s{i}")]) for i in range(20)))
    assert store.transactions - before < 20
    assert len(await store.load_silences()) == 20


async def test_silences_survive_reopen(store: SqliteStore, db_path: Path) -> None:
    silences = [sil(f"s{i}", f'alertname="A{i}"') for i in range(50)]
    await store.upsert_silences(silences)
    await store.close()
    fresh = SqliteStore(db_path)
    await fresh.open()
    try:
        assert sorted(await fresh.load_silences(), key=lambda s: s.id) == sorted(
            silences, key=lambda s: s.id
        )
    finally:
        await fresh.close()


async def test_migration_2_creates_the_table(store: SqliteStore, db_path: Path) -> None:
    await store.close()
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 2
        cols = [r[1] for r in db.execute("PRAGMA table_info(silences)")]
    assert cols == ["id", "body", "ends_at"]


async def test_v1_database_is_upgraded_with_its_data(db_path: Path) -> None:
    """A database written before silences existed keeps its alerts and gains the table."""
    first = (Path(__file__).parents[2] / "router/storage/migrations/001_initial.sql").read_text(
        encoding="utf-8"
    )
    with sqlite3.connect(db_path) as db:
        db.executescript(first)
        db.execute("INSERT INTO nflog VALUES ('k', '[]', '[]', 1, 9e12, '{}')")
        db.execute("PRAGMA user_version = 1")
    store = SqliteStore(db_path)
    await store.open()
    try:
        assert len(await store.load_nflog(0)) == 1
        await store.upsert_silences([sil("a")])
        assert [s.id for s in await store.load_silences()] == ["a"]
    finally:
        await store.close()


async def test_writes_after_close_fail(store: SqliteStore) -> None:
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.upsert_silences([sil("a")])
    with pytest.raises(StoreUnavailable):
        await store.delete_silences(["a"])
