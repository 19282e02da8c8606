"""create_app(): the aiohttp application around one Service; one cleanup context per resource.

The object graph is built by `router.service.build_service` (tests use the same builder);
this module only ties its lifetime to the web application, one cleanup context per
resource: the store is opened first and closed last, the HTTP client session lives inside
the running loop, and the service's background loops run innermost.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from router.clock import Clock
from router.config.types import RouterConfig
from router.config.web_types import WebConfig
from router.errors import StoreUnavailable
from router.metrics import Metrics
from router.service import build_service
from router.storage import Store
from router.storage.sqlite import SqliteStore
from router.web.keys import SERVICE, SESSIONS, install
from router.web.routes import setup_routes
from router.web.webconfig import WebEdge

log = logging.getLogger(__name__)


def create_app(
    config: RouterConfig,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    store: Store | None = None,
    config_path: str | None = None,
    overrides: dict[str, str] | None = None,
    web_config: Callable[[], WebConfig] | None = None,
) -> web.Application:
    """`web_config`: the web config as it is now (`--web.config.file`), none by default."""

    service = build_service(
        config, store or SqliteStore(Path(config.storage.path)), clock=clock,
        metrics=Metrics(registry or CollectorRegistry()), config_path=config_path,
        overrides=overrides,
    )
    app = web.Application(client_max_size=config.server.max_body_bytes)
    install(app, service, WebEdge(web_config))
    setup_routes(app)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_http)
    app.cleanup_ctx.append(_running)
    app.on_shutdown.append(_end_streams)
    return app


async def _end_streams(app: web.Application) -> None:
    """Before the server waits for handlers to finish: live streams end (SSE cleanly,
    WebSocket with 1012) instead of holding the shutdown until they time out."""
    app[SERVICE].events.shutdown()


async def _store(app: web.Application) -> AsyncIterator[None]:
    """Opened before anything reads it; closed (queued writes flushed) after all else."""
    store = app[SERVICE].store
    await store.open()
    try:
        app[SESSIONS].bind(await store.session_secret())
    except StoreUnavailable as exc:
        # Logins still work, but only until this process ends.
        log.warning("cannot keep the session key in the store; sessions end at restart",
                    extra={"error": str(exc)})
    try:
        yield
    finally:
        await store.close()


async def _http(app: web.Application) -> AsyncIterator[None]:
    """The one HTTP client session, made inside the running loop; every channel's
    HttpClient is bound to it while the app runs."""
    http = app[SERVICE].http
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        http.start(session)
        try:
            yield
        finally:
            http.stop()


async def _running(app: web.Application) -> AsyncIterator[None]:
    """The service's loops: restored from the store, stopped (leases released, trace
    flushed) before the session and the store close."""
    service = app[SERVICE]
    await service.start()
    try:
        yield
    finally:
        await service.stop()
