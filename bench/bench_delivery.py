"""End-to-end delivery benchmark: offers alerts to a real alert-router process at a fixed
open-loop rate and measures, at a webhook sink in its own process, what comes out and when.

    python bench/bench_delivery.py --rate 1000 --duration 10 [--mode unique|resend] [--batch 1]
    python bench/bench_delivery.py --find-max --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

REPO_ROOT = Path(__file__).resolve().parents[1]
FIND_MAX_RATES = (1000, 2000, 3000, 4000, 6000)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the sink (own process)


class Sink:
    """Records each delivered alert's end-to-end latency (arrival - bench_sent_at)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.notifications = 0
        self.alerts = 0
        self.latencies: list[float] = []
        self.ids: set[str] = set()
        self.first_at: float | None = None
        self.last_at: float | None = None

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        now = time.time()
        self.notifications += 1
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        for alert in body.get("alerts", []):
            self.alerts += 1
            self.ids.add(alert["labels"].get("bench_id", ""))
            sent = alert.get("annotations", {}).get("bench_sent_at")
            if sent is not None:
                self.latencies.append(now - float(sent))
        return web.Response(text="ok")

    async def stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "notifications": self.notifications,
                "alerts": self.alerts,
                "unique": len(self.ids),
                "first_at": self.first_at,
                "last_at": self.last_at,
                # Latencies only when asked: the progress polls stay cheap.
                "latencies": self.latencies if request.query.get("full") else [],
            }
        )

    async def do_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(text="ok")


def run_sink(port: int, ready: EventType) -> None:
    """Entry point of the sink process."""
    sink = Sink()
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/hook", sink.hook)
    app.router.add_get("/stats", sink.stats)
    app.router.add_post("/reset", sink.do_reset)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


