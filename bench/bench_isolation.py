"""Isolation benchmark: does a bad receiver slow a healthy one, or ingest?

Runs a real `python -m router serve` four times, each with the webhook sink of
bench_delivery.py as the healthy receiver: alone; beside a second healthy sink (`up`: the
normal figure, each alert costing two notifications); beside a receiver that accepts TCP
and never answers (`hanging`, its `timeout: 2s`); beside one whose port is closed
(`refused`). Every alert goes to both receivers. Each run offers alerts open-loop at
`--rate` for `--duration` s (the healthy receiver's latency, the bad one's backlog
growing), then posts `--batch`-alert batches as fast as the router answers for
`--saturate` s (ingest throughput, the backlog still retrying). Prints each figure and its
ratio to `up` (the same two receivers, both answering).

    python bench/bench_isolation.py --rate 500 --duration 10 --saturate 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_delivery import (
    REPO_ROOT,
    Router,
    _post,
    cpu_seconds,
    encoder,
    free_port,
    metric_totals,
    offer,
    percentile,
    run_sink,
    sink_stats,
    start_router,
    stop_router,
    unique_alert,
    wait_delivered,
)
from bench_delivery import Offered as Posted

SCENARIOS = ("up", "alone", "hanging", "refused")


def config(sink_url: str, bad_url: str | None, concurrency: int) -> dict[str, Any]:
    routes: list[dict[str, Any]] = [{"receiver": "sink"}]
    receivers: list[dict[str, Any]] = [
        {"name": "sink", "webhook_configs": [{"url": sink_url, "send_resolved": True}]}]
    if bad_url is not None:
        routes.insert(0, {"receiver": "bad", "continue": True})
        receivers.append({"name": "bad", "webhook_configs": [
            {"url": bad_url, "send_resolved": True, "timeout": "2s"}]})
    return {
        "route": {"receiver": "sink", "group_by": ["..."], "group_wait": "0s",
                  "group_interval": "1m", "repeat_interval": "4h", "routes": routes},
        "receivers": receivers,
        "delivery": {"concurrency": concurrency},
    }


async def hanging_receiver() -> tuple[asyncio.Server, str]:
    """Accepts connections, reads, never answers."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hook"


async def saturate(session: aiohttp.ClientSession, url: str, seconds: float, batch: int,
                   workers: int, first_id: int) -> Posted:
    """Closed loop: `workers` posters, each posting its next batch when answered."""
    stats = Posted()
    counter = iter(range(first_id, first_id + 10**9, batch))
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            start, now = next(counter), time.time()
            body = json.dumps([unique_alert(start + j, now) for j in range(batch)]).encode()
            stats.posts += 1
            stats.alerts += batch
            await _post(session, url, body, batch, stats)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    stats.seconds = time.monotonic() - t0
    return stats


def log_bytes(router: Router) -> int:
    return sum(p.stat().st_size for p in (router.logdir / "router.out",
                                          router.logdir / "router.err") if p.exists())


async def scenario(args: argparse.Namespace, name: str, sink: str, other: str, base: Path
                   ) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))
    server: asyncio.Server | None = None
    bad = None
    if name == "up":
        bad = f"{other}/hook"
    elif name == "hanging":
        server, bad = await hanging_receiver()
    elif name == "refused":
        bad = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens there
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=args.connections),
        timeout=aiohttp.ClientTimeout(total=30),
    ) as session:
        await session.post(f"{sink}/reset")
        router = await start_router_with(workdir, f"{sink}/hook", bad, args.concurrency)
        try:
            cpu0 = cpu_seconds(router.pid)
            url = f"{router.url}/api/v2/alerts"
            offered = await offer(session, url, rate=args.rate, duration=args.duration,
                                  batch=1, body_for=encoder(1))
            stats = await wait_delivered(session, sink, offered.accepted, args.drain)
            latencies = sorted(stats["latencies"])
            log0 = log_bytes(router)
            ingest = await saturate(session, url, args.saturate, args.batch, args.workers,
                                    first_id=10_000_000)
            log_rate = (log_bytes(router) - log0) / ingest.seconds
            after = await sink_stats(session, sink)
            metrics = await metric_totals(session, router.url)
            return {
                "offered": offered.alerts,
                "healthy_delivered": stats["unique"],
                "healthy_p50_ms": percentile(latencies, 0.50) * 1000,
                "healthy_p99_ms": percentile(latencies, 0.99) * 1000,
                "ingest_per_s": ingest.accepted / ingest.seconds,
                "ingest_rejected": ingest.rejected,
                "healthy_during_ingest_per_s": (after["unique"] - stats["unique"])
                / ingest.seconds,
                "log_bytes_per_s": log_rate,
                "router_cpu_s": cpu_seconds(router.pid) - cpu0,
                "bad_attempts": metrics.get("alert_router_notification_requests_failed_total",
                                            0.0),
            }
        finally:
            await stop_router(router)
            if server is not None:
                server.close()


