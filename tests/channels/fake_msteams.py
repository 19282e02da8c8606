"""A loopback fake of a legacy Office 365 connector webhook (Teams "Incoming Webhook").

As the connector does: it answers 200 with the body `1` once it posted the card; 400 with
"Summary or Text is required." for a card without either; 413 over 28 KB; and, when Teams
throttles, 200 with "Webhook message delivery failed with error: Microsoft Teams endpoint
returned HTTP error 429 ..." (the quirk a channel must not take for success).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

TOKEN = "SECRETconnector0b1c2d3e"
PATH = f"/webhookb2/5f0e@72f9/IncomingWebhook/{TOKEN}/9d8c"
MAX_BYTES = 28 * 1024
THROTTLED = ("Webhook message delivery failed with error: Microsoft Teams endpoint returned "
             "HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,"
             "cv=deadbeef.0")
_HEX = re.compile(r"^[0-9A-Fa-f]{6}$")


def problems(card: Any) -> list[str]:
    """What the connector refuses (400) in a MessageCard."""
    if not isinstance(card, dict):
        return ["Bad payload received by generic incoming webhook."]
    out = []
    if card.get("@type", card.get("type")) != "MessageCard":
        out.append("Bad payload received by generic incoming webhook.")
    if not card.get("summary") and not card.get("text"):
        out.append("Summary or Text is required.")
    color = card.get("themeColor")
    if color is not None and not _HEX.match(str(color)):
        out.append("themeColor must be a hex colour.")
    return out


@dataclass
class ConnectorFake:
    server: TestServer
    # Next answers: a status, or "throttled" (200 with the delivery-failed body).
    script: list[int | str] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url(PATH))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if request.match_info["token"] != TOKEN:
            return web.Response(status=404, text="Connector configuration not found")
        item = self.script.pop(0) if self.script else 0
        if item == "throttled":
            return web.Response(status=200, text=THROTTLED)
        if isinstance(item, int) and item:
            return web.Response(status=item, text=f"scripted {item}")
        if len(body) > MAX_BYTES:
            return web.Response(status=413, text="Payload too large")
        try:
            card = json.loads(body)
        except ValueError:
            return web.Response(status=400, text="Bad payload received by generic incoming "
                                                 "webhook.")
        found = problems(card)
        if found:
            return web.Response(status=400, text=" ".join(found))
        self.cards.append(card)
        return web.Response(status=200, text="1")


async def start_connector(aiohttp_server: AiohttpServer,
                          script: list[int | str] | None = None) -> ConnectorFake:
    fake = ConnectorFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_post("/webhookb2/{tenant}/IncomingWebhook/{token}/{owner}", fake.handle)
    # No access log: it would print the path, and the token in it, into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
