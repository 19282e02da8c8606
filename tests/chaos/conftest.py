"""Chaos-suite pieces: a sender that retries as Alertmanager/Prometheus do, a loopback
webhook sink that is slow and sometimes fails, and an alert-router process that the test
kills with SIGKILL and restarts on the same database.

Short mode (CI) by default; `ALERT_ROUTER_CHAOS=long` runs the full version (10,000
alerts, 20 kills, 3 episodes of each storage fault). `ALERT_ROUTER_CHAOS_ALERTS`,
`ALERT_ROUTER_CHAOS_KILLS`, `ALERT_ROUTER_CHAOS_FAULTS` and `ALERT_ROUTER_CHAOS_SEED`
override the figures and the random seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from e2e.conftest import REPO_ROOT, ServiceProcess, free_port, rfc3339, spawn

READY_WITHIN = 60.0  # a loaded 2-core machine can take long to import and open the store
ID_LABEL = "chaos_id"
DELIVERY_TIMEOUT = 5.0  # the router's per-attempt timeout
HANG = DELIVERY_TIMEOUT + 3.0  # a hanging receiver holds the request this long, then drops it


@dataclass(frozen=True)
class ChaosMode:
    name: str
    alerts: int
    kills: int
    faults: int  # episodes of each storage fault in a run
    seed: int


def chaos_mode() -> ChaosMode:
    long = os.environ.get("ALERT_ROUTER_CHAOS", "").strip().lower() == "long"
    alerts, kills, faults = (10_000, 20, 3) if long else (1_000, 3, 1)
    alerts = int(os.environ.get("ALERT_ROUTER_CHAOS_ALERTS", alerts))
    kills = int(os.environ.get("ALERT_ROUTER_CHAOS_KILLS", kills))
    faults = int(os.environ.get("ALERT_ROUTER_CHAOS_FAULTS", faults))
    seed = int(os.environ.get("ALERT_ROUTER_CHAOS_SEED", random.randrange(1 << 30)))
    return ChaosMode("long" if long else "short", alerts, kills, faults, seed)


# ---------------------------------------------------------------- the webhook sink


@dataclass(slots=True)
class Notification:
    path: str
    ids: list[str]
    received_at: float
    status: int = 0
    answered_at: float | None = None  # the response was written before the connection went


class ChaosSink:
    """Two loopback webhook receivers in one server, recording every notification.

    `/slow`: most answers within 20 ms, one in ten after 0.2-1 s, 2% are 503, 0.3% hang
    past the router's delivery timeout and are then dropped without an answer.
    `/flaky`: fast, but 20% are 503 and 1% drop the connection without an answer.
    Only a 200 that was written counts as delivered.
    """

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.notifications: list[Notification] = []
        self.delivered: dict[str, int] = defaultdict(int)  # id -> 200s written
        # id -> (received, answered) of the request whose 200 was written first
        self.first_ok: dict[str, tuple[float, float]] = {}
        self.repeats: dict[str, list[float]] = defaultdict(list)  # id -> later arrivals
        self.runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{name}", self._handle)
        self.runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0
        )
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, backlog=1024).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def _behaviour(self, path: str) -> tuple[float, int | None]:
        """(delay, status); status None drops the connection."""
        r = self.rng.random()
        if path == "/flaky":
            if r < 0.01:
                return 0.0, None
            return self.rng.uniform(0.0, 0.01), 503 if r < 0.21 else 200
        if 0.02 <= r < 0.023:
            return HANG, None
        delay = self.rng.uniform(0.2, 1.0) if self.rng.random() < 0.1 else self.rng.uniform(0, 0.02)
        return delay, 503 if r < 0.02 else 200

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        ids = [a["labels"][ID_LABEL] for a in body.get("alerts", [])]
        rec = Notification(request.path, ids, time.monotonic())
        self.notifications.append(rec)
        for i in ids:
            if i in self.first_ok:  # sent again after a 200 was written for it
                self.repeats[i].append(rec.received_at)
        delay, status = self._behaviour(request.path)
        if delay:
            await asyncio.sleep(delay)
        if status is None:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        rec.status = status
        resp = web.Response(status=status, text="ok" if status == 200 else "try later")
        try:
            await resp.prepare(request)
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            return resp
        if request.transport is not None and not request.transport.is_closing():
            rec.answered_at = time.monotonic()
            if status == 200:
                for i in ids:
                    self.delivered[i] += 1
                    self.first_ok.setdefault(i, (rec.received_at, rec.answered_at))
        return resp


# ---------------------------------------------------------------- the router process


def router_config(sink: ChaosSink) -> dict[str, Any]:
    return {
        "global": {"resolve_timeout": "1h"},  # no alert resolves during the run
        "route": {
            "receiver": "slow",
            "group_by": ["..."],  # every alert its own group and notification
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "24h",
            "routes": [{"receiver": "flaky", "matchers": ['sink="flaky"']}],
        },
        "receivers": [
            {
                "name": name,
                "webhook_configs": [{"url": f"{sink.base_url}/{name}", "send_resolved": False}],
            }
            for name in ("slow", "flaky")
        ],
        "delivery": {
            "timeout": f"{DELIVERY_TIMEOUT:g}s",
            "backoff_base": "50ms",
            "backoff_cap": "1s",
            "max_attempts": 1000,
        },
    }


class RouterUnderTest:
    """`python -m router serve` on one database (`db`, by default in `workdir`, where its
    config and output go), killed and restarted by the test.

    The port stays the same across restarts when it can, so senders keep one URL (as
    Alertmanager's senders do); `url` is read by the senders at every attempt.
    """

    def __init__(self, workdir: Path, config: dict[str, Any], db: Path | None = None) -> None:
        self.workdir = workdir
        self.cfg_path = workdir / "router.yml"
        self.cfg_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.db = db or workdir / "chaos.db"
        self.port = free_port()
        self.proc: ServiceProcess | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.proc.returncode is None

    def logs(self) -> str:
        return self.proc.logs() if self.proc is not None else "<router never started>"

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        for attempt in range(3):
            if attempt:
                self.port = free_port()  # someone took our port while we were down
            argv = [
                sys.executable, "-m", "router", "serve",
                "--config", str(self.cfg_path),
                "--storage", str(self.db),
                "--listen", f"127.0.0.1:{self.port}",
            ]  # fmt: skip
            name = f"router-{self.starts}"
            self.starts += 1
            proc, out, err, files = await spawn(argv, name=name, workdir=self.workdir, env=env)
            self.proc = ServiceProcess(proc, self.url, out, err, files)
            if await self._ready():
                return
            await self.proc.kill()
        raise AssertionError(f"alert-router did not become ready 3 times\n{self.logs()}")

    async def _ready(self) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + READY_WITHIN
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
            while time.monotonic() < deadline:
                if self.proc.proc.returncode is not None:
                    return False
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/-/ready") as resp:
                        if resp.status == 200:
                            return True
                await asyncio.sleep(0.1)
        return False

    async def kill(self) -> None:
        assert self.proc is not None
        await self.proc.kill()

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()


# ---------------------------------------------------------------- the sender


@dataclass(frozen=True, slots=True)
class Post:
    """One POST of a batch: when it was sent, how long its answer took, the answer."""

    at: float  # monotonic
    seconds: float
    status: int  # 0: no answer (connection refused or reset, client timeout)
    error: str = ""  # the `error` field of a JSON error body
    retry_after: bool = False


def error_field(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return "<not JSON>"
    return str(body.get("error", "")) if isinstance(body, dict) else "<not an object>"


@dataclass
class Sender:
    """Posts batches of unique alerts and keeps each batch until it gets a 2xx.

    Like Alertmanager's and Prometheus's notifiers: a connection error, a timeout or a 5xx
    is retried with capped exponential backoff and jitter; a 4xx is a permanent refusal
    (recorded; the test fails on any). Each worker waits about `pause` seconds between
    batches (0: as fast as it can), so that posting can span a whole run.
    """

    router: RouterUnderTest
    rng: random.Random
    pause: float = 0.0
    acked: dict[str, float] = field(default_factory=dict)  # id -> monotonic time of the 2xx
    refused: list[tuple[int, str]] = field(default_factory=list)
    posted: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    posts: list[Post] = field(default_factory=list)
    attempts: int = 0
    retries: int = 0

    async def run(self, batches: list[list[dict[str, Any]]], concurrency: int) -> None:
        queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)
        timeout = aiohttp.ClientTimeout(total=10)  # clients give up at 10 s
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await asyncio.gather(*(self._worker(session, queue) for _ in range(concurrency)))

    async def _worker(
        self, session: aiohttp.ClientSession, queue: asyncio.Queue[list[dict[str, Any]]]
    ) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            await self._send(session, batch)
            await asyncio.sleep(self.rng.uniform(0, 0.01) + self.pause * self.rng.uniform(0.5, 1.5))

    async def _send(self, session: aiohttp.ClientSession, batch: list[dict[str, Any]]) -> None:
        failures = 0
        while True:
            self.attempts += 1
            sent_at = time.monotonic()
            for alert in batch:
                self.posted[alert["labels"][ID_LABEL]].append(sent_at)
            status, text, retry_after = 0, "", False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.post(f"{self.router.url}/api/v2/alerts", json=batch) as resp:
                    status = resp.status
                    text = await resp.text()
                    retry_after = "Retry-After" in resp.headers
            error = error_field(text) if status >= 400 else ""
            self.posts.append(Post(sent_at, time.monotonic() - sent_at, status, error, retry_after))
            if 200 <= status < 300:
                now = time.monotonic()
                for alert in batch:
                    self.acked[alert["labels"][ID_LABEL]] = now
                return
            if 400 <= status < 500:
                self.refused.append((status, text[:300]))
                return
            failures += 1
            self.retries += 1
            backoff = min(2.0, 0.05 * 2 ** min(failures, 6))
            await asyncio.sleep(self.rng.uniform(backoff / 2, backoff))


def drain_within(mode: ChaosMode) -> float:
    """How long the router gets to deliver what it acknowledged once the senders are done."""
    return 90.0 + mode.alerts * 0.03


async def wait_delivered(sender: Sender, sink: ChaosSink, within: float) -> float | None:
    """Until every acknowledged alert was delivered, at most `within` seconds: when that was
    (monotonic), or None."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if set(sender.acked) <= set(sink.delivered):
            return time.monotonic()
        await asyncio.sleep(0.1)
    return None


def duplicates(sink: ChaosSink) -> tuple[int, int]:
    """(200s written beyond the first of each alert, alerts that got more than one)."""
    extra = [n - 1 for n in sink.delivered.values() if n > 1]
    return sum(extra), len(extra)


def make_alerts(n: int, rng: random.Random) -> list[dict[str, Any]]:
    now = rfc3339()
    return [
        {
            "labels": {
                "alertname": "ChaosAlert",
                ID_LABEL: f"c{i:06d}",
                "sink": "flaky" if rng.random() < 0.3 else "slow",
                "severity": "warning",
            },
            "annotations": {"summary": f"chaos alert {i}"},
            "startsAt": now,
            "generatorURL": "http://chaos.invalid/",
        }
        for i in range(n)
    ]


def batched(
    alerts: list[dict[str, Any]], rng: random.Random, largest: int = 64
) -> list[list[dict[str, Any]]]:
    """Batches of 1 to `largest` alerts (Prometheus sends up to 64)."""
    out: list[list[dict[str, Any]]] = []
    i = 0
    while i < len(alerts):
        size = rng.randint(1, largest)
        out.append(alerts[i : i + size])
        i += size
    return out
