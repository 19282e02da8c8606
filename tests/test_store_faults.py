"""Storage faults heal by themselves (issue 11 item 6).

A read-only filesystem, a full disk and a locked database answer writes with 503 and
Retry-After, and `/-/ready` answers 503 while the store cannot commit; once the fault
clears, the next write commits, the alert is delivered and ready is 200 again, all
without restarting the app. The filesystem faults use a real small tmpfs, which needs
root (CI runs as root); elsewhere those tests are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import Fake, start_fake
from conftest import config_from, flushed, run_until, wait_until
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from test_delivery import make_row, webhook
from tmpfs import fill, mounted, remount

from router.app import create_app
from router.channels.http import HttpClient
from router.config.types import DeliveryConfig
from router.delivery.worker import DeliveryManager, row_key
from router.metrics import Metrics
from router.service import Service
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore
from router.web.keys import SERVICE


def config(url: str, group_interval: str = "2s") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: {group_interval}
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


@pytest.fixture
async def hook(aiohttp_server: Any) -> Fake:
    return await start_fake(aiohttp_server, "webhook")


@pytest.fixture
def mnt(tmp_path: Path) -> Iterator[Path]:
    """A fresh 4 MB tmpfs, unmounted after the test (and after the app has closed: this
    fixture is set up before the app's and so torn down after it)."""
    with mounted(tmp_path / "mnt", "4m") as where:
        yield where


async def start(aiohttp_client: Any, tmp_path: Path, clock: FakeClock, db: Path,
                url: str) -> tuple[Any, Service]:
    """The real app, its database at `db`."""
    cfg = config_from(config(url), tmp_path)
    cfg = replace(cfg, storage=replace(cfg.storage, path=str(db)))
    app = create_app(cfg, clock=clock, registry=CollectorRegistry())
    return await aiohttp_client(app), app[SERVICE]


async def post(client: Any, name: str, **annotations: str) -> Any:
    return await client.post("/api/v2/alerts", json=[
        {"labels": {"alertname": name}, "annotations": annotations}])


async def refused(resp: Any) -> None:
    """A 503 a sender retries: JSON body and Retry-After."""
    assert resp.status == 503, await resp.text()
    assert resp.headers["Retry-After"]
    assert "error" in await resp.json()


async def delivered(state: Service, clock: FakeClock, hook: Fake, name: str) -> None:
    await run_until(state, clock, clock.now() + 2)
    await wait_until(lambda: any(name.encode() in r.body for r in hook.requests),
                     f"the notification of {name}")


async def test_read_only_filesystem_heals_without_restart(
    mnt: Path, aiohttp_client: Any, tmp_path: Path, clock: FakeClock, hook: Fake
) -> None:
    db = mnt / "router.db"
    client, state = await start(aiohttp_client, tmp_path, clock, db, hook.url)
    assert (await post(client, "Before")).status == 200
    await client.close()  # the app closes its store: nothing holds the mount for writing
    # A router killed while running leaves its -wal and -shm files behind.
    script = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
              "c.execute('INSERT INTO silences (id, body, ends_at) VALUES (?, ?, ?)', "
              "('x', '{}', 0)); c.execute('DELETE FROM silences'); c.commit(); os._exit(0)")
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", script, str(db)],
                            check=True)
    assert (mnt / "router.db-shm").exists()
    remount(mnt, "ro")

    # Restarted on the read-only filesystem: SQLite opens the database read-only. The
    # router serves, not ready, and refuses writes until the store can commit.
    client, state = await start(aiohttp_client, tmp_path, clock, db, hook.url)
    await refused(await client.get("/-/ready"))
    await refused(await post(client, "Lost"))
    assert (await client.get("/-/healthy")).status == 200

    remount(mnt, "rw")
    # The store probes on its own (no write needed), then the router restores and starts.
    await wait_until(lambda: state.ready, "the store to heal and the router to start",
                     seconds=15)
    assert (await post(client, "Healed")).status == 200
    assert (await client.get("/-/ready")).status == 200
    await delivered(state, clock, hook, "Healed")
    assert "Healed" in {a.labels["alertname"] for a in await state.store.load_alerts()}


