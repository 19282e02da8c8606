"""A loopback fake of Rocket.Chat's `POST /api/v1/chat.postMessage`, checking what the
server checks: the bot's `X-Auth-Token` / `X-User-Id`, a known channel, the attachment's
shape (fields need `title` and `value`, actions are buttons) and its rate limiter (429
with `X-RateLimit-Reset` in epoch milliseconds).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

TOKEN = "rc-auth-token-SECRET-9HqLlyZOugo"
USER_ID = "rc-user-id-SECRET-aobEdbYhXfu"
CHANNELS = frozenset({"#ops", "@oncall", "GENERAL"})
# Script entries: an HTTP status, or a dict answered with HTTP 200.
Script = list[int | dict[str, Any]]


def _fail(error: str, error_type: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"success": False, "error": error}
    if error_type:
        out["errorType"] = error_type
    return out


@dataclass
class RocketchatFake:
    server: TestServer
    now: Callable[[], float]
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/"))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if (request.headers.get("X-Auth-Token"), request.headers.get("X-User-Id")) != (
                TOKEN, USER_ID):
            return web.json_response({"status": "error",
                                      "message": "You must be logged in to do this."},
                                     status=401)
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, dict):
                return web.json_response(item)
            if item == 429:
                reset = str(int((self.now() + 22) * 1000))
                return web.json_response(
                    _fail("Error, too many requests. Please slow down. You must wait 22 "
                          "seconds before trying this endpoint again. "
                          "[error-too-many-requests]", "error-too-many-requests"),
                    status=429, headers={"X-RateLimit-Limit": "10",
                                         "X-RateLimit-Remaining": "0",
                                         "X-RateLimit-Reset": reset})
            if item != 200:
                return web.json_response(_fail("Internal server error"), status=item)
        return self._post(json.loads(body))

    def _post(self, sent: dict[str, Any]) -> web.Response:
        channel = sent.get("channel") or sent.get("roomId")
        if channel not in CHANNELS:
            return web.json_response(_fail("[invalid-channel]", "invalid-channel"), status=400)
        for attachment in sent.get("attachments", []):
            problem = _check(attachment)
            if problem:
                return web.json_response(_fail(f"Match error: {problem}"), status=400)
        message = {"_id": f"msg{next(self._ids)}", "rid": "GENERAL", "msg": "",
                   "attachments": sent.get("attachments", [])}
        self.messages.append({**sent, "_id": message["_id"]})
        return web.json_response({"ts": 1795560171000, "channel": channel,
                                  "message": message, "success": True})


def _check(attachment: dict[str, Any]) -> str:
    for f in attachment.get("fields", []):
        for key in ("title", "value"):
            if not isinstance(f.get(key), str):
                return f"Missing key '{key}' in field attachments.fields"
    for a in attachment.get("actions", []):
        if a.get("type") != "button":
            return "Expected type 'button' in field attachments.actions"
    return ""


async def start_rocketchat(aiohttp_server: AiohttpServer, now: Callable[[], float],
                           script: Script | None = None) -> RocketchatFake:
    app = web.Application()
    fake = RocketchatFake(server=None, now=now,  # type: ignore[arg-type]
                          script=list(script or []))
    app.router.add_post("/api/v1/chat.postMessage", fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
