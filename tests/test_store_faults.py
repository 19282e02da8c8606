"""Storage faults heal by themselves (issue 11 item 6).

A read-only filesystem, a full disk and a locked database answer writes with 503 and
Retry-After, and `/-/ready` answers 503 while the store cannot commit; once the fault
clears, the next write commits, the alert is delivered and ready is 200 again, all
without restarting the app. The filesystem faults use a real small tmpfs, which needs
root (CI runs as root); elsewhere those tests are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import Fake, start_fake
from conftest import config_from, run_until, wait_until
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.app import create_app
from router.service import Service
from router.web.keys import SERVICE


def config(url: str) -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
"""


@pytest.fixture
async def hook(aiohttp_server: Any) -> Fake:
    return await start_fake(aiohttp_server, "webhook")


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


def remount(where: Path, mode: str) -> None:
    done = _mount("-o", f"remount,{mode}", str(where))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def mnt(tmp_path: Path) -> Iterator[Path]:
    """A fresh 4 MB tmpfs, unmounted after the test (and after the app has closed: this
    fixture is set up before the app's and so torn down after it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where = tmp_path / "mnt"
    where.mkdir()
    done = _mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield where
    _mount("-o", "remount,rw", str(where))
    if subprocess.run(["umount", str(where)], check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], check=False)


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
    assert (await post(client, "Before")).status == 202
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
    assert (await post(client, "Healed")).status == 202
    assert (await client.get("/-/ready")).status == 200
    await delivered(state, clock, hook, "Healed")
    assert "Healed" in {a.labels["alertname"] for a in await state.store.load_alerts()}


async def test_full_disk_heals_once_space_is_freed(
    mnt: Path, aiohttp_client: Any, tmp_path: Path, clock: FakeClock, hook: Fake
) -> None:
    client, state = await start(aiohttp_client, tmp_path, clock, mnt / "router.db", hook.url)
    assert (await post(client, "Before")).status == 202
    filler = mnt / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass  # ENOSPC: the disk is full
    big = {f"note{i}": "y" * 60_000 for i in range(4)}
    await refused(await post(client, "Full", **big))
    await refused(await client.get("/-/ready"))

    filler.unlink()
    assert (await post(client, "Full", **big)).status == 202
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
    assert (await post(client, "Locked")).status == 202
    assert (await client.get("/-/ready")).status == 200
    await delivered(state, clock, hook, "Locked")
