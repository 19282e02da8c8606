"""Typed application keys: the one place that names what a handler may read from the app.

`STATE` (the composition root's `AppState`, defined in router/app.py) is re-exported here so
web modules import their keys from one module; `ROUTE_POLICIES` maps every registered route
to its access policy (router/web/auth.py reads it, router/web/routes.py fills it).
"""

from __future__ import annotations

from enum import StrEnum

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from router.app import STATE, AppState

__all__ = ["ROUTE_POLICIES", "STATE", "AppState", "Policy", "state_of"]


class Policy(StrEnum):
    """Who may call a route when `server.auth` is configured.

    public: anyone (liveness and readiness probes). read: credentials, unless
    `server.auth.public_read` is set. write: always credentials.
    """

    PUBLIC = "public"
    READ = "read"
    WRITE = "write"


ROUTE_POLICIES = web.AppKey("route_policies", dict[AbstractRoute, Policy])


def state_of(request: web.Request) -> AppState:
    """The running application state behind a request."""
    return request.app[STATE]
