"""A loopback fake of OpsGenie's Alert API v2 that checks what OpsGenie checks.

`GenieKey` authorization (401 otherwise), JSON bodies, the field limits of the alert
fields documentation (message 130, alias 512, description 15,000, source 100, entity 512,
20 tags and 10 actions of 50 characters, details 8,000 characters, priority P1-P5,
responder types) answered with OpsGenie's 422 body. Creating is asynchronous (202 with a
requestId); an alias already open de-duplicates into that alert (its count grows), close
by alias closes it, and the PUT updates change message and description: `alerts` is the
state a responder would see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pytest_aiohttp import AiohttpServer

from .vendor_fake import Answer, Steps, VendorFake, respond, serve

API_KEY = "eb243592-faa2-4ba2-a551q-1afdf565c889"
LIMITS = {"message": 130, "alias": 512, "description": 15000, "source": 100, "entity": 512,
          "note": 25000}
TYPES = ("team", "user", "escalation", "schedule")


def _error(status: int, message: str, **errors: str) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "took": 0.001, "requestId": "req-error"}
    if errors:
        body["errors"] = errors
    return body


BODIES = {
    401: _error(401, "Could not authenticate"),
    403: _error(403, "You are not authorized for this operation"),
    404: _error(404, "Alert does not exist"),
    422: _error(422, "Request body is not processable. Please check the errors."),
    429: _error(429, "You are making too many requests! To avoid errors, we recommend you "
                "limit requests."),
    500: _error(500, "Internal Server Error"),
}


def check_create(body: Any) -> str | None:
    """Why OpsGenie would refuse this create body, or None."""
    if not isinstance(body, dict):
        return "body: must be a JSON object"
    if not str(body.get("message") or "").strip():
        return "message: Message can not be empty."
    for key, limit in LIMITS.items():
        if len(str(body.get(key) or "")) > limit:
            return f"{key}: must be at most {limit} characters"
    for key, most in (("tags", 20), ("actions", 10)):
        items = body.get(key) or []
        if len(items) > most or any(len(str(x)) > 50 for x in items):
            return f"{key}: at most {most} items of 50 characters"
    if "priority" in body and body["priority"] not in ("P1", "P2", "P3", "P4", "P5"):
        return "priority: Priority should be one of [P1, P2, P3, P4, P5]"
    details = body.get("details") or {}
    if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
        return "details: must be a map of strings"
    if sum(len(k) + len(v) for k, v in details.items()) > 8000:
        return "details: can not be longer than 8000 characters"
    for r in body.get("responders") or []:
        if r.get("type") not in TYPES or not (r.get("id") or r.get("name")
                                              or r.get("username")):
            return f"responders: invalid responder {r}"
    return None


@dataclass
class OpsgenieFake(VendorFake):
    api_key: str = API_KEY
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias -> alert
    failed_requests: list[str] = field(default_factory=list)  # async failures, by reason

    def __post_init__(self) -> None:
        self.bodies = BODIES

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/alerts", self.create)
        app.router.add_post("/v2/alerts/{identifier}/close", self.close)
        app.router.add_put("/v2/alerts/{identifier}/{field}", self.update)

    def _precheck(self, request: web.Request, body: bytes) -> tuple[Answer | None, Any]:
        if request.headers.get("Authorization") != f"GenieKey {self.api_key}":
            return (401, BODIES[401]), None
        failure = self.scripted()
        if failure is not None:
            return failure, None
        try:
            return None, json.loads(body)
        except ValueError:
            return (400, _error(400, "Could not parse the request body")), None

    def _accepted(self) -> web.Response:
        return respond((202, {"result": "Request will be processed", "took": 0.002,
                              "requestId": self.next_id("req-")}))

    async def create(self, request: web.Request) -> web.Response:
        answer, body = self._precheck(request, await self.record(request))
        if answer is not None:
            return respond(answer)
        problem = check_create(body)
        if problem is not None:
            field_name, _, reason = problem.partition(": ")
            return respond((422, _error(422, BODIES[422]["message"], **{field_name: reason})))
        alias = body.get("alias") or body["message"]
        open_alert = self.alerts.get(alias)
        if open_alert is not None and open_alert["status"] == "open":
            open_alert["count"] += 1  # de-duplicated: message and description unchanged
        else:
            self.alerts[alias] = {**body, "status": "open", "count": 1}
        return self._accepted()

    def _by_alias(self, request: web.Request) -> dict[str, Any] | None:
        # Without identifierType=alias OpsGenie takes the identifier for an alert id.
        alert = (self.alerts.get(request.match_info["identifier"])
                 if request.query.get("identifierType") == "alias" else None)
        if alert is None:
            self.failed_requests.append("Alert does not exist")
        return alert

    async def close(self, request: web.Request) -> web.Response:
        answer, body = self._precheck(request, await self.record(request))
        if answer is not None:
            return respond(answer)
        if not isinstance(body, dict) or len(str(body.get("source") or "")) > 100:
            return respond((422, _error(422, BODIES[422]["message"], source="invalid")))
        alert = self._by_alias(request)
        if alert is not None:
            alert["status"] = "closed"
        return self._accepted()  # asynchronous: an unknown alias fails later, not here

    async def update(self, request: web.Request) -> web.Response:
        answer, body = self._precheck(request, await self.record(request))
        if answer is not None:
            return respond(answer)
        name = request.match_info["field"]
        if name not in ("message", "description") or not isinstance(body, dict):
            return respond((404, _error(404, "Not found")))
        if not str(body.get(name) or "") or len(body[name]) > LIMITS[name]:
            return respond((422, _error(422, BODIES[422]["message"], **{name: "invalid"})))
        alert = self._by_alias(request)
        if alert is not None:
            alert[name] = body[name]
        return self._accepted()


async def start_opsgenie(aiohttp_server: AiohttpServer, script: Steps = ()
                         ) -> OpsgenieFake:
    fake = OpsgenieFake(script=list(script))
    await serve(aiohttp_server, fake)
    return fake
