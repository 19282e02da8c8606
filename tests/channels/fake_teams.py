"""A loopback fake of a Teams Workflows (Power Automate) webhook.

Checks the `sig` query parameter, the 28 KB body limit and the Adaptive Card envelope,
and answers 202 Accepted as Workflows does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

SIG = "SECRET-teams-signature-0123456789"
PATH = "/workflows/5f0e/triggers/manual/paths/invoke"
MAX_BYTES = 28 * 1024
# Script entries: a status or (status, headers, body).
Script = list[int | tuple[int, dict[str, str], Any]]


def problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["body must be a message"]
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments are required"]
    out = []
    for a in attachments:
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            out.append("attachment is not an Adaptive Card")
            continue
        card = a.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("version"):
            out.append("content is not an AdaptiveCard with a version")
        if not isinstance(card.get("body"), list):
            out.append("card body must be a list")
    return out


@dataclass
class TeamsFake:
    server: TestServer
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url(PATH).with_query(
            {"api-version": "1", "sp": "/triggers/manual/run", "sv": "1.0", "sig": SIG}))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if request.query.get("sig") != SIG:
            return web.json_response({"error": {"code": "DirectApiAuthorizationRequired",
                                                "message": "The request must be signed."}},
                                     status=401)
        if self.script:
            item = self.script.pop(0)
            status, headers, answer = (item, {}, None) if isinstance(item, int) else item
            return web.json_response(answer or {"error": {"code": str(status)}},
                                     status=status, headers=headers)
        if len(body) > MAX_BYTES:
            return web.json_response({"error": {"code": "RequestEntityTooLarge"}}, status=413)
        sent = json.loads(body)
        found = problems(sent)
        if found:
            return web.json_response({"error": {"code": "InvalidRequestContent",
                                                "message": "; ".join(found)}}, status=400)
        self.cards.append(sent["attachments"][0]["content"])
        return web.Response(status=202)


async def start_teams(aiohttp_server: AiohttpServer, script: Script | None = None) -> TeamsFake:
    app = web.Application()
    fake = TeamsFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post(PATH, fake.handle)
    # No access log: it would print the query string, and the signature in it, into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
