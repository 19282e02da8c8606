"""Alertmanager 0.25's `GET /api/v2/alerts`, answer for answer: what amtool's `alert query`
and other Alertmanager clients read.

Semantics of 0.25's `getAlertsHandler`: every alert not yet ended, in fingerprint order;
each lists the receiver of every route it matches, in route order and repeated when two
routes share one; a `receiver` regex keeps an alert if any of them matches; the state counts
silences and inhibition only (0.25 shows no time-interval muting); booleans are go-swagger's
and bad parameters a 400 with a JSON string. Shapes and query parsing are shared with
`/api/v2/alerts/groups` (router/web/am_groups.py). Compared with a real Alertmanager in
tests/e2e/test_alerts_vs_alertmanager.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.model import Alert
from router.web.alerts import each_shown
from router.web.am_groups import GroupQuery, gettable_alert, passes, query_or_error
from router.web.keys import CLOCK, DISPATCHER, INGESTOR, RUNTIME


def _view(app: web.Application, query: GroupQuery, alert: Alert, now: float
          ) -> dict[str, Any] | None:
    routes = app[DISPATCHER].router.match(alert.labels)
    receivers = [route.receiver for route in routes]
    if query.receiver is not None and not any(query.receiver.fullmatch(r) for r in receivers):
        return None
    mute = app[RUNTIME].current.muter.alert(alert, now, routes)
    if not passes(query, alert, mute):
        return None
    return gettable_alert(alert, mute, receivers, now)


async def get_alerts(request: web.Request) -> web.Response:
    query = query_or_error(request)
    if isinstance(query, web.Response):
        return query
    app = request.app
    now = app[CLOCK].now()
    # Alertmanager: an alert whose endsAt is before now is resolved and not listed.
    live = sorted((a for a in app[INGESTOR].alerts.values()
                   if a.ends_at is None or a.ends_at >= now), key=lambda a: a.fingerprint)
    views = each_shown(live, lambda a: _view(app, query, a, now))
    return web.json_response([v for v in views if v is not None])
