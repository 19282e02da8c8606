"""A loopback push service (RFC 8030) that checks what FCM, Mozilla and Apple check.

It plays the browser's part too: each `Browser` has a P-256 key pair and a 16-byte auth
secret, like `pushManager.subscribe()` makes, and the fake decrypts what it receives with
them (http_ece, aes128gcm). It verifies the VAPID header with py-vapid (`aud` = its own
origin, `exp` within 24 h, `sub` a mailto:/https: contact), TTL, Urgency, Topic,
Content-Encoding and the 4,096-byte body limit, records every push it accepted, and
answers from a script (201, 404, 410, 413, 429 + Retry-After, 500, ...).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

ALLOW_LOOPBACK = "http://127.0.0.1:*"
MAX_BODY = 4096
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_URGENCIES = ("very-low", "low", "normal", "high")
# A script entry: a status, or (status, headers). After the script: 201.
Script = list[int | tuple[int, dict[str, str]]]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    """One browser's subscription keys (what `PushSubscription.toJSON().keys` holds)."""

    id: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))

    def keys(self) -> dict[str, str]:
        return {"p256dh": self.p256dh, "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> bytes:
        plain: bytes = http_ece.decrypt(body, private_key=self.private_key,
                                        auth_secret=self.auth, version="aes128gcm")
        return plain


@dataclass
class Push:
    """A push the fake accepted: the browser it was for, its headers and plaintext."""

    browser: str
    headers: dict[str, str]
    body_size: int
    plaintext: bytes
    claims: dict[str, Any]

    def json(self) -> Any:
        return json.loads(self.plaintext)


@dataclass
class PushFake:
    server: TestServer
    script: Script = field(default_factory=list)  # for any browser without its own
    scripts: dict[str, Script] = field(default_factory=dict)  # per browser name
    browsers: dict[str, Browser] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # why a request failed verification

    @property
    def origin(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    def browser(self, name: str) -> Browser:
        """A new browser subscribed on this push service."""
        self.browsers[name] = Browser(name)
        return self.browsers[name]

    def endpoint(self, name: str) -> str:
        # Real endpoints end with a long opaque token: the capability.
        return f"{self.origin}/push/{name}-CAPABILITYTOKEN{name}"

    def subscription(self, name: str, receivers: list[str]) -> dict[str, Any]:
        """What the page POSTs to /api/v1/webpush/subscriptions."""
        browser = self.browsers.get(name) or self.browser(name)
        return {"endpoint": self.endpoint(name), "expirationTime": None,
                "keys": browser.keys(), "receivers": receivers}

    def for_browser(self, name: str) -> list[Push]:
        return [p for p in self.pushes if p.browser == name]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      headers, body))
        name = request.match_info["token"].split("-", 1)[0]
        status, claims, why = self._verify(request, body)
        if why:
            self.refused.append(why)
            return web.json_response({"reason": why}, status=status)
        script = self.scripts.get(name) or self.script
        if script:
            item = script.pop(0)
            status, extra = (item, {}) if isinstance(item, int) else item
            if status != 201:
                return web.json_response({"reason": f"scripted {status}"}, status=status,
                                         headers=extra)
        browser = self.browsers.get(name)
        if browser is None:
            return web.json_response({"reason": "NotFound"}, status=404)
        try:
            plain = browser.decrypt(body)
        except Exception as exc:  # a wrong key, a corrupt record
            self.refused.append(f"cannot decrypt: {type(exc).__name__}")
            return web.json_response({"reason": "BadEncryption"}, status=400)
        self.pushes.append(Push(name, headers, len(body), plain, claims))
        return web.Response(status=201, headers={"Location": f"{self.origin}/m/{len(self.pushes)}"})

    def _verify(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any], str]:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("vapid ") or not Vapid02.verify(auth):
            return 401, {}, "VAPID signature missing or invalid"
        token = dict(part.split("=", 1) for part in auth.split(" ", 1)[1].split(","))["t"]
        claims = json.loads(unb64url(token.split(".")[1]))
        if claims.get("aud") != self.origin:
            return 403, claims, f"aud {claims.get('aud')!r} is not this origin"
        if not 0 < claims.get("exp", 0) - time.time() <= 24 * 3600:
            return 403, claims, "exp not within 24 hours"
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            return 403, claims, "sub is not a mailto: or https: contact"
        ttl = request.headers.get("TTL", "")
        if not ttl.isdigit():
            return 400, claims, "TTL missing"
        if request.headers.get("Urgency", "normal") not in _URGENCIES:
            return 400, claims, "bad Urgency"
        topic = request.headers.get("Topic")
        if topic is not None and not _TOPIC.fullmatch(topic):
            return 400, claims, "bad Topic"
        if request.headers.get("Content-Encoding") != "aes128gcm":
            return 400, claims, "Content-Encoding is not aes128gcm"
        if len(body) > MAX_BODY:
            return 413, claims, "payload too large"
        return 201, claims, ""


async def start_push(aiohttp_server: AiohttpServer, script: Script | None = None) -> PushFake:
    app = web.Application()
    fake = PushFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post("/push/{token}", fake.handle)
    # No access log: it would print the endpoint path (the capability) into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake


class MemoryPushStore:
    """The store's Web Push half in memory (router.storage.WebPushStore), for channel tests
    that need no database."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key
        self.subs: dict[int, Any] = {}

    async def webpush_key(self, candidate: str, now: float) -> str:
        self.key = self.key or candidate
        return self.key

    async def webpush_subscribe(self, sub: Any) -> int:
        found = [i for i, s in self.subs.items() if s.endpoint == sub.endpoint]
        sub_id = found[0] if found else len(self.subs) + 1
        self.subs[sub_id] = sub
        return sub_id

    async def webpush_unsubscribe(self, endpoint: str) -> list[int]:
        gone = [i for i, s in self.subs.items() if s.endpoint == endpoint]
        for i in gone:
            del self.subs[i]
        return gone

    async def webpush_delete(self, sub_id: int) -> None:
        self.subs.pop(sub_id, None)

    async def webpush_subscriptions(self) -> list[Any]:
        return list(self.subs.values())
