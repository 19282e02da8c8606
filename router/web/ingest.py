"""Ingest endpoints: Alertmanager webhooks, API v2 postable alerts and mapped JSON events.

Each handler parses → validates → hands the alerts to the ingestor, and answers only once
they are durably committed: 202 for webhooks and events, 200 for `POST /api/v2/alerts`
(Alertmanager's code there: amtool's client treats any other 2xx as an error).
Credentials are checked by the auth middleware (policy `write`) before any of this runs,
so an unauthenticated body is never read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import InputError
from router.ingest.formats import from_postable, from_webhook
from router.model import Alert
from router.web import jsonbody
from router.web.errors import RequestError
from router.web.keys import CLOCK, INGESTOR, METRICS, RUNTIME


async def read_json(request: web.Request) -> Any:
    """The body as JSON within server.max_body_bytes (413), declared JSON or untyped (415)."""
    limit = request.app[RUNTIME].current.config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise RequestError(f"body larger than the {limit}-byte limit", status=413)
    # aiohttp reports a missing Content-Type as application/octet-stream: accept a body
    # sent without one (curl, scripts) and refuse only a declared non-JSON type.
    declared = "Content-Type" in request.headers
    if declared and request.content_type != "application/json":
        raise RequestError(f"expected Content-Type application/json, got {request.content_type}",
                         status=415)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError(f"body larger than the {limit}-byte limit", status=413) from None
    return jsonbody.loads(raw)


async def _accept(request: web.Request, alerts: list[Alert], source: str,
                  status: int = 202) -> web.Response:
    accepted = await request.app[INGESTOR].accept(alerts, source)
    return web.json_response({"status": "accepted", "alerts": len(alerts), "changed": accepted},
                             status=status)


async def post_alertmanager(request: web.Request) -> web.Response:
    app = request.app
    try:
        alerts = from_webhook(await read_json(request), app[CLOCK].now(),
                              app[RUNTIME].current.config.alertmanager_source.webhook_alert_timeout)
    except InputError:
        app[METRICS].alerts_invalid.labels("alertmanager").inc()
        raise
    return await _accept(request, alerts, "alertmanager")


async def post_v2_alerts(request: web.Request) -> web.Response:
    app = request.app
    try:
        alerts = from_postable(await read_json(request), app[CLOCK].now(),
                               app[RUNTIME].current.config.global_.resolve_timeout)
    except InputError:
        app[METRICS].alerts_invalid.labels("api").inc()
        raise
    return await _accept(request, alerts, "api", status=200)


async def post_event(request: web.Request) -> web.Response:
    app = request.app
    name = request.match_info["source"]
    mapper = app[RUNTIME].current.mappers.get(name)
    if mapper is None:
        raise RequestError(f"no source named {name!r} in the configuration", status=404)
    try:
        alerts = mapper.map(await read_json(request), app[CLOCK].now(),
                            app[RUNTIME].current.config.global_.resolve_timeout)
    except InputError:
        app[METRICS].alerts_invalid.labels("events").inc()
        raise
    return await _accept(request, alerts, "events")
