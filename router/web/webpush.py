"""Web Push over HTTP: the VAPID public key, browser subscriptions, the service worker.

`GET /api/v1/webpush/key` is public (a public key; the page needs it to subscribe);
subscribing and unsubscribing are writes. Answers never show an endpoint or a key of a
subscription: a subscription is named by its id. `GET /sw.js` serves the service worker
from the package with `Service-Worker-Allowed: /`, so a page anywhere on this origin may
register it for the whole origin.
"""

from __future__ import annotations

import functools
from importlib import resources

from aiohttp import web

from router.channels.webpush.hub import parse_endpoint, parse_subscription
from router.web.errors import RequestError
from router.web.ingest import read_json
from router.web.keys import CLOCK, RUNTIME, WEBPUSH

_OFF = "web push is not enabled (set webpush.subject)"


def _settings(request: web.Request) -> tuple[str, tuple[str, ...]]:
    settings = request.app[RUNTIME].current.config.webpush
    if settings.subject is None:
        raise RequestError(_OFF, status=404)
    return settings.subject, settings.allowed_endpoints


async def get_key(request: web.Request) -> web.Response:
    _settings(request)
    key = await request.app[WEBPUSH].key()
    return web.json_response({"publicKey": key.public_key})


async def post_subscription(request: web.Request) -> web.Response:
    _, allowed = _settings(request)
    app = request.app
    body = await read_json(request)
    receivers = app[RUNTIME].current.config.receivers
    pushed = [name for name, r in receivers.items()
              if any(kind == "webpush" for kind, _ in r.integrations)]
    sub = parse_subscription(body, allowed, receivers, app[CLOCK].now(), pushed)
    stored = await app[WEBPUSH].subscribe(sub)
    return web.json_response({"id": stored.id, "receivers": list(stored.receivers)},
                             status=201)


async def delete_subscription(request: web.Request) -> web.Response:
    _settings(request)
    endpoint = parse_endpoint(await read_json(request))
    if not await request.app[WEBPUSH].unsubscribe(endpoint):
        raise RequestError("no subscription with this endpoint", "endpoint", status=404)
    return web.Response(status=204)


@functools.cache
def _worker() -> bytes:
    """The packaged file (a constant of the installed version), read once."""
    return (resources.files("router.web") / "static" / "sw.js").read_bytes()


async def get_service_worker(request: web.Request) -> web.Response:
    return web.Response(body=_worker(), content_type="text/javascript", charset="utf-8",
                        headers={"Service-Worker-Allowed": "/", "Cache-Control": "no-cache"})
