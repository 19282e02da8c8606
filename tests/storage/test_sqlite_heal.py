"""The store's health flag: false from a commit that fails for a fault of the store, true
again once it can commit, by itself when no write comes (its probe)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import wait_until

from router.errors import StoreRejected, StoreUnavailable
from router.model import Alert, make_alert
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore


def alert(name: str) -> Alert:
    return make_alert({"alertname": name}, {}, 1.0, None, "", 1.0, source="test")


async def test_a_lock_makes_the_store_unhealthy_and_the_probe_heals_it(
    store: SqliteStore, tmp_path: Path
) -> None:
    store.probe_interval = 0.05
    assert store.healthy
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable):
            await store.upsert_alerts([alert("Locked")])
        assert not store.healthy
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    # No write comes: the probe alone makes the store healthy again.
    await wait_until(lambda: store.healthy, "the probe to commit")
    await store.wait_healthy()
    await store.upsert_alerts([alert("After")])
    assert [a.labels["alertname"] for a in await store.load_alerts()] == ["After"]


async def test_a_values_fault_leaves_the_store_healthy(store: SqliteStore) -> None:
    # An integer beyond SQLite's 64 bits is the caller's fault, not the store's.
    bad = replace(OutboxRow(
        id=0, receiver="team", channel="slack", index=0, group_key="{}:{}", payload=b"{}",
        firing=frozenset({"aa"}), resolved=frozenset(), reason="first", priority=2,
        created_at=1.0, ingested_at=1.0), priority=10**20)
    with pytest.raises(StoreRejected):
        await store.outbox_insert(bad, "owner", 30.0)
    assert store.healthy
