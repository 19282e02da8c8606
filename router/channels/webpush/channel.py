"""Web Push delivery: one encrypted POST per subscription, through the shared HttpClient.

`WebPushChannel` is a receiver's `webpush_configs` entry: it renders the payload once and,
as a `FanOut` channel, names the subscriptions to queue it for; `SubscriptionSender` sends
one subscription's row (its own pacing target, retries and dead letter). A push carries
`TTL` (by severity, never 0), `Topic` (the payload's tag: only the group's latest state
waits at the push service), `Urgency: high` for a firing critical group, the VAPID
`Authorization` and the aes128gcm body (RFC 8291, pywebpush). 404/410 prune the
subscription; 429/5xx are retried by the outbox; 401/403 raise the configuration alarm.
The endpoint is a capability: it is never quoted, and vendor text is scrubbed of it.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from pywebpush import WebPusher, WebPushException

from router.channels.base import Channel, SendContext, target_id
from router.channels.http import HttpClient, classify_http
from router.channels.webpush import payload as push_payload
from router.channels.webpush.config import WebPushConfig, endpoint_allowed, origin
from router.channels.webpush.hub import WebPushHub
from router.config.types import Pacing, WebPushSettings
from router.errors import DeliveryError, FailureReason, StoreUnavailable
from router.model import Notification, PushSubscription

_URGENT = ("critical", "page")


class WebPushChannel:
    kind = "webpush"

    def __init__(self, cfg: WebPushConfig, settings: WebPushSettings, http: HttpClient,
                 hub: WebPushHub | None) -> None:
        self.cfg = cfg
        self.settings = settings
        self.send_resolved = cfg.send_resolved
        self.hub = hub
        self.http = http
        # Rows are sent per subscription (for_recipient): this target never sends.
        self.target = target_id("webpush", "fan-out")
        self.pacing: Pacing | None = cfg.pacing

    def render(self, n: Notification) -> bytes:
        return push_payload.render(n)

    def recipients(self, receiver: str) -> list[str]:
        if self.hub is None or not self.settings.enabled:
            return []
        return self.hub.recipients(receiver)

    def for_recipient(self, recipient: str) -> Channel:
        return SubscriptionSender(self, int(recipient) if recipient.isdigit() else 0)

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        raise DeliveryError(FailureReason.OTHER, "web push rows are sent per subscription",
                            retryable=False)


class SubscriptionSender:
    """Sends one subscription's rows; its pacing target is the subscription (never its
    endpoint, which is a secret)."""

    kind = "webpush"

    def __init__(self, parent: WebPushChannel, sub_id: int) -> None:
        self._parent = parent
        self.sub_id = sub_id
        self.cfg = parent.cfg
        self.send_resolved = parent.send_resolved
        self.target = target_id("webpush", str(sub_id))
        self.pacing = parent.pacing

    def render(self, n: Notification) -> bytes:
        return self._parent.render(n)

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        parent, hub = self._parent, self._parent.hub
        sub = hub.get(self.sub_id) if hub is not None else None
        if hub is None or sub is None:
            raise DeliveryError(FailureReason.CLIENT_ERROR,
                                f"web push subscription {self.sub_id} no longer exists",
                                retryable=False)
        settings = parent.settings
        if settings.subject is None:
            raise DeliveryError(FailureReason.OTHER, "web push is off (no webpush.subject)",
                                retryable=False)
        if not endpoint_allowed(sub.endpoint, settings.allowed_endpoints):
            raise DeliveryError(FailureReason.CLIENT_ERROR,
                                f"subscription {self.sub_id} is on a push service that "
                                "webpush.allowed_endpoints no longer allows", retryable=False)
        meta = _meta(payload)
        try:
            key = await hub.key()
        except StoreUnavailable:
            raise DeliveryError(FailureReason.OTHER, "the VAPID key could not be read from "
                                "the store", retryable=True) from None
        headers = {
            "TTL": str(int(self.cfg.ttl or settings.ttl_for(meta["severity"]))),
            "Urgency": "high" if meta["urgent"] else "normal",
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "Authorization": key.authorization(origin(sub.endpoint), settings.subject),
        }
        if meta["topic"]:
            headers["Topic"] = meta["topic"]
        try:
            status, resp_headers, text = await parent.http.post(
                sub.endpoint, _encrypt(sub, payload), headers=headers, timeout=ctx.timeout,
                endpoint=f"the push service of subscription {self.sub_id}")
        except (ValueError, TypeError):
            # An endpoint the URL parser refuses: its message would quote the endpoint.
            raise DeliveryError(FailureReason.CLIENT_ERROR,
                                f"subscription {self.sub_id} has an unusable endpoint",
                                retryable=False) from None
        if 200 <= status < 300:
            hub.delivered()
            return {}
        raise await self._failure(hub, sub, settings.subject, status, resp_headers, text)

    async def _failure(self, hub: WebPushHub, sub: PushSubscription, subject: str,
                       status: int, headers: dict[str, str], text: str) -> DeliveryError:
        error = classify_http(status, headers, scrub(text, sub))
        assert error is not None
        where = f"push service (subscription {self.sub_id})"
        if status in (404, 410):
            await hub.prune(self.sub_id, status)
            return DeliveryError(FailureReason.CLIENT_ERROR,
                                 f"{where}: subscription gone (HTTP {status}); removed",
                                 retryable=False)
        if status in (401, 403):
            hub.auth_failed(status, subject)
        elif status == 413:
            return DeliveryError(FailureReason.CLIENT_ERROR,
                                 f"{where}: payload too large (HTTP 413)", retryable=False)
        return error.with_message(f"{where}: {error.message}")


def _meta(payload: bytes) -> dict[str, Any]:
    """What the headers need from a stored payload (severity, status, tag)."""
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    doc = doc if isinstance(doc, dict) else {}
    severity = str(doc.get("severity", ""))
    tag = str(doc.get("tag", ""))
    return {
        "severity": severity,
        "urgent": severity in _URGENT and doc.get("status") == "firing",
        "topic": tag if tag and len(tag) <= 32 and tag.replace("-", "").replace("_", "")
        .isalnum() else "",
    }


def _encrypt(sub: PushSubscription, payload: bytes) -> bytes:
    """RFC 8291 aes128gcm, one record, with a fresh ephemeral key per push."""
    info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
    try:
        body: bytes = WebPusher(info).encode(payload, content_encoding="aes128gcm")["body"]
    except (WebPushException, ValueError) as exc:
        raise DeliveryError(FailureReason.CLIENT_ERROR,
                            f"subscription {sub.id} has unusable keys: {type(exc).__name__}",
                            retryable=False) from None
    return body


def scrub(text: str, sub: PushSubscription) -> str:
    """`text` (a push service's answer) without the endpoint, its path segments or keys."""
    secrets = [sub.endpoint, urllib.parse.urlsplit(sub.endpoint).path, sub.p256dh, sub.auth]
    secrets += [part for part in urllib.parse.urlsplit(sub.endpoint).path.split("/")
                if len(part) >= 8]
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return text


def build(cfg: WebPushConfig, renderer: Any, http: HttpClient, *,
          hub: WebPushHub | None = None,
          settings: WebPushSettings | None = None) -> WebPushChannel:
    """A receiver's entry; without a hub (`alert-router render`) it renders but names no
    recipient."""
    if not isinstance(cfg, WebPushConfig):
        raise TypeError(f"webpush channel needs a WebPushConfig, got {type(cfg).__name__}")
    return WebPushChannel(cfg, settings or WebPushSettings(), http, hub)
