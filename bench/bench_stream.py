"""Live-stream benchmark: N stream clients (half SSE, half WebSocket) on a real router
process while alerts are offered at a fixed open-loop rate (bench_delivery's load).

    python bench/bench_stream.py --clients 1000 --rate 200 --duration 10 [--batch 10]

Reports, per run: commit→client latency of every `alert.firing` event (the event's
`time`, stamped just before its commit, to its arrival at a client; p50/p99 over all
(event, client) pairs and over each event's slowest client), the router's RSS per idle
client, and the alert throughput (delivered/s, router CPU, delivery p99) with the clients
against the same run without any. The clients run in their own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import shutil
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_delivery as bd  # noqa: E402


def _event_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Arrivals:
    """Per event id: its commit time, and each client's arrival time."""

    def __init__(self) -> None:
        self.times: dict[int, float] = {}
        self.arrivals: dict[int, list[float]] = {}

    def saw(self, event_id: int, raw: bytes, now: float) -> None:
        if event_id not in self.times:
            import json

            envelope = json.loads(raw)
            if envelope["type"] != "alert.firing":
                self.times[event_id] = -1.0
                return
            self.times[event_id] = _event_time(envelope["time"])
        if self.times[event_id] >= 0:
            self.arrivals.setdefault(event_id, []).append(now)


async def _sse_client(session: aiohttp.ClientSession, url: str, seen: Arrivals,
                      ready: list[int]) -> None:
    async with session.get(url) as resp:
        ready[0] += 1
        event_id = 0
        async for line in resp.content:
            if line.startswith(b"id: "):
                event_id = int(line[4:])
            elif line.startswith(b"data: ") and event_id:
                seen.saw(event_id, line[6:], time.time())


async def _ws_client(session: aiohttp.ClientSession, url: str, seen: Arrivals,
                     ready: list[int]) -> None:
    async with session.ws_connect(url, max_msg_size=0) as ws:
        ready[0] += 1
        async for msg in ws:
            data = msg.data.encode() if isinstance(msg.data, str) else msg.data
            event_id = int(data[6:data.index(b",")])
            if event_id:
                seen.saw(event_id, data, time.time())


