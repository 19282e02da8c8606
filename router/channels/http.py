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
import time
from collections.abc import Mapping

import aiohttp

from router import __version__
from router.channels.base import excerpt
from router.config.types import HttpConfig
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
    """

    __slots__ = ("_session",)

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        self._session = session

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
    ) -> Response:
        """`post_json` through the shared session."""
        return await post_json(self.session, url, body, headers=headers, timeout=timeout,
                               endpoint=endpoint)

    def __repr__(self) -> str:
        return f"HttpClient(started={self.started})"


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - handed to aiohttp's ClientTimeout, per attempt
    endpoint: str = "endpoint",
) -> Response:
    """POST `body`; return (status, headers, text). Transport failures become DeliveryError.

    `endpoint` names the target in messages ("slack endpoint"): the URL itself is never
    quoted because it may embed a token, and aiohttp's own messages contain it, so the
    original exception is not chained either.
    """
    try:
        async with session.post(
            url,
            data=body,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
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


def _header(headers: Mapping[str, str], name: str) -> str | None:
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
    retry_after = parse_retry_after(_header(headers, "Retry-After"), now)
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


def auth_headers(http: HttpConfig) -> dict[str, str]:
    """Credentials are read at send time so they are never part of a stored payload."""
    if http.bearer_token is not None:
        return {"Authorization": f"Bearer {http.bearer_token.reveal()}"}
    if http.basic_auth is not None:
        pair = f"{http.basic_auth.username}:{http.basic_auth.password.reveal()}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
    return {}


def user_agent() -> str:
    return f"alert-router/{__version__}"


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters, an ellipsis marking a cut (vendor field limits)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