# ---------------------------------------------------------------- process measurements


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid: int, key: str) -> int:
    """A kB value such as VmHWM (peak RSS) from /proc/<pid>/status, in bytes."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def write_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (0 on tmpfs or if unreadable)."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            for line in f:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def db_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


def percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------- the router under test


@dataclass
class Router:
    proc: asyncio.subprocess.Process
    url: str
    db: Path
    logdir: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def router_config(sink_url: str, concurrency: int,
                  target_concurrency: int | None = None) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "sink",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "receivers": [
            {"name": "sink", "webhook_configs": [{"url": sink_url, "send_resolved": True}]}
        ],
        "delivery": {"concurrency": concurrency, **(
            {} if target_concurrency is None else {"target_concurrency": target_concurrency})},
    }


def _write_config(path: Path, config: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _open_log(path: Path) -> Any:
    return open(path, "wb")


async def start_router(workdir: Path, sink_url: str, concurrency: int,
                       target_concurrency: int | None = None) -> Router:
    cfg = workdir / "router.yml"
    _write_config(cfg, router_config(sink_url, concurrency, target_concurrency))
    port = free_port()
    db = workdir / "router.db"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    out, err = _open_log(workdir / "router.out"), _open_log(workdir / "router.err")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router",
        "serve",
        "--config",
        str(cfg),
        "--storage",
        str(db),
        "--listen",
        f"127.0.0.1:{port}",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        cwd=workdir,
        env=env,
    )
    out.close()
    err.close()
    router = Router(proc, f"http://127.0.0.1:{port}", db, workdir)
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.returncode is not None:
                raise SystemExit(f"alert-router exited ({proc.returncode}); see {workdir}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{router.url}/-/ready") as resp:
                    if resp.status == 200:
                        return router
            if time.monotonic() > deadline:
                raise SystemExit(f"alert-router not ready after 30s; see {workdir}")
            await asyncio.sleep(0.1)


async def stop_router(router: Router) -> None:
    if router.proc.returncode is None:
        router.proc.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(15):
                await router.proc.wait()
        except TimeoutError:
            router.proc.kill()
            await router.proc.wait()


async def metric_totals(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """Sum of every alert_router_*_total counter over its labels."""
    totals: dict[str, float] = {}
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if not line.startswith("alert_router_"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name.endswith("_total"):
            totals[name] = totals.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return totals


# ---------------------------------------------------------------- the load generator


@dataclass
class Offered:
    posts: int = 0
    alerts: int = 0
    accepted: int = 0  # 202
    rejected: dict[str, int] = field(default_factory=dict)  # status or error -> count
    seconds: float = 0.0


def unique_alert(i: int, sent_at: float) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "BenchAlert",
            "bench_id": str(i),
            "instance": f"host-{i % 100}",
            "severity": "warning",
        },
        "annotations": {"summary": "benchmark alert", "bench_sent_at": f"{sent_at:.6f}"},
        "startsAt": rfc3339(sent_at),
        "generatorURL": "http://bench.invalid/",
    }


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, count: int, stats: Offered
) -> None:
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            await resp.read()
            if resp.status == 202:
                stats.accepted += count
            else:
                key = str(resp.status)
                stats.rejected[key] = stats.rejected.get(key, 0) + count
    except (aiohttp.ClientError, TimeoutError) as exc:
        key = type(exc).__name__
        stats.rejected[key] = stats.rejected.get(key, 0) + count


async def offer(
    session: aiohttp.ClientSession,
    url: str,
    *,
    rate: float,
    duration: float,
    batch: int,
    body_for: Callable[[int, float], bytes],
) -> Offered:
    """Open loop: POST k is due at start + k*batch/rate whether or not earlier ones
    finished, and its alerts carry that scheduled time, so a stalled router shows up as
    latency instead of silently lowering the offered rate (coordinated omission).
    """
    stats = Offered()
    interval = batch / rate
    total = int(rate * duration / batch)
    tasks: set[asyncio.Task[None]] = set()
    wall0, mono0 = time.time(), time.monotonic()
    k = 0
    while k < total:
        due_now = min(total, int((time.monotonic() - mono0) / interval) + 1)
        while k < due_now:
            task = asyncio.create_task(
                _post(session, url, body_for(k, wall0 + k * interval), batch, stats)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            k += 1
            stats.posts += 1
            stats.alerts += batch
        await asyncio.sleep(min(interval, 0.001))
    if tasks:
        await asyncio.gather(*tasks)
    stats.seconds = time.monotonic() - mono0
    return stats


async def sink_stats(
    session: aiohttp.ClientSession, sink: str, *, full: bool = False
) -> dict[str, Any]:
    async with session.get(f"{sink}/stats", params={"full": "1"} if full else {}) as resp:
        data: dict[str, Any] = await resp.json()
        return data


async def wait_delivered(
    session: aiohttp.ClientSession, sink: str, expected: int, drain: float
) -> dict[str, Any]:
    """Wait until `expected` unique alerts arrived, or `drain` seconds without progress."""
    last, last_change = -1, time.monotonic()
    while True:
        stats = await sink_stats(session, sink)
        if stats["unique"] >= expected:
            break
        if stats["unique"] != last:
            last, last_change = stats["unique"], time.monotonic()
        elif time.monotonic() - last_change > drain:
            break
        await asyncio.sleep(0.1)
    return await sink_stats(session, sink, full=True)


# ---------------------------------------------------------------- one run


@dataclass
class Result:
    rate: float
    offered: Offered
    delivered: int
    notifications: int
    delivered_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    router_cpu_s: float
    router_peak_rss: int
    bench_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sustained(self) -> bool:
        return self.delivered >= 0.95 * self.offered.alerts and self.p99_ms < 1000.0


def summarize(
    rate: float, offered: Offered, stats: dict[str, Any], cpu: float, rss: int, bench_cpu: float
) -> Result:
    latencies = sorted(stats["latencies"])
    first, last = stats["first_at"], stats["last_at"]
    span = (last - first) if first is not None and last is not None and last > first else 0.0
    return Result(
        rate=rate,
        offered=offered,
        delivered=stats["unique"],
        notifications=stats["notifications"],
        delivered_per_s=stats["unique"] / span if span else 0.0,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        max_ms=(latencies[-1] * 1000) if latencies else float("nan"),
        router_cpu_s=cpu,
        router_peak_rss=rss,
        bench_cpu_s=bench_cpu,
    )


def bench_cpu() -> float:
    t = os.times()
    return t.user + t.system


def encoder(batch: int) -> Callable[[int, float], bytes]:
    def body_for(k: int, sent_at: float) -> bytes:
        return json.dumps([unique_alert(k * batch + j, sent_at) for j in range(batch)]).encode()

    return body_for


async def run_unique(args: argparse.Namespace, rate: float, sink: str, workdir: Path) -> Result:
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.connections),
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:
        await session.post(f"{sink}/reset")
        router = await start_router(workdir, f"{sink}/hook", args.concurrency,
                                    args.target_concurrency)
        try:
            cpu0, bench0 = cpu_seconds(router.pid), bench_cpu()
            offered = await offer(
                session,
                f"{router.url}/api/v2/alerts",
                rate=rate,
                duration=args.duration,
                batch=args.batch,
                body_for=encoder(args.batch),
            )
            stats = await wait_delivered(session, sink, offered.accepted, args.drain)
            result = summarize(
                rate,
                offered,
                stats,
                cpu_seconds(router.pid) - cpu0,
                proc_status(router.pid, "VmHWM"),
                bench_cpu() - bench0,
            )
            result.extra["metrics"] = await metric_totals(session, router.url)
            return result
        finally:
            await stop_router(router)


async def run_resend(args: argparse.Namespace, sink: str, workdir: Path) -> Result:
    """Phase 1 delivers N unique alerts; phase 2 re-sends them unchanged at the rate.
    Phase 2 should cost no notifications and (ideally) no database writes.
    """
    n = args.count
    batch = args.batch
    stamp = time.time()
    bodies = [
        json.dumps([unique_alert(k * batch + j, stamp) for j in range(batch)]).encode()
        for k in range((n + batch - 1) // batch)
    ]
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.connections),
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:
        await session.post(f"{sink}/reset")
        router = await start_router(workdir, f"{sink}/hook", args.concurrency,
                                    args.target_concurrency)
        try:
            url = f"{router.url}/api/v2/alerts"
            first = await offer(
                session,
                url,
                rate=args.rate,
                duration=n / args.rate,
                batch=batch,
                body_for=lambda k, _t: bodies[k % len(bodies)],
            )
            await wait_delivered(session, sink, first.accepted, args.drain)
            await asyncio.sleep(1.0)  # let the notification log commits land
            before = await sink_stats(session, sink)
            size0, io0 = db_bytes(router.db), write_bytes(router.pid)
            m0 = await metric_totals(session, router.url)
            cpu0, bench0 = cpu_seconds(router.pid), bench_cpu()

            offered = await offer(
                session,
                url,
                rate=args.rate,
                duration=args.duration,
                batch=batch,
                body_for=lambda k, _t: bodies[k % len(bodies)],
            )
            await asyncio.sleep(2.0)
            after = await sink_stats(session, sink, full=True)
            m1 = await metric_totals(session, router.url)
            result = summarize(
                args.rate,
                offered,
                {**after, "unique": 0, "latencies": []},
                cpu_seconds(router.pid) - cpu0,
                proc_status(router.pid, "VmHWM"),
                bench_cpu() - bench0,
            )
            result.notifications = after["notifications"] - before["notifications"]
            result.extra.update(
                phase1_delivered=before["unique"],
                db_growth=db_bytes(router.db) - size0,
                write_bytes=write_bytes(router.pid) - io0,
                metrics={k: m1.get(k, 0.0) - m0.get(k, 0.0) for k in m1},
            )
            return result
        finally:
            await stop_router(router)


# ---------------------------------------------------------------- reporting and main


def mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def report(result: Result, mode: str) -> None:
    o = result.offered
    print(
        f"  offered          {o.alerts} alerts in {o.seconds:.1f}s "
        f"= {o.alerts / o.seconds:.0f}/s (target {result.rate:.0f}/s), {o.posts} POSTs"
    )
    print(f"  responses        202: {o.accepted}  other: {o.rejected or 0}")
    if mode == "unique":
        print(
            f"  delivered        {result.delivered} alerts "
            f"({100 * result.delivered / max(1, o.alerts):.1f}%), "
            f"{result.delivered_per_s:.0f}/s, {result.notifications} notifications"
        )
        print(
            f"  latency          p50 {result.p50_ms:.1f} ms  p99 {result.p99_ms:.1f} ms  "
            f"max {result.max_ms:.1f} ms"
        )
    else:
        print(f"  phase 1          {result.extra['phase1_delivered']} alerts delivered")
        print(
            f"  resend phase     notifications sent: {result.notifications}  "
            f"db+wal growth: {result.extra['db_growth']} B  "
            f"write_bytes: {result.extra['write_bytes']} B"
        )
    print(
        f"  router           cpu {result.router_cpu_s:.2f}s "
        f"({100 * result.router_cpu_s / max(o.seconds, 1e-9):.0f}% of one core), "
        f"peak RSS {mb(result.router_peak_rss)}"
    )
    print(f"  bench client     cpu {result.bench_cpu_s:.2f}s")
    metrics = {k: v for k, v in result.extra.get("metrics", {}).items() if v}
    if metrics:
        print("  metrics          " + "  ".join(f"{k}={v:g}" for k, v in sorted(metrics.items())))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=1000.0, help="alerts per second offered")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of offered load")
    p.add_argument("--mode", choices=("unique", "resend"), default="unique")
    p.add_argument("--batch", type=int, default=1, help="alerts per POST")
    p.add_argument("--count", type=int, default=5000, help="resend mode: distinct alerts")
    p.add_argument("--concurrency", type=int, default=32, help="router delivery.concurrency")
    p.add_argument("--target-concurrency", type=int, default=None,
                   help="router delivery.target_concurrency (default: the router's)")
    p.add_argument("--connections", type=int, default=64, help="bench HTTP connections")
    p.add_argument("--drain", type=float, default=5.0, help="give up after s without progress")
    p.add_argument("--find-max", action="store_true", help="step the rate up: 1000..6000/s")
    p.add_argument("--keep", action="store_true", help="keep the work dir (db, router logs)")
    return p.parse_args(argv)


async def run(args: argparse.Namespace, sink: str, base: Path) -> int:
    if args.find_max:
        best = 0.0
        for rate in FIND_MAX_RATES:
            workdir = Path(tempfile.mkdtemp(prefix=f"max-{rate}-", dir=base))
            print(f"rate {rate}/s, batch {args.batch}:")
            result = await run_unique(args, rate, sink, workdir)
            report(result, "unique")
            print(f"  sustained        {'yes' if result.sustained else 'no'}")
            if not result.sustained:
                break
            best = rate
        print(
            f"highest sustained rate: {best:.0f} alerts/s (delivered >= 95% of offered, p99 < 1 s)"
        )
        return 0
    workdir = Path(tempfile.mkdtemp(prefix=f"{args.mode}-", dir=base))
    print(
        f"mode {args.mode}, rate {args.rate:.0f}/s, duration {args.duration:.0f}s, "
        f"batch {args.batch}, router delivery.concurrency {args.concurrency}"
    )
    if args.mode == "unique":
        report(await run_unique(args, args.rate, sink, workdir), "unique")
    else:
        report(await run_resend(args, sink, workdir), "resend")
    return 0


def with_sink(keep: bool, body: Callable[[str, Path], Coroutine[Any, Any, int]]) -> int:
    """Run `body(sink_url, work_dir)` with the webhook sink in its own process (so its CPU
    does not distort the load generator) and a fresh work dir under bench/results."""
    base = REPO_ROOT / "bench" / "results"
    base.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="run-", dir=base))
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = free_port()
    sink_proc = ctx.Process(target=run_sink, args=(port, ready), daemon=True)
    sink_proc.start()
    try:
        if not ready.wait(15):
            raise SystemExit("sink did not start")
        return asyncio.run(body(f"http://127.0.0.1:{port}", base))
    finally:
        sink_proc.terminate()
        sink_proc.join(5)
        if keep:
            print(f"work dir kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return with_sink(args.keep, lambda sink, base: run(args, sink, base))


if __name__ == "__main__":
    raise SystemExit(main())
