"""Two delivery workers on one SQLite file: every row is sent by exactly one of them, and a
row held by a worker that died is sent by the other once the dead worker's lease runs out.

Each worker has its own DeliveryManager and its own SqliteStore connection, as two
processes would; the receiver is a stateful loopback server that counts what it got.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer
from test_delivery import RECEIVER, make_row, webhook

from router.channels.http import HttpClient
from router.channels.webhook import WebhookChannel
from router.config.types import DeliveryConfig
from router.delivery.worker import DeliveryManager, row_key
from router.metrics import Metrics
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

ROWS = 240


@dataclass
class Receiver:
    """Counts every alert it is sent; holds answers while `gate` is closed."""

    url: str = ""
    got: Counter[str] = field(default_factory=Counter)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        for alert in body["alerts"]:
            self.got[alert["labels"]["instance"]] += 1
        self.arrived.set()
        await self.gate.wait()
        return web.Response(text="ok")


@pytest.fixture
async def receiver(aiohttp_server: AiohttpServer) -> Receiver:
    rec = Receiver()
    rec.gate.set()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    server = await aiohttp_server(app, access_log=None)
    rec.url = str(server.make_url("/hook"))
    return rec


@dataclass
class Workers:
    clock: FakeClock
    channel: WebhookChannel
    path: Path
    stores: list[SqliteStore] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def worker(self, owner: str) -> DeliveryManager:
        """A worker with its own store connection on the shared database file."""
        store = SqliteStore(self.path)
        await store.open()
        self.stores.append(store)
        metrics = Metrics(CollectorRegistry())
        metrics.prepare([(RECEIVER, "webhook")])
        return DeliveryManager(
            store, self.clock, metrics, DeliveryConfig(concurrency=8),
            lambda r, k, i: self.channel if (r, k, i) == (RECEIVER, "webhook", 0) else None,
            rng=random.Random(1), owner=owner,
        )

    def start(self, worker: DeliveryManager) -> asyncio.Task[None]:
        task = asyncio.create_task(worker.run())
        self.tasks.append(task)
        return task


@pytest.fixture
async def workers(
    receiver: Receiver, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[Workers]:
    async with aiohttp.ClientSession() as session:
        w = Workers(clock, webhook(receiver.url, HttpClient(session)), tmp_path / "shared.db")
        try:
            yield w
        finally:
            for task in w.tasks:
                task.cancel()
            await asyncio.gather(*w.tasks, return_exceptions=True)
            for store in w.stores:
                await store.close()


async def queue_unheld(path: Path, rows: list[OutboxRow]) -> None:
    """Rows another process committed and then gave back (shut down): nobody holds them."""
    store = SqliteStore(path)
    await store.open()
    try:
        await asyncio.gather(*(store.outbox_insert(r, "producer", 0.0) for r in rows))
        await store.outbox_release("producer")
    finally:
        await store.close()


async def parked(*ws: DeliveryManager) -> None:
    async with asyncio.timeout(10):
        for w in ws:
            await w.parked()


async def test_two_workers_on_one_database_send_every_row_exactly_once(
    workers: Workers, receiver: Receiver
) -> None:
    now = workers.clock.now()
    names = [f"i{n:03d}" for n in range(ROWS)]
    rows = [make_row(workers.channel, now, name, group=f'{{}}:{{n="{name}"}}')
            for name in names]
    await queue_unheld(workers.path, rows)
    a, b = await workers.worker("worker-a"), await workers.worker("worker-b")
    workers.start(a)
    workers.start(b)
    # Both claim in batches while they have free send slots, until the outbox is empty.
    async with asyncio.timeout(20):
        while sum(receiver.got.values()) < ROWS:
            await parked(a, b)
            await workers.clock.advance(a.lease_ttl / 3)  # the next look for claimable rows
    await parked(a, b)
    assert receiver.got == Counter(names)  # each row once: none lost, none twice
    assert await workers.stores[0].outbox_load_pending() == []
    # Each row was logged by exactly one worker: the one that sent it. (Which worker sends
    # how many depends on timing: on a loaded machine one may claim every batch first.)
    sent_by = [sum(1 for r in rows if row_key(r) in w.nflog) for w in (a, b)]
    assert sum(sent_by) == ROWS


async def test_a_dead_workers_lease_runs_out_and_the_other_worker_sends_the_row(
    workers: Workers, receiver: Receiver
) -> None:
    a, b = await workers.worker("worker-a"), await workers.worker("worker-b")
    receiver.gate.clear()  # the receiver holds its answer: the send is in flight
    row = make_row(workers.channel, workers.clock.now(), "x")
    task_a = workers.start(a)
    await a.enqueue(row)  # committed, leased to worker-a
    async with asyncio.timeout(5):
        await receiver.arrived.wait()
    workers.start(b)
    await parked(b)
    # worker-a dies mid-send: its store is gone, nothing it does reaches the database.
    await workers.stores[0].close()
    task_a.cancel()
    await asyncio.gather(task_a, return_exceptions=True)
    receiver.gate.set()
    # While the lease holds, worker-b leaves the row alone...
    await workers.clock.advance(a.lease_ttl - 1)
    await parked(b)
    assert receiver.got == Counter({"x": 1})
    assert b.held_rows() == []
    # ...and once it has run out, worker-b claims it and sends it (at-least-once).
    await workers.clock.advance(1)
    await parked(b)
    assert receiver.got == Counter({"x": 2})
    assert await workers.stores[1].outbox_load_pending() == []
    assert row_key(row) in b.nflog
    [stored] = await workers.stores[1].load_nflog(workers.clock.now())
    assert stored.firing == row.firing


def dead_local_owner() -> str:
    """The owner name a worker in a process of this host that has exited would have had."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return f"{socket.gethostname()}:{proc.pid}:0badc0de"


async def test_a_restart_takes_over_a_dead_local_workers_rows_at_once(
    workers: Workers, receiver: Receiver
) -> None:
    now = workers.clock.now()
    crashed, elsewhere = dead_local_owner(), "other-host:1:live"
    store = SqliteStore(workers.path)
    await store.open()
    try:
        for owner, name in ((crashed, "mine"), (elsewhere, "theirs")):
            row = make_row(workers.channel, now, name, group=f'{{}}:{{n="{name}"}}')
            await store.outbox_insert(row, owner, now + 15)
    finally:
        await store.close()
    b = await workers.worker("restarted")
    await b.restore()
    # The row of the dead process on this host is taken over before anything else runs
    # (so a newer state of its group would replace it); a live worker's row is left alone.
    assert [r.firing for r in b.held_rows()] == [make_row(workers.channel, now, "mine").firing]
    workers.start(b)
    await parked(b)
    assert receiver.got == Counter({"mine": 1})
