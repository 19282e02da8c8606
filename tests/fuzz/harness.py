"""Drives hypothesis-generated requests through one real app on one event loop.

Hypothesis runs a sync function per example; each example's requests are sent on the
harness's own loop (`asyncio.Runner`), so the app, its store and its background loops live
across all examples of a test function, as a long-running process would. Every answer is
checked as a user would see it: no 5xx, and every error a JSON body with `error` and
`detail` (or, on Alertmanager's silence routes, a JSON string, as amtool expects).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from channels.fakes import Fake
from conftest import config_from, wait_until
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from yarl import URL

from router.app import create_app
from router.service import Service
from router.web.keys import SERVICE

from .strategies import KNOWN, Req

MAX_LINE = 8190 - len("DELETE  HTTP/1.1")  # aiohttp's max_line_size
LEARN_FROM = ("POST /api/v2/silences", "GET /api/v2/silences", "GET /api/v2/alerts",
              "GET /api/v1/alerts")

# CI: a bounded run (well under a minute for the whole directory); set the variable to run
# longer, e.g. ALERT_ROUTER_FUZZ_EXAMPLES=2000.
EXAMPLES = int(os.environ.get("ALERT_ROUTER_FUZZ_EXAMPLES", "100"))
# The bounded CI run draws the same examples every time (no flaky build); a run with the
# variable set explores fresh ones, and prints a blob to reproduce any failure.
DERANDOMIZE = "ALERT_ROUTER_FUZZ_EXAMPLES" not in os.environ
START = 1_700_000_000.0  # the fake clock's start (2023-11-14T22:13:20Z)

# Alertmanager API v2 answers silence errors with a JSON string (router/web/am_v2.py).
# Alertmanager's API answers errors with a JSON string (what amtool prints), and go-swagger
# a schema refusal with `{"code", "message"}` (a silence missing a required field: 422).
AM_STRING_ERRORS = ("POST /api/v2/silences", "GET /api/v2/alerts", "GET /api/v2/silences",
                    "GET /api/v2/alerts/groups")
AM_SCHEMA_ERRORS = ("POST /api/v2/silences",)
REPORT = Path(os.environ.get("ALERT_ROUTER_FUZZ_REPORT", "")) if os.environ.get(
    "ALERT_ROUTER_FUZZ_REPORT") else None


@dataclass
class Figures:
    requests: int = 0
    server_errors: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    errors_by_route: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    line_too_long: int = 0  # refused by aiohttp's parser: a plain-text 400
    slowest_request: str = ""

    def summary(self, name: str) -> dict[str, Any]:
        return {"test": name, "requests": self.requests, "5xx": self.server_errors,
                "status": dict(sorted(self.by_status.items())),
                "4xx_by_route": {r: f"{self.errors_by_route[r]}/{n}"
                                 for r, n in sorted(self.by_route.items())},
                "line_too_long_400": self.line_too_long,
                "slowest_ms": round(self.slowest * 1000, 1),
                "slowest_request": self.slowest_request}


class Harness:
    """One app (real store in tmp_path, fake clock) and a loopback webhook receiver."""

    def __init__(self, tmp_path: Path, config: str) -> None:
        self.tmp_path = tmp_path
        self.config_text = config
        self.runner = asyncio.Runner()
        self.clock = FakeClock(START)
        self.figures = Figures()
        self.known: list[str] = []  # ids seen in answers, for paths with KNOWN
        self.fake: Fake
        self.client: TestClient[web.Request, web.Application]
        self.state: Service

    def __enter__(self) -> Harness:
        self.runner.__enter__()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._stop())
        finally:
            self.runner.__exit__(None, None, None)

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    @property
    def config_path(self) -> Path:
        return self.tmp_path / "router.yml"

    async def _start(self) -> None:
        hook = web.Application()
        self.fake = Fake(kind="webhook", server=None, path="/hook")  # type: ignore[arg-type]
        hook.router.add_route("*", "/{tail:.*}", self.fake.handle)
        self.fake.server = TestServer(hook)
        await self.fake.server.start_server()
        self.config_text = self.config_text.replace("HOOK_URL", self.fake.url)
        self.config_path.write_text(self.config_text, encoding="utf-8")
        cfg = config_from(self.config_text, self.tmp_path)
        app = create_app(cfg, clock=self.clock, registry=CollectorRegistry(),
                         config_path=str(self.config_path),
                         overrides={"storage": str(self.tmp_path / "router.db")})
        self.client = TestClient(TestServer(app))
        await self.client.start_server()
        self.state = app[SERVICE]

    async def _stop(self) -> None:
        await self.client.close()
        await self.fake.server.close()

    # --- one request, checked ----------------------------------------------------------

    async def send(self, req: Req) -> int:
        began = time.perf_counter()
        data: Any = req.body
        if data is not None and len(data) > 512 * 1024:  # aiohttp warns on big raw bytes
            data = io.BytesIO(data)
        # Without a Content-Type header in `req`, send none (aiohttp would add one).
        skip = () if "Content-Type" in req.headers or data is None else ("Content-Type",)
        path = req.path.replace(KNOWN, self.known[-1] if self.known else "none")
        f = self.figures
        if len(path) > MAX_LINE:
            # aiohttp's HTTP parser refuses a request line over 8190 bytes before the app
            # sees it: a plain-text 400 (README "Not covered"). Counted, not checked further.
            try:
                resp = await self.client.request(req.method, URL(path, encoded=True))
                status = resp.status
                await resp.read()
            except aiohttp.ClientResponseError as exc:  # HEAD: a body the client did not expect
                status = exc.status
            assert status == 400, (status, req.short())
            f.requests += 1
            f.line_too_long += 1
            return status
        resp = await self.client.request(req.method, URL(path, encoded=True), data=data,
                                         headers=req.headers, skip_auto_headers=skip)
        raw = await resp.read()
        took = time.perf_counter() - began
        f.requests += 1
        f.by_status[resp.status] += 1
        f.by_route[req.route] += 1
        if took > f.slowest:
            f.slowest, f.slowest_request = took, req.short()
        if resp.status >= 500:
            f.server_errors += 1
        assert resp.status < 500, f"{resp.status} for {req.short()}: {raw[:500]!r}"
        if resp.status == 200 and req.method != "HEAD":
            self._learn(req.route, raw)
        if resp.status >= 400:
            f.errors_by_route[req.route] += 1
            if req.method != "HEAD":
                check_error_body(req, resp.status, raw)
        return resp.status

    def _learn(self, route: str, raw: bytes) -> None:
        """Keep ids the app answered (silences, fingerprints), for paths that use `KNOWN`."""
        body = json.loads(raw) if route in LEARN_FROM else None
        items = body if isinstance(body, list) else [body]
        for item in items:
            if isinstance(item, dict):
                for key in ("silenceID", "id", "fingerprint"):
                    if isinstance(item.get(key), str):
                        self.known.append(quote(item[key], safe=""))
        del self.known[:-50]

    async def send_all(self, reqs: list[Req]) -> None:
        for req in reqs:
            await self.send(req)

    # --- afterwards: alive and delivering ------------------------------------------------

    async def expire_all_silences(self) -> None:
        """A fuzzed silence may match anything; expire them as an operator would."""
        resp = await self.client.get("/api/v2/silences")
        assert resp.status == 200
        for s in await resp.json():
            if s["status"]["state"] != "expired":
                resp = await self.client.delete(f"/api/v2/silence/{s['id']}")
                assert resp.status == 200, await resp.text()

    async def check_delivering(self) -> None:
        """The process still takes a valid alert and delivers it to the webhook, and every
        group the fuzzing left flushes without an error."""
        self.config_path.write_text(self.config_text, encoding="utf-8")
        resp = await self.client.post("/-/reload")
        assert resp.status == 200, await resp.text()
        await self.expire_all_silences()
        assert (await self.client.get("/-/ready")).status == 200
        canary = {"labels": {"alertname": "FuzzCanary", "severity": "critical"},
                  "annotations": {"summary": "still alive"}}
        resp = await self.client.post("/api/v2/alerts", json=[canary])
        assert resp.status == 200, await resp.text()

        def delivered() -> bool:
            for r in self.fake.requests:
                body = r.json()
                if any(a["labels"].get("alertname") == "FuzzCanary"
                       for a in body.get("alerts", [])):
                    return True
            return False

        for _ in range(5):  # group_wait, then a group_interval or two for busy groups
            await self.clock.advance(2)
            if delivered():
                break
        await wait_until(delivered, "the canary alert at the webhook")
        for path in ("/api/v1/alerts", "/api/v2/alerts", "/api/v2/silences",
                     "/api/v1/deliveries", "/api/v1/deliveries?state=dead", "/metrics"):
            resp = await self.client.get(path)
            assert resp.status == 200, (path, await resp.text())
        metrics = await (await self.client.get("/metrics")).text()
        flush_errors = [line for line in metrics.splitlines()
                        if line.startswith("alert_router_flush_errors_total ")]
        assert flush_errors in ([], ["alert_router_flush_errors_total 0.0"]), flush_errors

    def report(self, name: str) -> dict[str, Any]:
        summary = self.figures.summary(name)
        line = json.dumps(summary, ensure_ascii=False)
        print(f"\nfuzz {line}")
        if REPORT is not None:
            with REPORT.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        return summary


def check_error_body(req: Req, status: int, raw: bytes) -> None:
    try:
        body = json.loads(raw)
    except ValueError:
        raise AssertionError(f"{status} without a JSON body for {req.short()}: "
                             f"{raw[:300]!r}") from None
    if req.route in AM_STRING_ERRORS and isinstance(body, str):
        assert body, f"empty error string for {req.short()}"
        return
    if req.route in AM_SCHEMA_ERRORS and status == 422 and "code" in body:
        assert set(body) == {"code", "message"}, (req.short(), body)
        assert body["code"] in (602, 612), (req.short(), body)
        assert body["message"], (req.short(), body)
        return
    assert isinstance(body, dict), f"{status} body not an object for {req.short()}: {body!r}"
    assert isinstance(body.get("error"), str), (req.short(), body)
    assert isinstance(body.get("detail"), str), (req.short(), body)
    assert set(body) <= {"error", "detail", "path"}, (req.short(), body)
