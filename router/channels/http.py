"""What the HTTP channels share: the lazily bound client, POST, response classification.

Every vendor but SMTP and the log is an HTTPS POST, and they must all fail the same way
(the retry policy acts on `FailureReason`), never quote a URL (it may embed a token) and
never store a credential in a payload. Keeping that here leaves `base` free of aiohttp,
so the `Channel` protocol names no transport.

Channels are built when a config is compiled, before the event loop runs; the aiohttp
session can only be made inside the running loop. `HttpClient` bridges the two: channels
get it at construction, and the app binds the session to it at start-up.
"""

from __future__ import annotations

import base64
import email.utils
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp

from router import __version__
from router.channels.base import excerpt
from router.channels.oauth2 import OAuth2Tokens
from router.channels.proxy import pick_proxy, proxy_environment
from router.channels.tls import TlsContexts
from router.config.types import HttpConfig, OAuth2, TlsConfig
from router.errors import DeliveryError, FailureReason

Response = tuple[int, dict[str, str], str]  # status, headers, text


class HttpClientNotStarted(RuntimeError):
    """A channel sent before the app bound its session: a wiring bug, not a vendor fault."""


class HttpClient:
    """The one aiohttp session every HTTP channel sends through, bound once the loop runs.

    `start(session)` binds it (the app does this at start-up), `stop()` unbinds it before
    the session closes; `session` raises HttpClientNotStarted outside that window.
    Rendering never needs it, so a channel built for `alert-router render` gets an
    unstarted client.

    It also applies each channel's `http_config` (authorization, oauth2 tokens cached
    until expiry on `now`, proxy, TLS, redirects). `environ` holds the proxy variables
    (`HTTPS_PROXY`, ...) that `proxy_from_environment` reads, captured by the caller.
    """

    __slots__ = ("_environ", "_session", "_tls", "_tokens", "now")

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        now: Callable[[], float] = time.time,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._session = session
        self.now = now  # the app's clock, for channels caching vendor tokens (WeChat)
        self._environ = proxy_environment(environ or {})
        self._tls = TlsContexts()
        self._tokens = OAuth2Tokens(now)

    def start(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    def stop(self) -> None:
        self._session = None

    @property
    def started(self) -> bool:
        return self._session is not None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise HttpClientNotStarted(
                "HTTP client used before start: the app binds the shared aiohttp session "
                "at start-up (HttpClient.start)"
            )
        return self._session

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: Mapping[str, str],
        timeout: float,  # noqa: ASYNC109 - handed to aiohttp's ClientTimeout, per attempt
        endpoint: str = "endpoint",
        http_config: HttpConfig | None = None,
        method: str = "POST",
    ) -> Response:
        """`post_json` through the shared session, with `http_config` applied. A header
        the channel sets itself (Slack's Web API token) wins over the config's. `method`
        is for the calls that are not a POST (OpsGenie's PUT updates; Jira: GET transitions,
        PUT issue)."""
        http = http_config or _DEFAULT_HTTP
        merged = dict(headers)
        try:
            auth = auth_headers(http)
        except (OSError, UnicodeDecodeError):
            # The message names no path: an operator finds it in the config.
            raise DeliveryError(FailureReason.OTHER, "cannot read a credentials file of "
                                f"the http_config for {endpoint}", retryable=True) from None
        if http.oauth2 is not None:
            auth["Authorization"] = await self._tokens.header(
                http.oauth2, self._token_fetch(timeout))
        for name, value in auth.items():
            if header(merged, name) is None:
                merged[name] = value
        return await post_json(self.session, url, body, headers=merged, timeout=timeout,
                               endpoint=endpoint, method=method,
                               **self._options(http, url, endpoint))

    async def get(
        self,
        url: str,
        *,
        timeout: float,  # noqa: ASYNC109 - handed to aiohttp's ClientTimeout, per attempt
        endpoint: str = "endpoint",
        http_config: HttpConfig | None = None,
    ) -> Response:
        """A GET with `http_config`'s proxy, TLS and redirect settings (a vendor's token
        endpoint, e.g. WeChat's `gettoken`); its credentials are the query's, not a header."""
        http = http_config or _DEFAULT_HTTP
        return await post_json(self.session, url, None, headers={}, timeout=timeout,
                               endpoint=endpoint, method="GET",
                               **self._options(http, url, endpoint))

    def _options(self, http: HttpConfig, url: str, endpoint: str) -> dict[str, Any]:
        """aiohttp's per-request proxy, TLS and redirect arguments for `http`."""
        options: dict[str, Any] = {"allow_redirects": http.follow_redirects}
        proxy = pick_proxy(http, url, self._environ)
        if proxy is not None:
            options["proxy"] = proxy
            if http.proxy_connect_header:
                options["proxy_headers"] = {name: ", ".join(v.reveal() for v in values)
                                            for name, values in http.proxy_connect_header}
        context = self._context(http.tls_config, endpoint)
        if context is not None:
            options["ssl"] = context
        if http.tls_config.server_name:
            options["server_hostname"] = http.tls_config.server_name
        return options

    def _context(self, tls: TlsConfig, endpoint: str) -> ssl.SSLContext | None:
        try:
            return self._tls.get(tls)
        except (OSError, ssl.SSLError, ValueError) as exc:
            # The file may be deployed late or rotated mid-write: worth another attempt.
            raise DeliveryError(FailureReason.OTHER, f"cannot use the tls_config for "
                                f"{endpoint}: {type(exc).__name__}", retryable=True) from None

    def _token_fetch(self, timeout: float) -> Callable[..., Any]:
        async def fetch(url: str, body: bytes, headers: dict[str, str],
                        cfg: OAuth2) -> Response:
            http = HttpConfig(proxy_url=cfg.proxy_url, tls_config=cfg.tls_config)
            return await post_json(self.session, url, body, headers=headers,
                                   timeout=timeout, endpoint="oauth2 token endpoint",
                                   **self._options(http, url, "oauth2 token endpoint"))
        return fetch

    def __repr__(self) -> str:
        return f"HttpClient(started={self.started})"


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes | None,
    *,
    headers: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - handed to aiohttp's ClientTimeout, per attempt
    endpoint: str = "endpoint",
    method: str = "POST",
    **options: Any,
) -> Response:
    """POST `body` (or send it with `method`); return (status, headers, text). Transport
    failures become DeliveryError.

    `options` are aiohttp request arguments from an `http_config` (proxy, ssl, ...);
    without them redirects are not followed.

    `endpoint` names the target in messages ("slack endpoint"): the URL itself is never
    quoted because it may embed a token, and aiohttp's own messages contain it, so the
    original exception is not chained either.
    """
    try:
        async with session.request(
            method,
            url,
            data=body if body or method not in ("GET", "HEAD") else None,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout),
            **{"allow_redirects": False, **options},
        ) as resp:
            text = await resp.text(errors="replace")
            return resp.status, dict(resp.headers), text
    except TimeoutError:
        raise DeliveryError(
            FailureReason.TIMEOUT,
            f"no response from {endpoint} within {timeout:g}s",
            retryable=True,
        ) from None
    except aiohttp.ClientConnectorError as exc:
        refused = isinstance(exc.os_error, ConnectionRefusedError)
        message = (
            f"connection refused by {endpoint}" if refused else f"cannot connect to {endpoint}"
        )
        raise DeliveryError(FailureReason.NETWORK, message, retryable=True) from None
    except aiohttp.InvalidURL:
        raise DeliveryError(
            FailureReason.OTHER, f"invalid URL configured for {endpoint}", retryable=False
        ) from None
    except aiohttp.ClientError as exc:
        raise DeliveryError(
            FailureReason.NETWORK,
            f"{type(exc).__name__} talking to {endpoint}",
            retryable=True,
        ) from None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` in `headers`, its name in any case; None when absent."""
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def classify_http(
    status: int, headers: Mapping[str, str], body: str, *, now: float | None = None
) -> DeliveryError | None:
    """Map an HTTP response to None (2xx) or the DeliveryError the retry policy acts on."""
    if 200 <= status < 300:
        return None
    detail = f"HTTP {status}"
    short = excerpt(body)
    if short:
        detail += f": {short}"
    retry_after = parse_retry_after(header(headers, "Retry-After"), now)
    # 503 with Retry-After is a vendor asking us to slow down, not an outage.
    if status == 429 or (status == 503 and retry_after is not None):
        return DeliveryError(
            FailureReason.RATE_LIMITED, detail, retryable=True, retry_after=retry_after
        )
    if status >= 500:
        return DeliveryError(FailureReason.SERVER_ERROR, detail, retryable=True)
    if status in (401, 403):
        return DeliveryError(FailureReason.AUTH, detail, retryable=False)
    if 400 <= status < 500:
        return DeliveryError(FailureReason.CLIENT_ERROR, detail, retryable=False)
    return DeliveryError(FailureReason.OTHER, detail, retryable=False)


_DEFAULT_HTTP = HttpConfig()


def auth_headers(http: HttpConfig) -> dict[str, str]:
    """`authorization` / `bearer_token` / `basic_auth` as headers (oauth2 is fetched by
    HttpClient). Credentials are read at send time, so they are never part of a stored
    payload and a rotated file takes effect at once."""
    auth = http.auth
    if auth is not None:
        credentials = auth.credentials.reveal() if auth.credentials is not None else ""
        return {"Authorization": f"{auth.type} {credentials}".rstrip()}
    if http.basic_auth is not None:
        basic = http.basic_auth
        username = (Path(basic.username_file).read_text(encoding="utf-8").strip()
                    if basic.username_file else basic.username)
        pair = f"{username}:{basic.password.reveal()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}


def user_agent() -> str:
    return f"alert-router/{__version__}"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, an ellipsis marking a cut (vendor field limits)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cut_utf8(text: str, limit: int) -> tuple[str, bool]:
    """`text` within `limit` UTF-8 bytes, never splitting a character; True when cut
    (vendors counting bytes: SNS, Webex, WeChat)."""
    data = text.encode()
    if len(data) <= limit:
        return text, False
    return data[:limit].decode(errors="ignore"), True
