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
import functools
import json
import multiprocessing
import struct
import sys
import tempfile
import time
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_delivery as bd


def _event_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Arrivals:
    """Latency of every alert.firing event at every client, as a 1 ms histogram (the
    client process must stay cheap: it parses an envelope once, at its first arrival)."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.times: dict[int, float] = {}  # event id -> commit time (-1: not alert.firing)
        self.counts: dict[int, int] = {}
        self.last: dict[int, float] = {}
        self.hist = [0] * 60_001

    def saw(self, event_id: int, raw: bytes, now: float) -> None:
        t0 = self.times.get(event_id)
        if t0 is None:
            envelope = json.loads(raw)
            t0 = self.times[event_id] = (_event_time(envelope["time"])
                                         if envelope["type"] == "alert.firing" else -1.0)
        if t0 < 0:
            return
        self.counts[event_id] = self.counts.get(event_id, 0) + 1
        self.last[event_id] = now
        self.hist[min(60_000, int((now - t0) * 1000))] += 1

    def report(self) -> dict[str, Any]:
        if not self.last:
            return {"events": 0}
        slowest = sorted(self.last[i] - self.times[i] for i in self.last)
        total, acc, p50, p99 = sum(self.hist), 0, None, None
        for ms, n in enumerate(self.hist):
            acc += n
            if p50 is None and acc >= total * 0.5:
                p50 = ms
            if p99 is None and acc >= total * 0.99:
                p99 = ms
                break
        return {"events": len(self.last),
                "complete": sum(1 for n in self.counts.values() if n == self.clients),
                "p50_ms": p50, "p99_ms": p99,
                "slowest_client_p50_ms": bd.percentile(slowest, 0.5) * 1000,
                "slowest_client_p99_ms": bd.percentile(slowest, 0.99) * 1000}


class SSEClient(asyncio.Protocol):
    """A raw-socket SSE reader: finds `id:` and `data:` lines, nothing more."""

    discard = False  # read and drop (measuring the router's cost, not latency)

    def __init__(self, request: bytes, seen: Arrivals, ready: list[int]) -> None:
        self.request, self.seen, self.ready = request, seen, ready
        self.buf = b""
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)
        self.ready[0] += 1

    def data_received(self, data: bytes) -> None:
        if self.discard:
            return
        now = time.time()
        buf = self.buf + data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self.buf = buf
            return
        region, self.buf = buf[:end + 2], buf[end + 2:]
        pos = region.find(b"id: ")
        while pos >= 0:
            nl = region.index(b"\n", pos)
            event_id = int(region[pos + 4:nl])
            d = region.find(b"data: ", nl)
            dn = region.index(b"\n", d)
            if event_id:
                self.seen.saw(event_id, region[d + 6:dn], now)
            pos = region.find(b"id: ", dn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


class WSClient(asyncio.Protocol):
    """A raw-socket WebSocket reader (text frames only; the handshake is not checked)."""

    discard = False

    def __init__(self, request: bytes, seen: Arrivals, ready: list[int]) -> None:
        self.request, self.seen, self.ready = request, seen, ready
        self.buf = b""
        self.upgraded = False
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf + data
        if not self.upgraded:
            head = buf.find(b"\r\n\r\n")
            if head < 0:
                self.buf = buf
                return
            buf, self.upgraded = buf[head + 4:], True
            self.ready[0] += 1
        if self.discard:
            return
        pos = 0
        while len(buf) - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            hdr = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n, hdr = struct.unpack_from("!H", buf, pos + 2)[0], 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n, hdr = struct.unpack_from("!Q", buf, pos + 2)[0], 10
            if len(buf) - pos < hdr + n:
                break
            if opcode == 1:
                payload = buf[pos + hdr:pos + hdr + n]
                event_id = int(payload[6:payload.index(b",")])
                if event_id:
                    self.seen.saw(event_id, payload, now)
            pos += hdr + n
        self.buf = buf[pos:]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set_result(None)


def _same(proto: asyncio.Protocol) -> asyncio.Protocol:
    return proto


def run_clients(host: str, port: int, n: int, query: str, discard: bool,
                conn: Connection) -> None:
    """The client process: connect n streams, report when ready, record until told."""
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()

    SSEClient.discard = WSClient.discard = discard

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen, ready = Arrivals(n), [0]
        sse = f"GET /api/v1/stream{query} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        ws = (f"GET /api/v1/stream/ws{query} HTTP/1.1\r\nHost: {host}\r\n"
              "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode()
        protos: list[Any] = []
        for i in range(n):
            proto: asyncio.Protocol = (WSClient(ws, seen, ready) if i % 2
                                       else SSEClient(sse, seen, ready))
            await loop.create_connection(functools.partial(_same, proto), host, port)
            protos.append(proto)
            if i % 50 == 49:
                await asyncio.sleep(0.02)
        while ready[0] < n:  # noqa: ASYNC110 (a count of connections, polled)
            await asyncio.sleep(0.05)
        conn.send("ready")
        cpu0 = bd.bench_cpu()
        await loop.run_in_executor(None, conn.recv)  # "stop"
        ended = sum(1 for p in protos if p.closed.done())
        conn.send({**seen.report(), "ended": ended, "cpu": bd.bench_cpu() - cpu0})

    asyncio.run(main())


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
                port = int(router.url.rsplit(":", 1)[1])
                proc = ctx.Process(target=run_clients,
                                   args=("127.0.0.1", port, clients, args.query,
                                         args.discard, child),
                                   daemon=True)
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
                out["latency"] = data
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
    if out["clients"] and out["latency"].get("p50_ms") is None:
        print(f"  memory           {out['rss_per_client_kb']:.1f} KB RSS per idle client")
        print(f"  stream           disconnects {out['disconnects']:.0f}, streams ended early "
              f"{out['ended']} (clients discarded what they read)")
    elif out["clients"]:
        lat = out["latency"]
        print(f"  memory           {out['rss_per_client_kb']:.1f} KB RSS per idle client")
        print(f"  stream           {lat['events']} alert.firing events, {lat['complete']} "
              f"reached every client; disconnects {out['disconnects']:.0f}, "
              f"streams ended early {out['ended']}; client process cpu {lat['cpu']:.2f}s")
        print(f"  commit→client    p50 {lat['p50_ms']} ms  p99 {lat['p99_ms']} ms; "
              f"slowest client per event p50 {lat['slowest_client_p50_ms']:.1f} ms "
              f"p99 {lat['slowest_client_p99_ms']:.1f} ms")


async def run(args: argparse.Namespace, sink: str, base: Path) -> int:
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
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--query", default="", help="stream query, e.g. '?type=alert.'")
    p.add_argument("--discard", action="store_true",
                   help="clients read and drop (the router's cost at high rates; no latency)")
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--drain", type=float, default=10)
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    return bd.with_sink(args.keep, lambda sink, base: run(args, sink, base))


if __name__ == "__main__":
    raise SystemExit(main())
