"""A loopback fake of a Discord webhook that enforces Discord's message limits.

Checks the token in `/api/webhooks/{id}/{token}`, content/embeds limits (10 embeds, 25
fields, 256/4096/256/1024/2048 characters, 6,000 in all) and answers 204, or 429 with
Discord's JSON `retry_after` (float seconds) and a whole-second `Retry-After` header.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

WEBHOOK_ID = "1187654321098765432"
TOKEN = "SECRET-discord-webhook-token-xyz"
# Script entries: a status (Discord's usual body) or (status, headers, body).
Script = list[int | tuple[int, dict[str, str], Any]]

_BODIES: dict[int, Any] = {
    401: {"message": "Invalid Webhook Token", "code": 50027},
    404: {"message": "Unknown Webhook", "code": 10015},
    429: {"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
}


def problems(body: Any) -> list[str]:
    """Discord's checks of a webhook message (developer docs, "Embed Limits")."""
    if not isinstance(body, dict):
        return ["body is not an object"]
    embeds = body.get("embeds") or []
    if not body.get("content") and not embeds:
        return ["Cannot send an empty message"]
    out = []
    if len(body.get("content") or "") > 2000:
        out.append("content: Must be 2000 or fewer in length.")
    if len(embeds) > 10:
        out.append("embeds: Must be 10 or fewer in length.")
    total = 0
    for i, e in enumerate(embeds):
        fields = e.get("fields") or []
        texts = [("title", e.get("title") or "", 256),
                 ("description", e.get("description") or "", 4096),
                 ("footer.text", (e.get("footer") or {}).get("text") or "", 2048)]
        texts += [(f"fields.{j}.name", f["name"], 256) for j, f in enumerate(fields)]
        texts += [(f"fields.{j}.value", f["value"], 1024) for j, f in enumerate(fields)]
        if len(fields) > 25:
            out.append(f"embeds.{i}.fields: Must be 25 or fewer in length.")
        for name, text, limit in texts:
            total += len(text)
            if len(text) > limit:
                out.append(f"embeds.{i}.{name}: Must be {limit} or fewer in length.")
            if name.startswith("fields") and not text:
                out.append(f"embeds.{i}.{name}: This field is required")
    if total > 6000:
        out.append("embeds: Embed size exceeds maximum size of 6000")
    return out


@dataclass
class DiscordFake:
    server: TestServer
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url(f"/api/webhooks/{WEBHOOK_ID}/{TOKEN}"))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if (request.match_info["id"], request.match_info["token"]) != (WEBHOOK_ID, TOKEN):
            return web.json_response(_BODIES[401], status=401)
        if self.script:
            item = self.script.pop(0)
            status, headers, answer = (item, {}, None) if isinstance(item, int) else item
            if status == 429 and not headers:
                headers = {"Retry-After": "2", "X-RateLimit-Scope": "user"}
            return web.json_response(answer or _BODIES.get(status, {"message": "error"}),
                                     status=status, headers=headers)
        sent = json.loads(body)
        found = problems(sent)
        if found:
            return web.json_response({"code": 50035, "message": "Invalid Form Body",
                                      "errors": found}, status=400)
        self.messages.append(sent)
        if request.query.get("wait") == "true":
            return web.json_response({"id": str(len(self.messages)), **sent})
        return web.Response(status=204)


async def start_discord(aiohttp_server: AiohttpServer, script: Script | None = None
                        ) -> DiscordFake:
    app = web.Application()
    fake = DiscordFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post("/api/webhooks/{id}/{token}", fake.handle)
    # No access log: it would print the request path, and the token in it, into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
