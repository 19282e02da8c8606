"""Web Push's part in the channel contract test: the endpoint URL (its path is the
capability), the subscription's auth secret and the VAPID private key are the secrets.

The channel is a fan-out: what sends is its sender bound to one subscription, whose
endpoint is the fake's URL (loopback allowed for the test).
"""

from __future__ import annotations

import json
from typing import Any

from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.channels.webpush import WebPushConfig, WebPushHub, build
from router.channels.webpush.vapid import generate_pem
from router.config.types import WebPushSettings
from router.metrics import Metrics
from router.model import PushSubscription
from router.rendering import Renderer

from .contract import Setup
from .fake_webpush import ALLOW_LOOPBACK, Browser, MemoryPushStore, b64url
from .fakes import Recorded

PATH = "/push/contract-CAPABILITYTOKEN0123456789"
VAPID_PEM = generate_pem()
BROWSER = Browser("contract")
SECRETS = ("CAPABILITYTOKEN0123456789", b64url(BROWSER.auth), VAPID_PEM.splitlines()[1])
SETTINGS = WebPushSettings(subject="mailto:oncall@example.com",
                           allowed_endpoints=(ALLOW_LOOPBACK,))


async def _make(url: str, http: Any) -> Any:
    hub = WebPushHub(MemoryPushStore(VAPID_PEM), FakeClock(), Metrics(CollectorRegistry()))
    keys = BROWSER.keys()
    sub = await hub.subscribe(PushSubscription(0, url, keys["p256dh"], keys["auth"], ("ops",),
                                               0.0))
    channel = build(WebPushConfig(), Renderer([]), http, hub=hub, settings=SETTINGS)
    return channel.for_recipient(str(sub.id))


def _push(req: Recorded) -> None:
    assert req.path == PATH
    headers = {k.lower(): v for k, v in req.headers.items()}
    assert headers["ttl"] == "3600"  # no severity label: webpush.ttl's default
    assert (headers["urgency"], headers["content-encoding"]) == ("normal", "aes128gcm")
    assert headers["authorization"].startswith("vapid t=")
    assert len(headers["topic"]) == 22
    doc = json.loads(BROWSER.decrypt(req.body))
    assert doc["title"] == "[FIRING:1] HighErrorRate"
    assert doc["tag"] == headers["topic"]


SETUPS = {
    "webpush": Setup("webpush", "webhook", PATH, lambda url: WebPushConfig(),
                     check_request=_push, make=_make),
}
