"""Loopback fakes of vendor endpoints (Slack webhook, Slack Web API, generic webhook).

Each fake is a real aiohttp app served by pytest-aiohttp's `aiohttp_server`: it records
every request and answers from a script such as `[503, (429, {"Retry-After": "1"}), 200]`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from router.model import Alert, Notification, NotifyReason, make_alert, sort_alerts
from router.timefmt import parse_time

FIXTURES = Path(__file__).resolve().parent.parent / "data" / "fixtures"
GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"

# A script entry: a status; (status, headers); (status, headers, body); a dict → 200 JSON.
# A body of None means the vendor's usual body for that status. After the script: 200.
ScriptItem = int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], Any] | dict[str, Any]

_SLACK_WEBHOOK_ERRORS = {400: "invalid_payload", 403: "action_prohibited",
                         404: "channel_not_found", 410: "channel_is_archived"}
KIND_PATHS = {
    "slack-webhook": "/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "slack-api": "/api/",
    "webhook": "/hook",
    "jira": "/rest/api/2/",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class Fake:
    kind: str
    server: TestServer
    path: str
    script: list[ScriptItem] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    delay: float = 0.0  # seconds before answering (to provoke client timeouts)
    _ts: Callable[[], int] = field(default_factory=lambda: itertools.count(100).__next__)

    @property
    def url(self) -> str:
        return str(self.server.make_url(self.path))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        item = self.script.pop(0) if self.script else 200
        if isinstance(item, dict):
            return web.json_response(item)
        if isinstance(item, int):
            status, headers, answer = item, {}, None
        elif len(item) == 2:
            status, headers, answer = item[0], item[1], None
        else:
            status, headers, answer = item[0], item[1], item[2]
        if answer is None:
            answer = self._default(status, request, body)
        if isinstance(answer, dict):
            return web.json_response(answer, status=status, headers=headers)
        return web.Response(status=status, headers=headers, text=str(answer))

    def _default(self, status: int, request: web.Request, body: bytes) -> Any:
        if self.kind == "slack-webhook":
            return "ok" if status == 200 else _SLACK_WEBHOOK_ERRORS.get(status, "error")
        if self.kind == "slack-api" and status == 200:
            sent = json.loads(body or b"{}")
            channel = "C0123ABCD"  # Slack answers the channel ID, not the name it was given
            if request.path.endswith("/chat.update"):
                return {"ok": True, "ts": sent.get("ts"), "channel": sent.get("channel")}
            return {"ok": True, "ts": f"1700000000.{self._ts():06d}", "channel": channel}
        if self.kind == "jira" and 200 <= status < 300:
            # Jira's answers to a search (nothing yet) and to a create.
            found = request.path.endswith(("/search", "/search/jql"))
            return {"issues": []} if found else {"id": "10000", "key": "OPS-1"}
        return "" if 200 <= status < 300 else "error"


async def start_fake(
    aiohttp_server: AiohttpServer,
    kind: str = "webhook",
    script: list[ScriptItem] | None = None,
    *,
    delay: float = 0.0,
    path: str | None = None,
    port: int | None = None,
) -> Fake:
    """Serve a fake `kind` ("slack-webhook", "slack-api", "webhook") on loopback."""
    if kind not in KIND_PATHS:
        raise ValueError(f"unknown fake kind {kind!r}")
    app = web.Application()
    fake = Fake(kind=kind, server=None, path=path or KIND_PATHS[kind],  # type: ignore[arg-type]
                script=list(script or []), delay=delay)
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    # No access log: it would print the request path (and any token in it) into caplog.
    fake.server = await aiohttp_server(app, port=port, access_log=None)
    return fake


def closed_port_url(path: str = "/") -> str:
    """A loopback URL nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