async def test_full_disk_heals_once_space_is_freed(
    mnt: Path, aiohttp_client: Any, tmp_path: Path, clock: FakeClock, hook: Fake
) -> None:
    client, state = await start(aiohttp_client, tmp_path, clock, mnt / "router.db", hook.url)
    assert (await post(client, "Before")).status == 200
    filler = fill(mnt)
    big = {f"note{i}": "y" * 60_000 for i in range(4)}
    await refused(await post(client, "Full", **big))
    await refused(await client.get("/-/ready"))

    filler.unlink()
    assert (await post(client, "Full", **big)).status == 200
    assert (await client.get("/-/ready")).status == 200
    await delivered(state, clock, hook, "Full")


async def test_locked_database_answers_503_then_recovers(
    make_router: Any, tmp_path: Path, clock: FakeClock, hook: Fake
) -> None:
    client, state = await make_router(config(hook.url))
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await refused(await post(client, "Locked"))
        await refused(await client.get("/-/ready"))
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    assert (await post(client, "Locked")).status == 200
    assert (await client.get("/-/ready")).status == 200
    await delivered(state, clock, hook, "Locked")



async def test_a_flush_the_locked_store_refused_is_retried_soon_not_a_group_interval_later(
    make_router: Any, tmp_path: Path, clock: FakeClock, hook: Fake
) -> None:
    """An alert acknowledged just before the lock: its group's flush cannot queue the
    notification, and is tried again STORE_RETRY (2 s) later, not at the next
    group_interval (5m here)."""
    client, state = await make_router(config(hook.url, group_interval="5m"))
    assert (await post(client, "JustBefore")).status == 200
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await clock.advance(1.0)  # group_wait: the flush meets the lock
        await flushed(state)
        assert not state.store.healthy
        assert hook.requests == []
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
    await delivered(state, clock, hook, "JustBefore")  # within 2 s of the fake clock


@dataclass
class LockedDelivery:
    manager: DeliveryManager
    row: OutboxRow
    running: asyncio.Task[None]
    blocker: sqlite3.Connection


@contextlib.asynccontextmanager
async def delivered_while_locked(
    store: SqliteStore, db: Path, clock: FakeClock, hook: Fake, http: HttpClient
) -> AsyncIterator[LockedDelivery]:
    """A worker whose notification is answered 200 while `db` is locked: inside the block
    the outcome's commit has failed and the lock is still held."""
    store.probe_interval = 0.05
    channel = webhook(hook.url, http)
    manager = DeliveryManager(store, clock, Metrics(CollectorRegistry()), DeliveryConfig(),
                              lambda r, k, i: channel, rng=random.Random(1))
    row = make_row(channel, clock.now(), "a")
    await manager.enqueue(row)
    hook.delay = 0.3  # the answer comes once the database is locked
    running = asyncio.create_task(manager.run())
    blocker = sqlite3.connect(db, isolation_level=None)
    try:
        await wait_until(lambda: bool(hook.requests), "the notification")
        blocker.execute("BEGIN EXCLUSIVE")
        await wait_until(lambda: manager.nflog.get(row_key(row)) is not None, "the 200")
        await wait_until(lambda: store.queued_writes() == 0, "the outcome's commit")
        async with store.writes_held():  # the transaction in flight has failed
            assert not store.healthy
        assert len(await store.outbox_load_pending()) == 1
        yield LockedDelivery(manager, row, running, blocker)
    finally:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_a_delivery_recorded_while_the_store_is_locked_is_recorded_once_it_heals(
    store: SqliteStore, tmp_path: Path, clock: FakeClock, hook: Fake, http: HttpClient
) -> None:
    """The outcome of a send (row deleted, notification logged) that cannot commit is
    written once the store heals, without a restart. It used to be dropped, leaving the
    row pending under the live worker's lease, renewed for good: a leftover that the next
    restart sent again."""
    async with delivered_while_locked(store, tmp_path / "router.db", clock, hook, http) as d:
        d.blocker.execute("ROLLBACK")
        async with asyncio.timeout(5):
            # The store heals by its probe; the outcome is written again once it has.
            while await store.outbox_load_pending():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        [entry] = await store.load_nflog(clock.now())
        assert entry.firing == d.row.firing
        assert len(hook.requests) == 1


async def test_stopping_does_not_wait_for_the_store_to_heal(
    store: SqliteStore, tmp_path: Path, clock: FakeClock, hook: Fake, http: HttpClient
) -> None:
    async with delivered_while_locked(store, tmp_path / "router.db", clock, hook, http) as d:
        d.running.cancel()
        async with asyncio.timeout(5):  # giving the leases back fails after the lock's wait
            await asyncio.gather(d.running, return_exceptions=True)
    # Still pending: sent once more after a restart (at-least-once).
    assert len(await store.outbox_load_pending()) == 1