def run_clients(base: str, n: int, query: str, conn: Connection) -> None:
    """The client process: connect n streams, report when ready, record until told."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    async def main() -> None:
        seen, ready = Arrivals(), [0]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=None)) as s:
            tasks = []
            for i in range(n):
                if i % 2:
                    tasks.append(asyncio.create_task(
                        _ws_client(s, f"{base}/api/v1/stream/ws{query}", seen, ready)))
                else:
                    tasks.append(asyncio.create_task(
                        _sse_client(s, f"{base}/api/v1/stream{query}", seen, ready)))
                if i % 50 == 49:
                    await asyncio.sleep(0.05)
            while ready[0] < n:
                await asyncio.sleep(0.05)
            conn.send("ready")
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, conn.recv)  # "stop"
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            lost = sum(1 for t in tasks if t.done() and not t.cancelled()
                       and t.exception() is not None)
            conn.send({"times": seen.times, "arrivals": seen.arrivals, "ended": lost})

    asyncio.run(main())


def latency_report(data: dict[str, Any], clients: int) -> dict[str, float]:
    pairs: list[float] = []
    slowest: list[float] = []
    complete = 0
    for event_id, arrivals in data["arrivals"].items():
        t0 = data["times"][event_id]
        lat = [a - t0 for a in arrivals]
        pairs += lat
        slowest.append(max(lat))
        complete += len(arrivals) == clients
    pairs.sort()
    slowest.sort()
    return {"events": len(slowest), "complete": complete,
            "p50_ms": bd.percentile(pairs, 0.5) * 1000,
            "p99_ms": bd.percentile(pairs, 0.99) * 1000,
            "slowest_client_p50_ms": bd.percentile(slowest, 0.5) * 1000,
            "slowest_client_p99_ms": bd.percentile(slowest, 0.99) * 1000}


async def one_run(args: argparse.Namespace, clients: int, sink: str, workdir: Path
                  ) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.connections),
                                     timeout=aiohttp.ClientTimeout(total=30)) as session:
        await session.post(f"{sink}/reset")
        router = await bd.start_router(workdir, f"{sink}/hook", args.concurrency)
        out: dict[str, Any] = {"clients": clients}
        proc = None
        try:
            await asyncio.sleep(1)
            rss0 = bd.proc_status(router.pid, "VmRSS")
            if clients:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=run_clients,
                                   args=(router.url, clients, args.query, child), daemon=True)
                proc.start()
                await asyncio.get_running_loop().run_in_executor(None, parent.recv)
                await asyncio.sleep(2)
                rss1 = bd.proc_status(router.pid, "VmRSS")
                out["rss_per_client_kb"] = (rss1 - rss0) / clients / 1024
            cpu0 = bd.cpu_seconds(router.pid)
            offered = await bd.offer(session, f"{router.url}/api/v2/alerts", rate=args.rate,
                                     duration=args.duration, batch=args.batch,
                                     body_for=bd.encoder(args.batch))
            stats = await bd.wait_delivered(session, sink, offered.accepted, args.drain)
            result = bd.summarize(args.rate, offered, stats, bd.cpu_seconds(router.pid) - cpu0,
                                  bd.proc_status(router.pid, "VmHWM"), 0.0)
            out["result"] = result
            metrics = await bd.metric_totals(session, router.url)
            out["disconnects"] = metrics.get("alert_router_stream_disconnects_total", 0)
            if proc is not None:
                await asyncio.sleep(1)  # the last events reach the clients
                parent.send("stop")
                data = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
                out["latency"] = latency_report(data, clients)
                out["ended"] = data["ended"]
        finally:
            if proc is not None:
                proc.terminate()
                proc.join(5)
            await bd.stop_router(router)
        return out


def report(out: dict[str, Any]) -> None:
    r: bd.Result = out["result"]
    print(f"clients {out['clients']}:")
    print(f"  alerts           offered {r.offered.alerts}, delivered {r.delivered} "
          f"({r.delivered_per_s:.0f}/s), delivery p50 {r.p50_ms:.1f} ms p99 {r.p99_ms:.1f} ms")
    print(f"  router           cpu {r.router_cpu_s:.2f}s, peak RSS {bd.mb(r.router_peak_rss)}")
    if out["clients"]:
        lat = out["latency"]
        print(f"  memory           {out['rss_per_client_kb']:.1f} KB RSS per idle client")
        print(f"  stream           {lat['events']} alert.firing events, {lat['complete']} "
              f"reached every client; disconnects {out['disconnects']:.0f}, "
              f"streams ended early {out['ended']}")
        print(f"  commit→client    p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms; "
              f"slowest client per event p50 {lat['slowest_client_p50_ms']:.1f} ms "
              f"p99 {lat['slowest_client_p99_ms']:.1f} ms")


async def run(args: argparse.Namespace, sink: str, base: Path) -> None:
    print(f"rate {args.rate:.0f}/s, duration {args.duration:.0f}s, batch {args.batch}, "
          f"query {args.query!r}")
    results = []
    for clients in (0, args.clients):
        workdir = Path(tempfile.mkdtemp(prefix=f"stream-{clients}-", dir=base))
        out = await one_run(args, clients, sink, workdir)
        report(out)
        results.append(out)
    base_r, with_r = results[0]["result"], results[1]["result"]
    if base_r.delivered_per_s:
        print(f"throughput with clients / without: "
              f"{with_r.delivered_per_s / base_r.delivered_per_s:.2f} (delivered/s), "
              f"router CPU ratio {with_r.router_cpu_s / max(base_r.router_cpu_s, 1e-9):.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--query", default="", help="stream query, e.g. '?type=alert.'")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--drain", type=float, default=10)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    base = bd.REPO_ROOT / "bench" / "results"
    base.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="stream-", dir=base))
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    port = bd.free_port()
    sink_proc = ctx.Process(target=bd.run_sink, args=(port, ready), daemon=True)
    sink_proc.start()
    try:
        if not ready.wait(15):
            raise SystemExit("sink did not start")
        asyncio.run(run(args, f"http://127.0.0.1:{port}", base))
    finally:
        sink_proc.terminate()
        sink_proc.join(5)
        if args.keep:
            print(f"work dir kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
