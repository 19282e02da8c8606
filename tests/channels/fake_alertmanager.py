"""A stateful fake of an upstream Alertmanager's read API (`GET /api/v2/status` and
`GET /api/v2/alerts`), for `sources.alertmanager.reconcile`.

It holds alerts (label sets with an end time) and answers as Alertmanager 0.25 does: the
alerts list carries every alert not yet ended, silenced or not; `uptime` is its start. It
refuses requests without the configured basic-auth credentials (401) and other methods
(405), and answers from a script first (a status, or "garbage" for a non-JSON 200).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from router.timefmt import format_time_ms


@dataclass
class FakeAlertmanager:
    now: Callable[[], float]
    started: float
    basic_auth: tuple[str, str] | None = None
    alerts: dict[str, tuple[dict[str, str], float | None]] = field(default_factory=dict)
    script: list[int | str] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def fire(self, name: str, **labels: str) -> None:
        self.alerts[name] = ({"alertname": name, **labels}, None)

    def resolve(self, name: str) -> None:
        labels, _ = self.alerts[name]
        self.alerts[name] = (labels, self.now())

    def _authorized(self, request: web.Request) -> bool:
        if self.basic_auth is None:
            return True
        token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.method != "GET":
            return web.json_response("method not allowed", status=405)
        if not self._authorized(request):
            return web.Response(status=401, text="Unauthorized")
        if self.script:
            item = self.script.pop(0)
            if item == "garbage":
                return web.Response(text="<html>proxy error</html>")
            return web.json_response("error", status=int(item))
        if request.path == "/api/v2/status":
            return web.json_response({"uptime": format_time_ms(self.started),
                                      "cluster": {"status": "disabled"}})
        if request.path == "/api/v2/alerts":
            now = self.now()
            return web.json_response([
                {"labels": labels, "annotations": {}, "receivers": [{"name": "relay"}],
                 "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}}
                for labels, ends in self.alerts.values() if ends is None or ends > now])
        return web.Response(status=404, text="not found")


async def start_fake_alertmanager(aiohttp_server: AiohttpServer, now: Callable[[], float],
                                  **kwargs: Any) -> FakeAlertmanager:
    fake = FakeAlertmanager(now=now, started=kwargs.pop("started", now() - 3600), **kwargs)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
