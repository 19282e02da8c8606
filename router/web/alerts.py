"""The alert views of this project's own API: current alerts and one alert's decision trace.

`GET /api/v1/alerts` shows, per alert, the receivers and routes it reaches and the last
notification per channel (from the notification log); `GET /api/v1/alerts/{fp}/trace`
answers "where did my alert go?" from the trace recorder.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import InputError
from router.model import Alert, nflog_key
from router.timefmt import format_time
from router.web.keys import AppState
from router.web.keys import state_of as _state


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
