"""What every channel shares: the Channel protocol, DeliveryError and HTTP classification.

Channels render once (pure) and send many times; they never retry by themselves.
"""

from __future__ import annotations

import email.utils
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from router.config.types import Pacing
from router.errors import DeliveryError, FailureReason
from router.model import Notification

_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class SendContext:
    session: aiohttp.ClientSession
    timeout: float  # per-attempt seconds
    # Data remembered from the last successful delivery to this group (e.g. Slack ts/channel).
    state: Mapping[str, str]
    all_resolved: bool


class Channel(Protocol):
    kind: str
    send_resolved: bool
    @property
    def target(self) -> str:
        """The destination a provider rate-limits (a Slack channel, a PagerDuty routing
        key, a Twilio sender): its deliveries share one token bucket. Never a secret in
        clear: build it with `target_id`."""

    @property
    def pacing(self) -> Pacing | None:
        """The bucket's rate and burst; None: unpaced."""

    def render(self, n: Notification) -> bytes:
        """Pure; a template failure falls back to a plain rendering instead of raising."""
        ...

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        """Deliver `payload`; return state to remember (may be {}); raise DeliveryError."""
        ...


def excerpt(body: str, limit: int = _EXCERPT) -> str:
    """A short single-line excerpt of a vendor's response body for error messages."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


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


async def post_json(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    timeout: float,  # noqa: ASYNC109 - handed to aiohttp's ClientTimeout, per attempt
    endpoint: str = "endpoint",
) -> tuple[int, dict[str, str], str]:
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


def target_id(kind: str, *parts: str) -> str:
    """A stable pacing-target name that does not reveal the secrets it is made of."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]
    return f"{kind}:{digest}"
