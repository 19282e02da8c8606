"""Operations endpoints: liveness, readiness, reload, Prometheus metrics and API v2 status.

`/-/healthy` and `/-/ready` are public (probes carry no credentials); ready is 503 until
the store is restored and while it cannot commit (it heals by itself). `/metrics` and
`/api/v2/status` are read routes; `/-/reload` is a write. Status shows the running config
the way Alertmanager does (`config.original`), re-encoded from the parsed config with every
secret as `<secret>` (router/config/redact.py): the raw file is never served.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from router import __version__
from router.config.redact import redacted_yaml
from router.timefmt import format_time_ms
from router.web.errors import RETRY_AFTER, error_response
from router.web.keys import METRICS, RUNTIME, SERVICE

log = logging.getLogger(__name__)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    resp = web.Response(body=body)
    resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    resp.charset = "utf-8"
    return resp


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def ready(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    retry = {"Retry-After": RETRY_AFTER}
    if not service.ready:
        return error_response(503, "not_ready", "storage is not open or not restored yet",
                              headers=retry)
    if not service.store.healthy:
        # Writes would be refused: a balancer should send them elsewhere meanwhile. The
        # store reconnects on its own; the first commit that succeeds makes this 200.
        return error_response(503, "store_unavailable", "the alert store cannot commit now",
                              headers=retry)
    return web.Response(text="OK\n")


async def reload(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICE].reload()
    except Exception as exc:  # ConfigError or a template/channel that would not build
        log.error("reload refused; the running config stays", extra={"error": str(exc)})
        return error_response(400, "invalid_config", str(exc))
    return web.json_response({"status": "reloaded"})


async def get_status(request: web.Request) -> web.Response:
    """Alertmanager's `GET /api/v2/status` (amtool `config show` prints `config.original`)."""
    app = request.app
    return web.json_response({
        "cluster": {"name": "alert-router", "status": "disabled", "peers": []},
        "versionInfo": {"version": __version__, "revision": "", "branch": "", "buildUser": "",
                        "buildDate": "", "goVersion": "n/a (alert-router, Python)"},
        "config": {"original": redacted_yaml(app[RUNTIME].current.config)},
        "uptime": format_time_ms(app[SERVICE].started_at or time.time()),
    })
