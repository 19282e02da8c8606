"""Chaos: storage faults under load. A real alert-router process keeps its database on a
small real tmpfs while thousands of alerts are posted to it and delivered to slow and
failing receivers; in the middle of the run the tmpfs fills up (ENOSPC), turns read-only,
or another connection holds the database's write lock (`BEGIN IMMEDIATE`), for a few
seconds each time.

During a fault the router must answer every valid POST with 200 or 503 + Retry-After
(never a 4xx, never another 5xx, never no answer), `/-/ready` (sampled every 0.1 s) must
say 503, and the process must stay up; with the database locked, a POST must be answered
within 3 s. Once the fault clears, without a restart, every acknowledged alert must reach
its receiver, ready must be 200 again, and no row may stay behind in the outbox (the
outcome of a send that could not commit is written once the store heals). Duplicates are
reported.

Short mode (CI): 1,000 alerts, one 3 s episode of each fault. `ALERT_ROUTER_CHAOS=long`:
10,000 alerts, three 5 s episodes of each. Mounting the tmpfs needs root (CI runs as
root); elsewhere the tests are skipped with the reason. Run with `-s` to see the reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from tmpfs import fill, mounted, remount, remount_ro_when_free

from .conftest import (
    ChaosMode,
    ChaosSink,
    RouterUnderTest,
    Sender,
    batched,
    chaos_mode,
    drain_within,
    duplicates,
    make_alerts,
    router_config,
    wait_delivered,
)

MODE = chaos_mode()
SENDERS = 4
HOLD = 5.0 if MODE.name == "long" else 3.0  # seconds each fault is held
TMPFS_SIZE = "64m"  # the run's database, -wal and -shm fit; the filler takes the rest
READY_EVERY = 0.1
LOCKED_ANSWER_WITHIN = 3.0
# Once the senders are done and the fault is over, far less than the config's 1m
# group_interval: a flush the fault refused must not wait for the next one.
DELIVERED_WITHIN = 30.0
SETTLE = 3.0  # after the last delivery, for late repeats

pytestmark = pytest.mark.timeout(3600 if MODE.name == "long" else 600)


@dataclass(frozen=True)
class Episode:
    """One fault, from when it was in place until it was removed (monotonic)."""

    began: float
    cleared: float
    note: str = ""

    def during(self, t: float) -> bool:
        return self.began <= t < self.cleared


# ---------------------------------------------------------------- the faults


async def disk_full(mnt: Path, db: Path, hold: float) -> Episode:
    filler = await asyncio.to_thread(fill, mnt)
    began = time.monotonic()
    try:
        size = filler.stat().st_size
        await asyncio.sleep(hold)
    finally:
        filler.unlink()
    return Episode(began, time.monotonic(), f"({size / 2**20:.1f} MiB filler)")


async def read_only(mnt: Path, db: Path, hold: float) -> Episode:
    """Linux remounts read-only only while no file on the filesystem is open for writing,
    and a router that can commit keeps its database open: the disk fills first, so that
    the store fails and reopens its connection, and the remount lands while it does. Then
    the filesystem is read-only (the store reopens read-only), then read-write and empty."""
    filler = await asyncio.to_thread(fill, mnt)
    full = time.monotonic()
    try:
        tries = await asyncio.to_thread(remount_ro_when_free, mnt, 30.0)
        began = time.monotonic()
        try:
            await asyncio.sleep(hold)
        finally:
            await asyncio.to_thread(remount, mnt, "rw")
    finally:
        filler.unlink()
    note = f"read-only after {began - full:.2f} s of a full disk and {tries} remount tries"
    return Episode(began, time.monotonic(), note)


async def locked(mnt: Path, db: Path, hold: float) -> Episode:
    """Another connection (in the test process) holds the write lock."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")
        began = time.monotonic()
        try:
            await asyncio.sleep(hold)
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    return Episode(began, time.monotonic())


FAULTS: dict[str, Callable[[Path, Path, float], Awaitable[Episode]]] = {
    "full": disk_full, "read-only": read_only, "locked": locked,
}


# ---------------------------------------------------------------- the run


