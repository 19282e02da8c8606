"""The Web Push subscriptions and key pair of one router: the store's rows, cached.

Subscriptions are written to the store first, then cached (the enqueue stage asks for a
receiver's recipients at every flush); the VAPID key pair is loaded, or generated and
stored, on first use. A subscription the push service calls gone (404/410) is pruned here;
a 401/403 (the key or the `sub` contact refused) is an operator's problem: logged once per
status and counted, the subscription kept. `parse_subscription` validates what a browser
posts (`PushSubscription.toJSON()` plus `receivers`), with the JSON path of a bad field.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import Awaitable, Collection
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from router.channels.webpush.config import endpoint_allowed
from router.channels.webpush.vapid import VapidKey, generate_pem
from router.clock import Clock
from router.errors import InputError, StoreUnavailable
from router.metrics import Metrics
from router.model import PushSubscription

log = logging.getLogger(__name__)

MAX_ENDPOINT = 2048  # characters; real endpoints are a few hundred
MAX_RECEIVERS = 50
_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class SubscriptionStore(Protocol):
    """What the hub needs of the store (router.storage.WebPushStore)."""

    async def webpush_key(self, candidate: str, now: float) -> str: ...

    async def webpush_subscribe(self, sub: PushSubscription) -> int: ...

    async def webpush_unsubscribe(self, endpoint: str) -> list[int]: ...

    def webpush_delete(self, sub_id: int) -> Awaitable[None]: ...

    async def webpush_subscriptions(self) -> list[PushSubscription]: ...


class WebPushHub:
    def __init__(self, store: SubscriptionStore, clock: Clock, metrics: Metrics) -> None:
        self._store = store
        self._clock = clock
        self._metrics = metrics
        self._subs: dict[int, PushSubscription] = {}
        self._key: VapidKey | None = None
        self._key_lock = asyncio.Lock()
        self._alarmed: set[int] = set()  # 401/403 statuses logged since the last success
        metrics.webpush_subscriptions.set_function(lambda: len(self._subs))

    async def restore(self) -> None:
        """Start-up: load every stored subscription."""
        self._subs = {s.id: s for s in await self._store.webpush_subscriptions()}

    async def key(self) -> VapidKey:
        """The key pair kept with the data; generated and stored on first use."""
        async with self._key_lock:
            if self._key is None:
                pem = await self._store.webpush_key(generate_pem(), self._clock.now())
                self._key = VapidKey(pem)
            return self._key

    # --- subscriptions ------------------------------------------------------------

    def recipients(self, receiver: str) -> list[str]:
        return [str(s.id) for s in self._subs.values() if receiver in s.receivers]

    def get(self, sub_id: int) -> PushSubscription | None:
        return self._subs.get(sub_id)

    def __len__(self) -> int:
        return len(self._subs)

    async def subscribe(self, sub: PushSubscription) -> PushSubscription:
        """Store (or update, by endpoint) a subscription; the stored one, with its id."""
        sub_id = await self._store.webpush_subscribe(sub)
        old = self._subs.get(sub_id)
        stored = PushSubscription(sub_id, sub.endpoint, sub.p256dh, sub.auth, sub.receivers,
                                  old.created_at if old is not None else sub.created_at)
        self._subs[sub_id] = stored
        return stored

    async def unsubscribe(self, endpoint: str) -> bool:
        ids = await self._store.webpush_unsubscribe(endpoint)
        for sub_id in ids:
            self._subs.pop(sub_id, None)
        return bool(ids)

    async def prune(self, sub_id: int, status: int) -> None:
        """The push service says the subscription is gone (404/410): forget it for good."""
        if self._subs.pop(sub_id, None) is None:
            return
        self._metrics.webpush_pruned.labels(str(status)).inc()
        log.info("web push subscription gone; removed",
                 extra={"subscription": sub_id, "status": status})
        try:
            await self._store.webpush_delete(sub_id)
        except StoreUnavailable as exc:
            # Forgotten here all the same; after a restart it is pruned again on its next
            # 404/410.
            log.warning("could not delete a gone web push subscription",
                        extra={"subscription": sub_id, "error": str(exc)})

    def auth_failed(self, status: int, subject: str) -> None:
        """401/403: the push service refused our VAPID token (key or `sub` contact)."""
        self._metrics.webpush_auth_failures.inc()
        if status in self._alarmed:
            return
        self._alarmed.add(status)
        log.error("push service refused the VAPID credentials: check webpush.subject "
                  "(a real mailto: or https: contact) and that the key pair was not replaced",
                  extra={"status": status, "subject": subject})

    def delivered(self) -> None:
        self._alarmed.clear()


# --- what a browser posts ----------------------------------------------------------------


def _b64url(value: Any, path: str, size: int) -> str:
    if not isinstance(value, str) or not value:
        raise InputError("expected a base64url string", path)
    if not _B64URL.fullmatch(value):
        raise InputError("not base64url", path)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise InputError("not base64url", path) from None
    if len(raw) != size:
        raise InputError(f"expected {size} bytes, got {len(raw)}", path)
    return value.rstrip("=")


def _keys(value: Any) -> tuple[str, str]:
    if not isinstance(value, dict):
        raise InputError("expected an object with p256dh and auth", "keys")
    for key in value:
        if key not in ("p256dh", "auth"):
            raise InputError("unknown key", f"keys.{key}")
    p256dh = _b64url(value.get("p256dh"), "keys.p256dh", 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), base64.urlsafe_b64decode(p256dh + "=" * (-len(p256dh) % 4)))
    except ValueError:
        raise InputError("not a P-256 public key", "keys.p256dh") from None
    return p256dh, _b64url(value.get("auth"), "keys.auth", 16)


def _receivers(value: Any, known: Collection[str], pushed: Collection[str]
               ) -> tuple[str, ...]:
    if value is None:
        # A page's PushSubscription.toJSON() names none: follow every receiver that
        # pushes to browsers.
        if not pushed:
            raise InputError("no receiver has webpush_configs: name the receivers to "
                             "follow", "receivers")
        return tuple(pushed)
    if not isinstance(value, list) or not value:
        raise InputError("expected a non-empty list of receiver names", "receivers")
    if len(value) > MAX_RECEIVERS:
        raise InputError(f"at most {MAX_RECEIVERS} receivers", "receivers")
    out: list[str] = []
    for i, name in enumerate(value):
        if not isinstance(name, str) or name not in known:
            raise InputError("not a receiver of the running configuration", f"receivers[{i}]")
        if name not in out:
            out.append(name)
    return tuple(out)


def parse_subscription(body: Any, allowed: tuple[str, ...], receivers: Collection[str],
                       now: float, pushed: Collection[str] = ()) -> PushSubscription:
    """A subscription from a POSTed body; InputError with the path of a bad field. Error
    messages never quote the endpoint (a capability) or the keys. Without `receivers` it
    follows `pushed` (the receivers with webpush_configs)."""
    if not isinstance(body, dict):
        raise InputError("expected an object {endpoint, keys: {p256dh, auth}, receivers}", "$")
    for key in body:
        if key not in ("endpoint", "keys", "receivers", "expirationTime"):
            raise InputError("unknown key", key)
    endpoint = body.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise InputError("expected the subscription's endpoint URL", "endpoint")
    if len(endpoint) > MAX_ENDPOINT:
        raise InputError(f"longer than {MAX_ENDPOINT} characters", "endpoint")
    if any(c.isspace() or not c.isprintable() for c in endpoint):
        raise InputError("not a URL (spaces or control characters)", "endpoint")
    if not endpoint_allowed(endpoint, allowed):
        raise InputError("not on an allowed push service (webpush.allowed_endpoints)",
                         "endpoint")
    p256dh, auth = _keys(body.get("keys"))
    return PushSubscription(0, endpoint, p256dh, auth,
                            _receivers(body.get("receivers"), receivers, pushed), now)


def parse_endpoint(body: Any) -> str:
    """The endpoint of an unsubscribe body `{endpoint}`."""
    endpoint = body.get("endpoint") if isinstance(body, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        raise InputError("expected the subscription's endpoint URL", "endpoint")
    return endpoint
