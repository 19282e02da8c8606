"""What every channel shares, whatever its transport: the Channel protocol, SendContext,
DeliveryError and its FailureReason, and secret-free naming of targets and vendor answers.

Channels render once (pure) and send many times; they never retry by themselves. Nothing
here names aiohttp: a channel gets its transport when it is built (router.channels.http
for the HTTP vendors), so SMTP, the log and any later transport fit the same protocol.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from router.config.secret_types import Secret
from router.config.types import Pacing
from router.errors import DeliveryError, FailureReason
from router.model import Notification

_EXCERPT = 200


@dataclass(frozen=True, slots=True)
class SendContext:
    """What one attempt needs beyond the payload; the transport came at construction."""

    timeout: float  # per-attempt seconds
    # Data remembered from the last successful delivery to this group (e.g. Slack ts/channel).
    state: Mapping[str, str]
    all_resolved: bool
    delivery_id: int = 0  # the outbox row: the same id on every attempt (0: none)
    created_at: float = 0.0  # when the delivery was first queued (epoch seconds)
    group_key: str = ""
    # An earlier attempt's outcome is unknown (its process died mid-send): the vendor may
    # already show it. A channel that can find that send adopts it instead of repeating it.
    in_doubt: bool = False


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


@runtime_checkable
class FanOut(Protocol):
    """A channel whose notification goes to recipients registered at run time (Web Push
    subscriptions): the enqueue stage queues one outbox row per recipient, so each has its
    own pacing target, retries and dead letter, and a retry never re-sends to a recipient
    that already got it. A recipient id is never a secret (it names no endpoint)."""

    def recipients(self, receiver: str) -> list[str]:
        """The recipient ids registered for `receiver` now."""
        ...

    def for_recipient(self, recipient: str) -> Channel:
        """The channel that sends one recipient's row (its target names that recipient)."""
        ...


def key_hash(group_key: str) -> str:
    """Alertmanager's `notify.Key.Hash()`: the SHA-256 of the group key, in hex. Vendors
    that de-duplicate by it (PagerDuty, OpsGenie, VictorOps, Jira, SNS FIFO) keep a migrated
    team's open incidents."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def reveal(secret: Secret, what: str) -> str:
    """`secret`'s value, read at send time: a file that cannot be read (missing, not
    UTF-8) is a retryable failure saying "cannot read <what>". The message names no path:
    an operator finds it in the config."""
    try:
        return secret.reveal()
    except (OSError, UnicodeDecodeError):
        raise DeliveryError(FailureReason.OTHER, f"cannot read {what}", retryable=True) from None


def json_object(text: str) -> dict[str, Any] | None:
    """A vendor answer's JSON object; None when the body is not JSON or not an object."""
    try:
        answer = json.loads(text)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def excerpt(body: str, limit: int = _EXCERPT) -> str:
    """A short single-line excerpt of a vendor's response body for error messages."""
    flat = " ".join(body.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def target_id(kind: str, *parts: str | Secret | None) -> str:
    """A stable pacing-target name that does not reveal the secrets it is made of. A
    Secret counts by its file's path when it has one (not read here), else by its value;
    None counts as ""."""
    texts = [(p.file or p.reveal()) if isinstance(p, Secret) else (p or "") for p in parts]
    digest = hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]
    return f"{kind}:{digest}"
