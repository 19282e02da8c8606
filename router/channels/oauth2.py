"""OAuth 2.0 client credentials for `http_config.oauth2`: a token from `token_url`,
cached per config until it expires (10 s early, as Go's oauth2 package), one fetch at a
time per config. Times come from the injected clock, so tests drive expiry.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from urllib.parse import quote_plus, urlencode

from router.channels.base import excerpt
from router.config.types import OAuth2
from router.errors import DeliveryError, FailureReason

__all__ = ["EXPIRY_DELTA", "OAuth2Tokens", "TokenFetch"]

EXPIRY_DELTA = 10.0  # Go's oauth2: a token is renewed this long before it expires
# (url, form body, headers, oauth2 config) → (status, headers, text)
TokenFetch = Callable[[str, bytes, dict[str, str], OAuth2],
                      Awaitable[tuple[int, dict[str, str], str]]]


class OAuth2Tokens:
    """The `Authorization` header value for each oauth2 config, fetched when needed."""

    __slots__ = ("_cache", "_locks", "_now")

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._cache: dict[OAuth2, tuple[str, float | None]] = {}  # header, expires at
        self._locks: dict[OAuth2, asyncio.Lock] = {}

    def _valid(self, cfg: OAuth2) -> str | None:
        cached = self._cache.get(cfg)
        if cached is None:
            return None
        header, expires = cached
        if expires is not None and self._now() >= expires - EXPIRY_DELTA:
            return None
        return header

    async def header(self, cfg: OAuth2, fetch: TokenFetch) -> str:
        header = self._valid(cfg)
        if header is not None:
            return header
        lock = self._locks.setdefault(cfg, asyncio.Lock())
        async with lock:
            header = self._valid(cfg)  # another sender may have fetched it meanwhile
            if header is None:
                header, expires = await self._fetch(cfg, fetch)
                self._cache[cfg] = (header, expires)
            return header

    async def _fetch(self, cfg: OAuth2, fetch: TokenFetch) -> tuple[str, float | None]:
        form = {"grant_type": "client_credentials", **dict(cfg.endpoint_params)}
        if cfg.scopes:
            form["scope"] = " ".join(cfg.scopes)
        try:
            secret = cfg.client_secret.reveal()
        except (OSError, UnicodeDecodeError):
            raise DeliveryError(FailureReason.OTHER, "cannot read the oauth2 "
                                "client_secret_file", retryable=True) from None
        pair = f"{quote_plus(cfg.client_id)}:{quote_plus(secret)}"
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        asked = self._now()
        status, _, text = await fetch(cfg.token_url, urlencode(form).encode(), headers, cfg)
        if not 200 <= status < 300:
            reason = (FailureReason.SERVER_ERROR if status >= 500 or status == 429
                      else FailureReason.AUTH)
            raise DeliveryError(reason, f"oauth2 token endpoint answered HTTP {status}: "
                                f"{excerpt(text)}", retryable=reason is not FailureReason.AUTH)
        try:
            answer = json.loads(text)
            token = str(answer["access_token"])
        except (ValueError, KeyError, TypeError):
            raise DeliveryError(FailureReason.AUTH, "oauth2 token endpoint answered without "
                                "an access_token", retryable=False) from None
        kind = str(answer.get("token_type") or "Bearer")
        kind = "Bearer" if kind.lower() == "bearer" else kind
        expires_in = answer.get("expires_in")
        expires = (asked + float(expires_in)
                   if isinstance(expires_in, (int, float)) and expires_in > 0 else None)
        return f"{kind} {token}", expires