@dataclass
class Silent:
    """A receiver that accepts TCP connections, reads the request and never answers."""

    server: asyncio.Server
    url: str
    connections: int = 0  # accepted so far
    open: int = 0  # still held by a client
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self._writers.add(writer)
        try:
            while await reader.read(65536):  # until the client gives up
                pass
        finally:
            self.open -= 1
            self._writers.discard(writer)
            writer.close()

    async def close(self) -> None:
        self.server.close()
        for writer in list(self._writers):
            writer.close()
        await self.server.wait_closed()


async def start_silent(path: str = "/hook") -> Silent:
    """Serve a receiver that hangs (a stuck proxy, a frozen vendor) on loopback."""
    silent = Silent(server=None, url="")  # type: ignore[arg-type]
    silent.server = await asyncio.start_server(silent._hold, "127.0.0.1", 0)
    port = silent.server.sockets[0].getsockname()[1]
    silent.url = f"http://127.0.0.1:{port}{path}"
    return silent


# --- captured Alertmanager payloads as Notifications ----------------------------------


def load_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def notification_from_body(
    body: dict[str, Any], *, extra: Sequence[dict[str, Any]] = ()
) -> Notification:
    """The Notification Alertmanager rendered `body` from (plus `extra` alerts)."""
    alerts = []
    latest = 0.0
    for item in [*body["alerts"], *extra]:
        starts = parse_time(item["startsAt"]) or 0.0
        ends = parse_time(item["endsAt"])
        latest = max(latest, starts, ends or 0.0)
        alerts.append(make_alert(item["labels"], item["annotations"], starts, ends,
                                 item["generatorURL"], starts))
    resolved = body["status"] == "resolved"
    return Notification(
        receiver=body["receiver"],
        group_key=body["groupKey"],
        group_labels=body["groupLabels"],
        alerts=sort_alerts(alerts),
        reason=NotifyReason.ALL_RESOLVED if resolved else NotifyReason.FIRST,
        now=latest + 1.0,
        external_url=body["externalURL"],
    )


FIXTURE_NAMES = [
    "critical-single-firing.json",
    "critical-grouped-truncated.json",
    "default-warning-firing.json",
    "default-warning-resolved.json",
]


def fixture_notification(name: str) -> tuple[Notification, dict[str, Any], int]:
    """(notification, captured body, max_alerts) for a captured Alertmanager request."""
    body = load_fixture(name)["body"]
    extra = []
    if name == "critical-grouped-truncated.json":
        # Alertmanager dropped the third alert (max_alerts: 2); put it back so that
        # our truncation has something to cut. It sorts last (instance 10.0.0.3).
        third = json.loads(json.dumps(body["alerts"][1]))
        third["labels"]["instance"] = "10.0.0.3:8080"
        extra.append(third)
    max_alerts = 2 if name.startswith("critical") else 0
    return notification_from_body(body, extra=extra), body, max_alerts


def check_golden(name: str, data: bytes) -> None:
    """Compare with tests/data/golden/<name>; UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    assert data == path.read_bytes(), f"{name} differs; review and run with UPDATE_GOLDEN=1"


# --- sample notifications shared by the channel tests ----------------------------------

T0 = 1_795_560_171.0


def sample_alerts(count: int, *, ends: float | None = None, **annotations: str) -> list[Alert]:
    """`count` HighErrorRate alerts on distinct instances (critical, service checkout)."""
    return [
        make_alert({"alertname": "HighErrorRate", "instance": f"10.0.0.{i}:8080",
                    "severity": "critical", "service": "checkout"},
                   {"summary": f"5xx above 5% on 10.0.0.{i}", **annotations}, T0, ends, "", T0)
        for i in range(count)
    ]


def sample_notification(
    alerts: list[Alert], reason: NotifyReason = NotifyReason.FIRST
) -> Notification:
    return Notification("ops", '{}:{alertname="HighErrorRate"}', {"alertname": "HighErrorRate"},
                        tuple(sort_alerts(alerts)), reason, T0 + 60, "http://am:9093")
