"""A loopback fake of VictorOps' (Splunk On-Call) generic REST endpoint.

`POST /integrations/generic/20131114/alert/<api_key>/<routing_key>` with a JSON object
whose `message_type` is one of INFO, WARNING, ACKNOWLEDGEMENT, CRITICAL, RECOVERY (any
case; "Missing fields: message_type" otherwise), `state_message` within 20,480
characters. An unknown API key is refused. Incidents are kept per routing key and
`entity_id`, as VictorOps rolls alerts up: CRITICAL triggers, RECOVERY resolves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .vendor_fake import Steps, VendorFake, respond, serve

API_KEY = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
PATH = "/integrations/generic/20131114/alert"
TYPES = ("INFO", "WARNING", "ACKNOWLEDGEMENT", "CRITICAL", "RECOVERY")
BODIES = {
    400: {"result": "failure", "message": "Missing fields: message_type"},
    404: {"result": "failure", "message": "Could not find integration for the given key"},
    429: {"result": "failure", "message": "Too many requests"},
    500: {"result": "failure", "message": "Internal error"},
}


@dataclass
class VictoropsFake(VendorFake):
    api_key: str = API_KEY
    # (routing_key, entity_id) -> incident: its state and the last event's fields
    incidents: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bodies = BODIES

    def routes(self, app: web.Application) -> None:
        app.router.add_post(PATH + "/{api_key}/{routing_key}", self.alert)

    async def alert(self, request: web.Request) -> web.Response:
        body = await self.record(request)
        if request.match_info["api_key"] != self.api_key:
            return respond((404, BODIES[404]))
        failure = self.scripted()
        if failure is not None:
            return respond(failure)
        try:
            event = json.loads(body)
        except ValueError:
            return respond((400, {"result": "failure", "message": "Could not parse JSON"}))
        if not isinstance(event, dict) or str(event.get("message_type", "")).upper() not in TYPES:
            return respond((400, BODIES[400]))
        if len(str(event.get("state_message", ""))) > 20480:
            return respond((400, {"result": "failure", "message": "state_message too long"}))
        entity = str(event.get("entity_id") or self.next_id("entity-"))
        kind = event["message_type"].upper()
        key = (request.match_info["routing_key"], entity)
        incident = self.incidents.setdefault(key, {"state": "none", "events": 0})
        incident["events"] += 1
        incident.update(event)
        if kind == "CRITICAL":
            incident["state"] = "triggered"
        elif kind == "ACKNOWLEDGEMENT" and incident["state"] == "triggered":
            incident["state"] = "acknowledged"
        elif kind == "RECOVERY":
            incident["state"] = "resolved"
        return respond((200, {"result": "success", "entity_id": entity}))


async def start_victorops(aiohttp_server: AiohttpServer, script: Steps = ()
                          ) -> VictoropsFake:
    fake = VictoropsFake(script=list(script))
    await serve(aiohttp_server, fake)
    return fake
