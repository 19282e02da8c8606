"""The alert views of this project's own API: current alerts and one alert's decision trace.

`GET /api/v1/alerts` shows, per alert, the receivers and routes it reaches and the last
notification per channel (from the notification log); `GET /api/v1/alerts/{fp}/trace`
answers "where did my alert go?" from the trace recorder, with the newest notification
event (queued, sent, failed, dead) of each channel that covered the alert.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aiohttp import web

from router.events.model import Event
from router.logs import RepeatLog
from router.model import Alert, nflog_key
from router.timefmt import format_time
from router.web.errors import RequestError
from router.web.keys import CLOCK, DISPATCHER, INGESTOR, NFLOG, RUNTIME, STORE, TRACE

log = logging.getLogger(__name__)
_unshown = RepeatLog(log, time.monotonic)
T = TypeVar("T")


def each_shown(items: Iterable[T], view: Callable[[T], Any]) -> list[Any]:
    """`view` of every alert (or silence) that can be shown. One that cannot (a value an
    older version accepted) is left out and logged: it must not fail the whole listing."""
    out = []
    for item in items:
        try:
            out.append(view(item))
        except Exception as exc:
            _unshown.failure("left out of a listing: it cannot be shown", exc,
                             item=getattr(item, "fingerprint", None) or getattr(item, "id", ""))
    return out


def _alert_view(app: web.Application, alert: Alert) -> dict[str, Any]:
    now = app[CLOCK].now()
    receivers = []
    routes = app[DISPATCHER].router.match(alert.labels)
    for route in routes:
        receiver = app[RUNTIME].current.receivers.get(route.receiver)
        groups = [g for g in app[DISPATCHER].routes_of(alert.fingerprint) if g.route is route]
        channels = []
        for kind, index, _cfg in receiver.channels() if receiver else []:
            last = None
            for group in groups:
                entry = app[NFLOG].get(nflog_key(group.key, route.receiver, kind,
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
        # Time intervals muting its routes now (Alertmanager 0.25's /api/v2/alerts, which
        # the UI reads for silences and inhibition, does not show these).
        "mutedBy": list(app[RUNTIME].current.muter.alert(alert, now, routes).muted_by),
    }


def _notification_view(fp: str, event: Event) -> dict[str, Any]:
    data = event.data
    view = {"receiver": data.get("receiver", ""), "channel": data.get("channel", ""),
            "event": event.type.removeprefix("notification."), "at": format_time(event.at),
            "status": "firing" if fp in data.get("firing", ()) else "resolved",
            "reason": data.get("reason", "")}
    view.update({k: data[k] for k in ("error", "attempt", "attempts", "retryIn") if k in data})
    return view


async def get_trace(request: web.Request) -> web.Response:
    """What the router did with one alert, and why (GET /api/v1/alerts/{fp}/trace), and
    the newest notification event of each receiver channel that covered it."""
    app = request.app
    fp = request.match_info["fingerprint"]
    events = await app[TRACE].events(fp)
    alert = app[INGESTOR].alerts.get(fp)
    notifications = await app[STORE].last_notifications(fp)
    if not events and alert is None and not notifications:
        raise RequestError(f"no alert or trace for fingerprint {fp!r}", "fingerprint", 404)
    return web.json_response({
        "fingerprint": fp,
        "alert": next(iter(each_shown([alert], lambda a: _alert_view(app, a))), None)
        if alert is not None else None,
        "events": [e.to_api() for e in events],
        "notifications": [_notification_view(fp, e) for e in notifications],
    })


async def get_alerts(request: web.Request) -> web.Response:
    app = request.app
    alerts = sorted(app[INGESTOR].alerts.values(), key=lambda a: a.fingerprint)
    return web.json_response(each_shown(alerts, lambda a: _alert_view(app, a)))
