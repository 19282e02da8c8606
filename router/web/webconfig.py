"""The web config at the HTTP edge: `basic_auth_users` (bcrypt) as a credential source of
the auth middleware, and `http_server_config.headers` on every response.

bcrypt is slow on purpose (about 0.15 s at cost 10), so a checked (user, hash, password)
is cached, success or failure, as exporter-toolkit does, under a keyed digest (no password
is kept). A miss runs in a thread, one at a time, so the event loop never stalls and a
flood of wrong passwords costs one core at most. An unknown user is checked against a
fixed hash, so timing does not tell which users exist.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

import bcrypt
from aiohttp import web

from router.config.web_types import WebConfig

__all__ = ["WEB", "WebEdge", "add_headers"]

# bcrypt of a random password nobody knows: the work an unknown user costs.
_UNKNOWN = b"$2b$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"
_CACHE_MAX = 1024


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic …` header, None otherwise."""
    scheme, _, cred = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(cred.strip(), validate=True).decode().partition(
            ":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


class WebEdge:
    """What the web config asks of every request; `current` reads the config as it is now
    (router/config/web_config.py re-reads a changed file)."""

    def __init__(self, current: Callable[[], WebConfig] | None = None) -> None:
        self.current = current or WebConfig
        self._salt = os.urandom(16)
        self._checked: dict[bytes, bool] = {}
        self._lock = asyncio.Lock()

    def has_users(self) -> bool:
        return bool(self.current().users)

    async def user_ok(self, header: str) -> bool:
        """Whether the header carries a user of `basic_auth_users` and its password."""
        users = dict(self.current().users)
        given = basic_credentials(header) if users else None
        if given is None:
            return False
        user, password = given
        known = users.get(user)
        hashed = known.reveal().encode() if known is not None else _UNKNOWN
        key = hmac.new(self._salt, b"\0".join((user.encode(), hashed, password.encode())),
                       hashlib.sha256).digest()
        ok = self._checked.get(key)
        if ok is None:
            async with self._lock:
                ok = await asyncio.to_thread(_check, password.encode(), hashed)
            if len(self._checked) >= _CACHE_MAX:
                self._checked.clear()
            self._checked[key] = ok
        return ok and known is not None


def _check(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # over 72 bytes, as Go's bcrypt refuses too
        return False


WEB = web.AppKey("web", WebEdge)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`http_server_config.headers` on every answer (errors and 404s included)."""
    for name, value in request.app[WEB].current().headers:
        response.headers[name] = value
