"""A loopback fake of PagerDuty's Events API v2 that validates events as PagerDuty does.

It keeps the incidents it opened (per routing key and dedup_key), so tests can assert what
an on-call engineer would see: how many pages, which ones are still open.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

PATH = "/v2/enqueue"
SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
# Script entries: a status (PagerDuty's usual body) or (status, headers, body).
Script = list[int | tuple[int, dict[str, str], Any]]

_BODIES: dict[int, Any] = {
    429: {"status": "throttle event", "message": "Requests for this service are arriving "
                                                 "too quickly. Please retry later."},
    500: "Internal Server Error",
}


def validate(event: Any) -> list[str]:
    """PagerDuty's own checks (developer.pagerduty.com, Events API v2 "Send an event")."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or len(event["routing_key"]) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of the following: "
                      "'trigger', 'acknowledge' or 'resolve')")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is required for acknowledge and resolve events")
    if action == "trigger":
        errors += _check_payload(event.get("payload"))
    errors += [f"'{name}' entries need '{need}'" for name, need in (("links", "href"),
               ("images", "src")) if any(not x.get(need) for x in event.get(name) or [])]
    return errors


def _check_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' is missing or not an object"]
    errors = []
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        errors.append("'payload.summary' is missing or blank")
    elif len(summary) > 1024:
        errors.append("'payload.summary' is too long (maximum 1024 characters)")
    if not payload.get("source"):
        errors.append("'payload.source' is missing or blank")
    if payload.get("severity") not in SEVERITIES:
        errors.append("'payload.severity' is invalid (must be one of the following: "
                      "'critical', 'warning', 'error' or 'info')")
    return errors


@dataclass
class PagerDutyFake:
    server: TestServer
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    # (routing_key, dedup_key) -> "triggered" | "resolved"
    incidents: dict[tuple[str, str], str] = field(default_factory=dict)
    pages: int = 0  # incidents opened (a trigger on a key with no open incident)
    # While cleared, answers wait after the event took effect (a reply lost to a crash).
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: Callable[[], int] = field(default_factory=lambda: itertools.count(1).__next__)

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        return str(self.server.make_url(PATH))

    def events(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        response = await self._answer(request)
        self.arrived.set()
        await self.gate.wait()
        return response

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if self.script:
            item = self.script.pop(0)
            status, headers, answer = (item, {}, None) if isinstance(item, int) else item
            if status != 202:
                answer = _BODIES.get(status, "error") if answer is None else answer
                if isinstance(answer, dict):
                    return web.json_response(answer, status=status, headers=headers)
                return web.Response(status=status, headers=headers, text=str(answer))
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        errors = validate(event)
        if errors:
            return web.json_response({"status": "invalid event",
                                      "message": "Event object is invalid",
                                      "errors": errors}, status=400)
        return web.json_response({"status": "success", "message": "Event processed",
                                  "dedup_key": self._apply(event)}, status=202)

    def _apply(self, event: dict[str, Any]) -> str:
        key = event.get("dedup_key") or f"generated-{self._ids()}"
        incident = (event["routing_key"], key)
        state = self.incidents.get(incident)
        if event["event_action"] == "trigger" and state != "triggered":
            self.incidents[incident] = "triggered"
            self.pages += 1
        elif event["event_action"] == "resolve" and state == "triggered":
            self.incidents[incident] = "resolved"
        return str(key)


async def start_pagerduty(aiohttp_server: AiohttpServer, script: Script | None = None
                          ) -> PagerDutyFake:
    app = web.Application()
    fake = PagerDutyFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post(PATH, fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