def send_for(mode: ChaosMode) -> float:
    """Seconds over which the senders spread the alerts: each fault lands while they post."""
    return mode.faults * (HOLD + 7.0)


async def inject(
    fault: str, mode: ChaosMode, rng: random.Random, mnt: Path, router: RouterUnderTest,
    sender: Sender, episodes: list[Episode],
) -> None:
    """Episode k starts once a random 20-50% of the k-th of `faults` equal slices of the
    alerts were acknowledged: while the senders post and deliveries flow."""
    for k in range(mode.faults):
        threshold = mode.alerts * (k + rng.uniform(0.2, 0.5)) / mode.faults
        deadline = time.monotonic() + drain_within(mode)
        while len(sender.acked) < threshold:
            if time.monotonic() > deadline:
                pytest.fail(f"no progress towards fault {k + 1}: {len(sender.acked)} "
                            f"acknowledged\n{router.logs()}")
            await asyncio.sleep(0.02)
        episodes.append(await FAULTS[fault](mnt, router.db, HOLD))


async def sample_ready(router: RouterUnderTest, samples: list[tuple[float, int]]) -> None:
    """GET /-/ready every READY_EVERY s until cancelled: (sent at, status or 0)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            at, status = time.monotonic(), 0
            try:
                async with session.get(f"{router.url}/-/ready") as resp:
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                pass
            samples.append((at, status))
            await asyncio.sleep(READY_EVERY)


async def scrape(router: RouterUnderTest, *names: str) -> dict[str, float]:
    """The sums of some counters on /metrics."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session, \
            session.get(f"{router.url}/metrics") as resp:
        text = await resp.text()
    return {name: sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))
            for name in names}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_storage_fault_heals_without_restart_and_loses_nothing(
    fault: str, tmp_path: Path
) -> None:
    mode = MODE
    rng = random.Random(mode.seed)
    print(f"\nstorage fault {fault}, {mode.name}: {mode.alerts} alerts, {mode.faults} x "
          f"{HOLD:g} s, seed {mode.seed}")
    alerts = make_alerts(mode.alerts, rng)
    ids = {a["labels"]["chaos_id"] for a in alerts}
    batches = batched(alerts, rng, largest=32)
    episodes: list[Episode] = []
    ready: list[tuple[float, int]] = []
    with mounted(tmp_path / "mnt", TMPFS_SIZE) as mnt:
        sink = ChaosSink(random.Random(rng.random()))
        await sink.start()
        router = RouterUnderTest(tmp_path, router_config(sink), db=mnt / "chaos.db")
        pause = SENDERS * send_for(mode) / len(batches)
        sender = Sender(router, random.Random(rng.random()), pause=pause)
        tasks: list[asyncio.Task[None]] = []
        try:
            await router.start()
            started = time.monotonic()
            tasks = [asyncio.create_task(sample_ready(router, ready)),
                     asyncio.create_task(inject(fault, mode, rng, mnt, router, sender, episodes)),
                     asyncio.create_task(sender.run(batches, SENDERS))]
            async with asyncio.timeout(send_for(mode) + drain_within(mode) * mode.faults):
                await asyncio.gather(*tasks[1:])
            assert set(sender.acked) == ids, "every batch is retried until acknowledged"
            all_delivered = await wait_delivered(sender, sink, drain_within(mode))
            await asyncio.sleep(SETTLE)
            left = await asyncio.to_thread(pending_rows, router.db)
            alive = router.alive
            counters = await scrape(router, "alert_router_store_errors_total",
                                    "alert_router_flush_errors_total")
            wall = time.monotonic() - started
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await router.stop()
            await sink.stop()

    lost = sorted(set(sender.acked) - set(sink.delivered))
    print(report(fault, sender, sink, episodes, ready, all_delivered, counters, wall, started))
    print(f"  outbox rows left pending after the last delivery: {left}")
    bad = [p for p in sender.posts if p.status not in (200, 503) or p.error == "internal"]
    assert not sender.refused, f"the router refused valid alerts: {sender.refused[:5]}"
    assert not bad, f"answers other than 200 and 503 unavailable: {bad[:5]}\n{router.logs()}"
    assert all(p.retry_after for p in sender.posts if p.status == 503), "503 without Retry-After"
    assert {s for _, s in ready} <= {200, 503}, f"/-/ready: {Counter(s for _, s in ready)}"
    assert alive, f"the router died\n{router.logs()}"
    assert router.starts == 1, "the router was restarted"
    assert len(episodes) == mode.faults
    for e in episodes:
        assert any(p.status == 503 for p in sender.posts if e.during(p.at)), \
            f"no POST was refused during the fault: it did not bite ({e})"
        assert any(s == 503 for t, s in ready if e.during(t)), f"ready never 503 during {e}"
        if fault == "locked":
            posts = [p for p in sender.posts if e.during(p.at)]
            slowest = max(p.seconds for p in posts)
            assert slowest <= LOCKED_ANSWER_WITHIN, f"a POST took {slowest:.2f} s while locked"
            # Nothing commits while another connection holds the lock.
            assert all(p.at + p.seconds >= e.cleared for p in posts if p.status == 200)
    assert ready[-1][1] == 200, "ready is 200 again once the store commits"
    assert left == 0, f"{left} outbox rows still pending after every alert was delivered"
    assert not lost, (
        f"{len(lost)} acknowledged alerts never delivered within {drain_within(mode):.0f}s "
        f"after the run, e.g. {lost[:10]} (seed {mode.seed})\n{router.logs()}"
    )
    assert all_delivered is not None
    late = all_delivered - max(episodes[-1].cleared, *sender.acked.values())
    assert late <= DELIVERED_WITHIN, f"the last alert was delivered {late:.1f} s late"


