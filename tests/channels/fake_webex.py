"""A loopback fake of Webex's `POST /v1/messages` that checks what Webex checks.

The bot token (Bearer), a known room, a markdown or text body and the 7,439-byte limit;
errors are Webex's JSON (`message`, `errors`, `trackingId`). Accepted messages are kept.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

TOKEN = "ZjE0YmIwYzRk-SECRET-webex-bot-token"
ROOM = "Y2lzY29zcGFyazovL3VzL1JPT00vb25jYWxs"
MAX_BYTES = 7439
# Script entries: a status (Webex's usual body for it) or (status, headers).
Script = list[int | tuple[int, dict[str, str]]]


def _error(message: str) -> dict[str, Any]:
    return {"message": message, "errors": [{"description": message}],
            "trackingId": "ROUTER_0123-4567"}


_BODIES = {
    400: "The request could not be understood by the server due to malformed syntax.",
    401: "The request requires a valid access token set in the Authorization request header.",
    403: "The bot is not a member of the room.",
    404: "Could not find a room with provided ID.",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class WebexFake:
    server: TestServer
    rooms: set[str] = field(default_factory=lambda: {ROOM})
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return str(self.server.make_url("/v1/messages"))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response(_error(_BODIES[401]), status=401)
        if self.script:
            item = self.script.pop(0)
            status, headers = (item, {}) if isinstance(item, int) else item
            if status != 200:
                return web.json_response(_error(_BODIES.get(status, "Error")), status=status,
                                         headers=headers)
        try:
            sent = json.loads(body)
        except ValueError:
            return web.json_response(_error(_BODIES[400]), status=400)
        return self._create(sent)

    def _create(self, sent: dict[str, Any]) -> web.Response:
        if sent.get("roomId") not in self.rooms:
            return web.json_response(_error(_BODIES[404]), status=404)
        markdown = sent.get("markdown") or sent.get("text")
        if not isinstance(markdown, str) or not markdown.strip():
            return web.json_response(_error("Message text, markdown or files are required."),
                                     status=400)
        if len(markdown.encode()) > MAX_BYTES:
            return web.json_response(
                _error(f"Message length exceeds the maximum of {MAX_BYTES} bytes."), status=400)
        message = {"id": f"Y2lzY29zcGFyazovL3VzL01FU1NBR0Uv{next(self._ids)}",
                   "roomId": sent["roomId"], "roomType": "group", "markdown": markdown,
                   "created": "2026-11-24T22:42:51.000Z"}
        self.messages.append(message)
        return web.json_response(message)


async def start_webex(aiohttp_server: AiohttpServer, script: Script | None = None) -> WebexFake:
    app = web.Application()
    fake = WebexFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post("/v1/messages", fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
