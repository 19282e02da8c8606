"""PagerDuty Events API v1 (`service_key`), as Alertmanager sends it: `incident_key` is
the SHA-256 of the group key (the same dedup key as v2), client fields on trigger only,
a 403 (v1's rate limit) is retried.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.pagerduty import PagerdutyChannel, PagerdutyConfig
from router.config.types import Secret
from router.errors import DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

T0 = 1_795_560_171.0
GROUP_KEY = '{}/{service=~"^(?:chk|pay)$"}:{alertname="CheckoutDown"}'
PATH = "/generic/2010-04-15/create_event.json"


def _notification(ends: float | None = None) -> Notification:
    alert = make_alert({"alertname": "CheckoutDown", "service": "chk"},
                       {"summary": "checkout is down"}, T0, ends, "", T0)
    return Notification("ops", GROUP_KEY, {"alertname": "CheckoutDown"}, (alert,),
                        NotifyReason.FIRST, T0 + 60, "http://am:9093")


async def test_v1_events_trigger_then_resolve(http: HttpClient,
                                              aiohttp_server: AiohttpServer) -> None:
    seen: list[dict[str, Any]] = []
    answers = [403]

    async def create_event(request: web.Request) -> web.Response:
        event = await request.json()
        seen.append(event)
        if answers:
            return web.json_response({"status": "throttled"}, status=answers.pop())
        return web.json_response({"status": "success", "message": "Event processed",
                                  "incident_key": event["incident_key"]})

    app = web.Application()
    app.router.add_post(PATH, create_event)
    server = await aiohttp_server(app)
    cfg = PagerdutyConfig(routing_key=None, url=str(server.make_url(PATH)),
                          service_key=Secret("v1-service-key"))
    channel = PagerdutyChannel(cfg, Renderer([]), http)
    firing = channel.render(_notification())
    with pytest.raises(DeliveryError) as info:  # v1's 403 is its rate limit: retried
        await channel.send(firing, SendContext(5.0, {}, False))
    assert info.value.reason is FailureReason.RATE_LIMITED
    assert info.value.retryable
    key = hashlib.sha256(GROUP_KEY.encode()).hexdigest()
    assert await channel.send(firing, SendContext(5.0, {}, False)) == {"dedup_key": key}
    resolved = _notification(ends=T0 + 30)
    await channel.send(channel.render(resolved), SendContext(5.0, {}, True))
    trigger, resolve = seen[1], seen[2]
    assert trigger["service_key"] == "v1-service-key"
    assert (trigger["event_type"], trigger["incident_key"]) == ("trigger", key)
    assert trigger["description"].startswith("[FIRING:1] CheckoutDown")
    assert trigger["client"] == "alert-router"
    assert trigger["details"]["num_firing"] == 1
    assert (resolve["event_type"], resolve["incident_key"]) == ("resolve", key)
    assert "client" not in resolve
    assert "routing_key" not in json.dumps(seen)
