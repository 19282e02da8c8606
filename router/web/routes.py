"""The route table: every endpoint with its method, handler and access policy, in one place.

The policy is declared where the route is registered, so adding an endpoint means choosing
who may call it. `setup_routes` installs the middlewares (errors outermost, then auth) and
registers the table; a test walks `app.router.routes()` and fails on any route without a
policy, and the auth middleware refuses such a route at run time.
"""

from __future__ import annotations

from aiohttp import web

from router.web import (
    alerts,
    am_alerts,
    am_groups,
    am_v2,
    deliveries,
    ingest,
    openapi,
    ops,
    session,
    stream,
    ui,
    webpush,
)
from router.web.auth import auth_middleware
from router.web.errors import Handler, error_middleware
from router.web.keys import ROUTE_POLICIES, Policy
from router.web.webconfig import add_headers

PUBLIC, READ, WRITE = Policy.PUBLIC, Policy.READ, Policy.WRITE

ROUTES: tuple[tuple[str, str, Handler, Policy], ...] = (
    # ingest
    ("POST", "/api/v1/alertmanager", ingest.post_alertmanager, WRITE),
    ("POST", "/api/v2/alerts", ingest.post_v2_alerts, WRITE),
    ("POST", "/api/v1/events/{source}", ingest.post_event, WRITE),
    # this project's API
    ("GET", "/api/v1/alerts", alerts.get_alerts, READ),
    ("GET", "/api/v1/alerts/{fingerprint}/trace", alerts.get_trace, READ),
    ("GET", "/api/v1/deliveries", deliveries.get_deliveries, READ),
    ("POST", "/api/v1/deliveries/{id}/retry", deliveries.retry_delivery, WRITE),
    # the event log and the live stream (router/web/stream.py); browser sessions
    ("GET", "/api/v1/events", stream.get_events, READ),
    ("GET", "/api/v1/stream", stream.get_stream, READ),
    ("GET", "/api/v1/stream/ws", stream.get_stream_ws, READ),
    # Login checks the credentials itself: it is how a browser gets them.
    ("POST", "/api/v1/session", session.login, PUBLIC),
    ("DELETE", "/api/v1/session", session.logout, PUBLIC),
    # Web Push: the public key is public (the page needs it before any login)
    ("GET", "/api/v1/webpush/key", webpush.get_key, PUBLIC),
    ("POST", "/api/v1/webpush/subscriptions", webpush.post_subscription, WRITE),
    ("DELETE", "/api/v1/webpush/subscriptions", webpush.delete_subscription, WRITE),
    ("GET", "/sw.js", webpush.get_service_worker, PUBLIC),
    # Alertmanager API v2 (amtool, Karma)
    ("GET", "/api/v2/silences", am_v2.get_silences, READ),
    ("POST", "/api/v2/silences", am_v2.post_silence, WRITE),
    ("GET", "/api/v2/silence/{id}", am_v2.get_silence, READ),
    ("DELETE", "/api/v2/silence/{id}", am_v2.delete_silence, WRITE),
    ("GET", "/api/v2/alerts", am_alerts.get_alerts, READ),
    ("GET", "/api/v2/alerts/groups", am_groups.get_alert_groups, READ),  # Karma
    ("GET", "/api/v2/receivers", am_v2.get_receivers, READ),
    ("GET", "/api/v2/status", ops.get_status, READ),
    # the web UI (router/web/ui.py): the page shell is public, its data comes from the
    # read and write routes above (a browser without a session gets the login form)
    ("GET", "/", ui.index, PUBLIC),
    ("GET", "/static/{name}", ui.static, PUBLIC),
    # operations
    ("GET", "/metrics", ops.metrics, READ),
    ("GET", "/-/healthy", ops.healthy, PUBLIC),
    ("GET", "/-/ready", ops.ready, PUBLIC),
    ("POST", "/-/reload", ops.reload, WRITE),
    ("GET", "/api/v1/openapi.json", openapi.get_openapi, PUBLIC),
)


def add_route(app: web.Application, method: str, path: str, handler: Handler,
              policy: Policy) -> None:
    """Register one route (and HEAD for a GET) together with its access policy."""
    policies = app[ROUTE_POLICIES]
    for m in (method, "HEAD") if method == "GET" else (method,):
        policies[app.router.add_route(m, path, handler)] = policy


def setup_routes(app: web.Application) -> None:
    """Install the error and auth middlewares and every route of the table."""
    app.middlewares.append(error_middleware)
    app.middlewares.append(auth_middleware)
    app.on_response_prepare.append(add_headers)
    app[ROUTE_POLICIES] = {}
    ui.install(app)
    for method, path, handler, policy in ROUTES:
        add_route(app, method, path, handler, policy)