async def start_router_with(workdir: Path, sink_url: str, bad: str | None,
                            concurrency: int) -> Router:
    """bench_delivery.start_router with this benchmark's two-receiver config."""
    import bench_delivery

    original = bench_delivery.router_config
    bench_delivery.router_config = lambda s, c, _t=None: config(s, bad, c)  # type: ignore[assignment]
    try:
        return await start_router(workdir, sink_url, concurrency)
    finally:
        bench_delivery.router_config = original


def show(name: str, r: dict[str, Any], up: dict[str, Any]) -> None:
    def ratio(key: str) -> str:
        return f"{r[key] / up[key]:.2f}x" if up[key] else "-"

    print(f"{name}:")
    print(f"  healthy receiver  {r['healthy_delivered']}/{r['offered']} delivered, "
          f"p50 {r['healthy_p50_ms']:.1f} ms, p99 {r['healthy_p99_ms']:.1f} ms "
          f"({ratio('healthy_p99_ms')} of up)")
    print(f"  ingest            {r['ingest_per_s']:.0f} alerts/s ({ratio('ingest_per_s')}), "
          f"rejected {r['ingest_rejected'] or 0}; healthy receiver meanwhile "
          f"{r['healthy_during_ingest_per_s']:.0f}/s ({ratio('healthy_during_ingest_per_s')})")
    print(f"  router            log {r['log_bytes_per_s'] / 1e3:.1f} kB/s, "
          f"cpu {r['router_cpu_s']:.1f}s, attempts not delivered {r['bad_attempts']:.0f}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rate", type=float, default=500.0, help="alerts/s offered (1 per POST)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of offered load")
    p.add_argument("--saturate", type=float, default=5.0, help="seconds of closed-loop ingest")
    p.add_argument("--batch", type=int, default=100, help="alerts per POST when saturating")
    p.add_argument("--workers", type=int, default=4, help="concurrent posters when saturating")
    p.add_argument("--concurrency", type=int, default=32, help="router delivery.concurrency")
    p.add_argument("--connections", type=int, default=64, help="bench HTTP connections")
    p.add_argument("--drain", type=float, default=5.0, help="give up after s without progress")
    p.add_argument("--only", choices=SCENARIOS, action="append", help="run only these")
    return p.parse_args(argv)


async def run(args: argparse.Namespace, sink: str, other: str, base: Path) -> int:
    print(f"rate {args.rate:.0f}/s for {args.duration:.0f}s, then {args.saturate:.0f}s of "
          f"{args.batch}-alert POSTs from {args.workers} posters; "
          f"delivery.concurrency {args.concurrency}")
    results: dict[str, dict[str, Any]] = {}
    for name in SCENARIOS:
        if args.only and name not in args.only and name != "up":
            continue
        results[name] = await scenario(args, name, sink, other, base)
        show(name, results[name], results["up"])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    base = REPO_ROOT / "bench" / "results"
    base.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="isolation-", dir=base))
    ctx = multiprocessing.get_context("spawn")
    sinks = []
    for _ in range(2):  # the healthy receiver, and the second one of the `up` run
        ready = ctx.Event()
        port = free_port()
        proc = ctx.Process(target=run_sink, args=(port, ready), daemon=True)
        proc.start()
        sinks.append((proc, ready, f"http://127.0.0.1:{port}"))
    try:
        if not all(ready.wait(15) for _, ready, _ in sinks):
            raise SystemExit("sink did not start")
        return asyncio.run(run(args, sinks[0][2], sinks[1][2], base))
    finally:
        for proc, _, _ in sinks:
            proc.terminate()
            proc.join(5)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
