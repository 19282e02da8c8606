"""HTTP handlers: parse → call → respond, plus the one error middleware.

Every error answer is JSON `{"error", "detail"[, "path"]}`. A fault of ours is a 503 with
Retry-After, never a 500 or a 4xx: Alertmanager drops on 4xx and retries on 5xx.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router.app import STATE, AppState
from router.errors import InputError, StoreUnavailable
from router.ingest.formats import from_postable, from_webhook
from router.model import Alert, nflog_key
from router.storage import OutboxRow
from router.timefmt import format_time
from router.web.am_v2 import setup_v2_routes
from router.web.auth import check_auth

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = "5"


def error_response(status: int, error: str, detail: str, path: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, str] = {"error": error, "detail": detail}
    if path:
        body["path"] = path
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except InputError as exc:
        return error_response(exc.status, _ERRORS.get(exc.status, "invalid"), exc.message,
                              exc.path)
    except StoreUnavailable as exc:
        request.app[STATE].metrics.store_errors.inc()
        log.error("store unavailable", extra={"error": str(exc)})
        return error_response(503, "unavailable", "the alert store cannot take writes now",
                              headers={"Retry-After": RETRY_AFTER})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                              exc.text or exc.reason, headers=headers)
    except Exception:
        log.exception("request failed", extra={"path": request.path})
        return error_response(503, "internal", "internal error; retry later",
                              headers={"Retry-After": RETRY_AFTER})


_ERRORS = {400: "bad_json", 404: "not_found", 413: "too_large", 415: "unsupported_media_type",
           422: "invalid"}


def _state(request: web.Request) -> AppState:
    return request.app[STATE]


async def _read_json(request: web.Request) -> Any:
    check_auth(request)
    limit = _state(request).config.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise InputError(f"body larger than the {limit}-byte limit", status=413)
    # aiohttp reports a missing Content-Type as application/octet-stream: accept a body
    # sent without one (curl, scripts) and refuse only a declared non-JSON type.
    declared = "Content-Type" in request.headers
    if declared and request.content_type != "application/json":
        raise InputError(f"expected Content-Type application/json, got {request.content_type}",
                         status=415)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise InputError(f"body larger than the {limit}-byte limit", status=413) from None
    try:
        return json.loads(raw)
    except RecursionError:
        raise InputError("JSON nested too deeply", status=400) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"malformed JSON: {exc}", status=400) from None


async def _accept(request: web.Request, alerts: list[Alert], source: str) -> web.Response:
    accepted = await _state(request).ingestor.accept(alerts, source)
    return web.json_response({"status": "accepted", "alerts": len(alerts), "changed": accepted},
                             status=202)


async def post_alertmanager(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        alerts = from_webhook(await _read_json(request), state.clock.now())
    except InputError:
        state.metrics.alerts_invalid.labels("alertmanager").inc()
        raise
    return await _accept(request, alerts, "alertmanager")


async def post_v2_alerts(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        alerts = from_postable(await _read_json(request), state.clock.now(),
                               state.config.global_.resolve_timeout)
    except InputError:
        state.metrics.alerts_invalid.labels("api").inc()
        raise
    return await _accept(request, alerts, "api")


async def post_event(request: web.Request) -> web.Response:
    state = _state(request)
    name = request.match_info["source"]
    mapper = state.runtime.mappers.get(name)
    if mapper is None:
        check_auth(request)
        raise InputError(f"no source named {name!r} in the configuration", status=404)
    try:
        alerts = mapper.map(await _read_json(request), state.clock.now(),
                            state.config.global_.resolve_timeout)
    except InputError:
        state.metrics.alerts_invalid.labels("events").inc()
        raise
    return await _accept(request, alerts, "events")


def _alert_view(state: AppState, alert: Alert) -> dict[str, Any]:
    now = state.clock.now()
    receivers = []
    for route in state.dispatcher.router.match(alert.labels):
        receiver = state.runtime.receivers.get(route.receiver)
        groups = [g for g in state.dispatcher.routes_of(alert.fingerprint) if g.route is route]
        channels = []
        for kind, index, _cfg in receiver.channels() if receiver else []:
            last = None
            for group in groups:
                entry = state.delivery.nflog.get(nflog_key(group.key, route.receiver, kind,
                                                           index))
                if entry and alert.fingerprint in entry.firing | entry.resolved:
                    last = {"at": format_time(entry.sent_at),
                            "status": "firing" if alert.fingerprint in entry.firing
                            else "resolved"}
            channels.append({"channel": kind, "index": index, "lastNotification": last})
        receivers.append({"name": route.receiver, "route": route.key,
                          "groupKeys": [g.key for g in groups], "channels": channels})
    return {
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.status(now).value,
        "startsAt": format_time(alert.starts_at),
        "endsAt": format_time(alert.ends_at),
        "updatedAt": format_time(alert.updated_at),
        "generatorURL": alert.generator_url,
        "receivers": receivers,
    }


async def get_trace(request: web.Request) -> web.Response:
    """What the router did with one alert, and why (GET /api/v1/alerts/{fp}/trace)."""
    state = _state(request)
    fp = request.match_info["fingerprint"]
    events = await state.trace.events(fp)
    alert = state.ingestor.alerts.get(fp)
    if not events and alert is None:
        raise InputError(f"no alert or trace for fingerprint {fp!r}", "fingerprint", 404)
    return web.json_response({
        "fingerprint": fp,
        "alert": _alert_view(state, alert) if alert is not None else None,
        "events": [e.to_api() for e in events],
    })


async def get_alerts(request: web.Request) -> web.Response:
    state = _state(request)
    alerts = sorted(state.ingestor.alerts.values(), key=lambda a: a.fingerprint)
    return web.json_response([_alert_view(state, a) for a in alerts])


def _row_view(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id, "receiver": row.receiver, "channel": row.channel, "index": row.index,
        "groupKey": row.group_key, "state": row.state, "reason": row.reason,
        "attempts": row.attempts, "lastError": row.last_error,
        "createdAt": format_time(row.created_at),
        "nextAttemptAt": format_time(row.next_attempt_at),
    }


async def get_deliveries(request: web.Request) -> web.Response:
    state = _state(request)
    wanted = request.query.get("state", "pending")
    if wanted not in ("pending", "dead"):
        raise InputError('state must be "pending" or "dead"', "state", status=400)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise InputError("limit must be an integer", "limit", status=400) from None
    rows = await state.store.outbox_list(wanted, max(1, min(limit, 1000)))
    return web.json_response([_row_view(r) for r in rows])


async def retry_delivery(request: web.Request) -> web.Response:
    check_auth(request)
    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        raise InputError("delivery id must be an integer", "id", status=404) from None
    row = await _state(request).delivery.retry_dead(row_id)
    if row is None:
        raise InputError(f"no dead delivery with id {row_id}", "id", status=404)
    return web.json_response(_row_view(row), status=202)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(_state(request).metrics.registry)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    if not _state(request).ready:
        return error_response(503, "not_ready", "storage is not open or not restored yet")
    return web.Response(text="OK\n")


async def reload(request: web.Request) -> web.Response:
    try:
        await _state(request).reload()
    except Exception as exc:  # ConfigError or a template/channel that would not build
        log.error("reload refused; the running config stays", extra={"error": str(exc)})
        return error_response(400, "invalid_config", str(exc))
    return web.json_response({"status": "reloaded"})


def setup_routes(app: web.Application) -> None:
    app.middlewares.append(error_middleware)
    r = app.router
    r.add_post("/api/v1/alertmanager", post_alertmanager)
    r.add_post("/api/v2/alerts", post_v2_alerts)
    r.add_post("/api/v1/events/{source}", post_event)
    r.add_get("/api/v1/alerts", get_alerts)
    r.add_get("/api/v1/alerts/{fingerprint}/trace", get_trace)
    r.add_get("/api/v1/deliveries", get_deliveries)
    r.add_post("/api/v1/deliveries/{id}/retry", retry_delivery)
    r.add_get("/metrics", metrics)
    r.add_get("/-/healthy", healthy)
    r.add_get("/-/ready", ready)
    r.add_post("/-/reload", reload)
    setup_v2_routes(app)
