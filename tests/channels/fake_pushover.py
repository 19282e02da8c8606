"""A loopback fake of Pushover's messages and receipts API that checks what Pushover checks.

Form (or JSON) parameters; `token` and `user` must be known (400 with `"token": "invalid"`
or `"user": "invalid"` otherwise); `message` is required; title 250, message 1,024, url 512
and url_title 100 characters; priority -2..2, an emergency (2) needs `retry` of at least 30
and `expire` of at most 10,800 seconds and gets a receipt; html and monospace exclude each
other. Receipts can be cancelled (`POST /1/receipts/<receipt>/cancel.json`): `receipts` is
what makes a phone keep ringing.
"""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .vendor_fake import Answer, Steps, VendorFake, respond, serve

TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"  # 30 characters, like Pushover's
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
LIMITS = {"title": 250, "message": 1024, "url": 512, "url_title": 100}


def _failure(errors: str, **fields: str) -> dict[str, Any]:
    return {**fields, "errors": [errors], "status": 0, "request": "5042853c-402d-4a18"}


BODIES = {
    400: _failure("message cannot be blank", message="cannot be blank"),
    429: _failure("application has exceeded its monthly message limit"),
    500: _failure("internal error"),
}


def check(params: dict[str, str]) -> str | None:
    """Why Pushover would refuse these message parameters, or None."""
    if not params.get("message", "").strip():
        return "message cannot be blank"
    for key, limit in LIMITS.items():
        if len(params.get(key, "")) > limit:
            return f"{key} is too long (maximum {limit} characters)"
    priority = params.get("priority", "0")
    if priority not in ("-2", "-1", "0", "1", "2"):
        return "priority is invalid"
    if priority == "2":
        if not params.get("retry", "").isdigit() or int(params["retry"]) < 30:
            return "retry is invalid (minimum 30 seconds)"
        if not params.get("expire", "").isdigit() or int(params["expire"]) > 10800:
            return "expire is invalid (maximum 10800 seconds)"
    if params.get("html") == "1" and params.get("monospace") == "1":
        return "html and monospace are exclusive"
    return None


@dataclass
class PushoverFake(VendorFake):
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    users: set[str] = field(default_factory=lambda: {USER})
    messages: list[dict[str, str]] = field(default_factory=list)  # accepted parameters
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bodies = BODIES

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/1/messages.json", self.message)
        app.router.add_post("/1/receipts/{receipt}/cancel.json", self.cancel)

    async def _params(self, request: web.Request) -> tuple[Answer | None, dict[str, str]]:
        body = await self.record(request)
        if request.content_type == "application/json":
            params = {k: str(v) for k, v in json.loads(body).items()}
        else:
            params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        if params.get("token") not in self.tokens:
            return (400, _failure("application token is invalid", token="invalid")), params
        failure = self.scripted()
        return failure, params

    async def message(self, request: web.Request) -> web.Response:
        answer, params = await self._params(request)
        if answer is not None:
            return respond(answer)
        if params.get("user") not in self.users:
            return respond((400, _failure("user identifier is not a valid user, group, or "
                                          "subscribed user key", user="invalid")))
        problem = check(params)
        if problem is not None:
            return respond((400, _failure(problem)))
        self.messages.append(params)
        out: dict[str, Any] = {"status": 1, "request": self.next_id("req-")}
        if params.get("priority") == "2":
            out["receipt"] = receipt = self.next_id("r")
            self.receipts[receipt] = {"cancelled": False, "params": params}
        return respond((200, out))

    async def cancel(self, request: web.Request) -> web.Response:
        answer, _ = await self._params(request)
        if answer is not None:
            return respond(answer)
        receipt = self.receipts.get(request.match_info["receipt"])
        if receipt is None:
            return respond((404, _failure("receipt not found; may be invalid or expired",
                                          receipt="not found")))
        receipt["cancelled"] = True
        return respond((200, {"status": 1, "request": self.next_id("req-")}))


async def start_pushover(aiohttp_server: AiohttpServer, script: Steps = ()
                         ) -> PushoverFake:
    fake = PushoverFake(script=list(script))
    await serve(aiohttp_server, fake)
    return fake
