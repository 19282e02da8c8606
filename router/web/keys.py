"""Typed application keys: one per object a handler may read, set in one place.

`install(app, service)` puts each long-lived component of the Service under its own key,
so a handler names exactly what it reads (`request.app[INGESTOR]`), and mypy knows its
type. The config is read through `RUNTIME` (`request.app[RUNTIME].current`), never kept:
a reload swaps it under every handler at once. `ROUTE_POLICIES` maps every registered
route to its access policy (router/web/auth.py reads it, router/web/routes.py fills it).
`FAILURES` logs the web edge's repeating failures (a store outage fails every request) once
per cause a minute, on the service's clock.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from router.channels.webpush import WebPushHub
from router.clock import Clock
from router.delivery.worker import DeliveryManager
from router.events.hub import EventHub
from router.ingest.ingestor import AlertIngestor
from router.logs import RepeatLog
from router.metrics import Metrics
from router.nflog import NotificationLog
from router.noise.silences import SilenceIndex
from router.routing.grouping import Dispatcher
from router.runtime import RuntimeRef
from router.service import Service
from router.storage import Store
from router.trace import TraceRecorder
from router.web.tokens import Sessions
from router.web.webconfig import WEB, WebEdge


class Policy(StrEnum):
    """Who may call a route when `server.auth` is configured.

    public: anyone (liveness and readiness probes). read: credentials, unless
    `server.auth.public_read` is set. write: always credentials.
    """

    PUBLIC = "public"
    READ = "read"
    WRITE = "write"


SERVICE = web.AppKey("service", Service)  # lifetime: ready, reload, started_at
RUNTIME = web.AppKey("runtime", RuntimeRef)
CLOCK = web.AppKey("clock", Clock)
METRICS = web.AppKey("metrics", Metrics)
STORE = web.AppKey("store", Store)
INGESTOR = web.AppKey("ingestor", AlertIngestor)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
DELIVERY = web.AppKey("delivery", DeliveryManager)
NFLOG = web.AppKey("nflog", NotificationLog)
TRACE = web.AppKey("trace", TraceRecorder)
EVENTS = web.AppKey("events", EventHub)  # live stream subscribers (router/web/stream.py)
SESSIONS = web.AppKey("sessions", Sessions)  # session cookies (router/web/session.py)
SILENCES = web.AppKey("silences", SilenceIndex)
WEBPUSH = web.AppKey("webpush", WebPushHub)
ROUTE_POLICIES = web.AppKey("route_policies", dict[AbstractRoute, Policy])
FAILURES = web.AppKey("failures", RepeatLog)


def install(app: web.Application, service: Service, edge: WebEdge | None = None) -> None:
    """Put each component of `service` under its key; `edge`: the web config's (none by
    default)."""
    app[WEB] = edge or WebEdge()
    app[SERVICE] = service
    app[RUNTIME] = service.ref
    app[CLOCK] = service.clock
    app[METRICS] = service.metrics
    app[STORE] = service.store
    app[INGESTOR] = service.ingestor
    app[DISPATCHER] = service.dispatcher
    app[DELIVERY] = service.delivery
    app[NFLOG] = service.nflog
    app[TRACE] = service.trace
    app[EVENTS] = service.events
    app[SESSIONS] = Sessions()
    app[SILENCES] = service.silences
    app[FAILURES] = RepeatLog(logging.getLogger("router.web"), service.clock.now)
    app[WEBPUSH] = service.webpush