def pending_rows(db: Path) -> int:
    """Outbox rows still pending in the database (read beside the running router)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
                   .fetchone()[0])


def report(
    fault: str, sender: Sender, sink: ChaosSink, episodes: list[Episode],
    ready: list[tuple[float, int]], all_delivered: float | None, counters: dict[str, float],
    wall: float, started: float,
) -> str:
    def since(t: float) -> str:
        return f"{t - started:.1f}"

    extra, repeated = duplicates(sink)
    lost = len(set(sender.acked) - set(sink.delivered))
    answers = Counter(f"{p.status} {p.error}".strip() for p in sender.posts)
    lines = [
        f"storage fault {fault} report: {len(sender.acked)} acknowledged, wall {wall:.1f} s",
        f"  lost: {lost}",
        f"  duplicates: {extra} ({100.0 * extra / max(1, len(sink.delivered)):.2f}% of "
        f"alerts) on {repeated} alerts; sink requests {len(sink.notifications)}",
        f"  POSTs: {len(sender.posts)}: {dict(sorted(answers.items()))}",
        f"  store errors {counters['alert_router_store_errors_total']:g}, "
        f"flush errors {counters['alert_router_flush_errors_total']:g}",
    ]
    for e in episodes:
        posts = [p for p in sender.posts if e.during(p.at)]
        samples = [s for t, s in ready if e.during(t)]
        first_503 = next((t - e.began for t, s in ready if e.during(t) and s == 503), None)
        healed = next((t - e.cleared for t, s in ready if t >= e.cleared and s == 200), None)
        sent = sum(1 for n in sink.notifications
                   if n.status == 200 and n.answered_at is not None and e.during(n.answered_at))
        lines += [
            f"  fault {since(e.began)}-{since(e.cleared)} s {e.note}".rstrip(),
            f"    POSTs sent during it: {dict(Counter(p.status for p in posts))}, slowest "
            f"{max((p.seconds for p in posts), default=0):.2f} s",
            f"    ready samples: {dict(Counter(samples))}, first 503 after "
            f"{'-' if first_503 is None else f'{first_503:.2f} s'}; 200 again "
            f"{'never' if healed is None else f'{healed:.2f} s'} after it cleared",
            f"    deliveries (200s written) during it: {sent}",
        ]
    last = episodes[-1].cleared if episodes else started
    acked = max(sender.acked.values(), default=started)
    done = "never" if all_delivered is None else (
        f"{since(all_delivered)} s ({all_delivered - last:.1f} s after the last fault)")
    lines.append(f"  last POST acknowledged {since(acked)} s; every acknowledged alert "
                 f"delivered {done}")
    return "\n".join(lines)
