"""A stateful loopback fake of an incident.io Alertmanager alert source.

`POST /v2/alert_events/alertmanager/{alert_source_config_id}` with `Authorization: Bearer
<token>`: 401 without the source's token, 404 for an unknown source, 422 (incident.io's
`validation_error` shape) for a body that is not Alertmanager's message, 429 over 512 KB;
otherwise 202 and the group's alerts are kept by `groupKey` and fingerprint, firing or
resolved, as incident.io turns them into one alert per group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

SOURCE_ID = "01HSECRETSOURCE0000000001"
TOKEN = "inc_SECRETsourceToken1234567890"
MAX_BYTES = 512 * 1024


def _invalid(field_name: str, message: str) -> web.Response:
    return web.json_response({"type": "validation_error", "status": 422,
                              "request_id": "r-1", "errors": [{
                                  "code": "is_invalid", "message": message,
                                  "source": {"field": field_name}}]}, status=422)


def problems(body: Any) -> tuple[str, str] | None:
    """The first field incident.io's Alertmanager source refuses, and why."""
    if not isinstance(body, dict):
        return "body", "must be a JSON object"
    if body.get("version") not in ("1", "4"):
        return "version", "must be an Alertmanager message version"
    if not isinstance(body.get("groupKey"), str) or not body["groupKey"]:
        return "groupKey", "is required"
    if body.get("status") not in ("firing", "resolved"):
        return "status", "must be one of firing, resolved"
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        return "alerts", "must have at least one alert"
    for i, a in enumerate(alerts):
        if not isinstance(a, dict) or a.get("status") not in ("firing", "resolved") \
                or not isinstance(a.get("labels"), dict) or not a.get("fingerprint"):
            return f"alerts[{i}]", "must have status, labels and fingerprint"
    return None


@dataclass
class IncidentioFake:
    server: TestServer
    script: list[int] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    # groupKey -> fingerprint -> status; and the groups' last status
    alerts: dict[str, dict[str, str]] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.server.make_url(f"/v2/alert_events/alertmanager/{SOURCE_ID}"))

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"type": "authentication_error", "status": 401,
                                      "errors": [{"code": "authentication_error",
                                                  "message": "Invalid API key"}]}, status=401)
        if request.match_info["source"] != SOURCE_ID:
            return web.json_response({"type": "not_found", "status": 404, "errors": [
                {"code": "not_found", "message": "Alert source not found"}]}, status=404)
        if self.script:
            status = self.script.pop(0)
            return web.json_response({"type": "error", "status": status, "errors": [
                {"code": "scripted", "message": f"scripted {status}"}]}, status=status)
        if len(body) > MAX_BYTES:
            return web.json_response({"type": "too_large", "status": 429, "errors": [
                {"code": "payload_too_large", "message": "Payload exceeds 512KB"}]},
                status=429)
        try:
            sent = json.loads(body)
        except ValueError:
            return _invalid("body", "must be valid JSON")
        found = problems(sent)
        if found is not None:
            return _invalid(*found)
        group = self.alerts.setdefault(sent["groupKey"], {})
        for a in sent["alerts"]:
            group[a["fingerprint"]] = a["status"]
        self.groups[sent["groupKey"]] = sent["status"]
        return web.json_response({"status": "success", "message": "Event accepted for "
                                  "processing", "deduplication_key": sent["groupKey"]},
                                 status=202)


async def start_incidentio(aiohttp_server: AiohttpServer,
                           script: list[int] | None = None) -> IncidentioFake:
    fake = IncidentioFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_post("/v2/alert_events/alertmanager/{source}", fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
