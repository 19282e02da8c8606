"""The delivery policy: what a failed attempt means, and when to try again.

One policy serves every channel. Channels classify their own errors into a
`DeliveryError` (reason, retryable, Retry-After); this module decides from it: a rate
limit pauses the target and keeps the row's attempts, and so does a connection failure
(the target's circuit backs off instead, see circuit.py); a permanent error, `max_attempts` or
`max_age` makes the row dead; anything else is retried after exponential backoff with full
jitter and a cap, never sooner than a Retry-After.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from router.channels.base import Channel, SendContext
from router.config.secrets import scrub, secret_values
from router.config.types import DeliveryConfig
from router.errors import DeliveryError, FailureReason
from router.model import NflogEntry
from router.storage import OutboxRow


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a row after a failed attempt."""

    dead: bool
    attempts: int
    pause_target: bool = False  # a rate limit: pause the target for Retry-After
    delay: float = 0.0  # seconds until the next attempt (not for a pause: see Scheduler)


def backoff(settings: DeliveryConfig, rng: random.Random, attempts: int,
            retry_after: float | None) -> float:
    """Exponential backoff with full jitter, capped; never sooner than Retry-After."""
    ceiling = min(settings.backoff_cap, settings.backoff_base * 2 ** (attempts - 1))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


def judge(settings: DeliveryConfig, rng: random.Random, row: OutboxRow, err: DeliveryError,
          now: float, circuit_open: bool = False) -> Verdict:
    too_old = now - row.created_at >= settings.max_age
    if circuit_open and not too_old:
        # The receiver is unreachable: its circuit decides when the next probe goes, and
        # an outage alone never makes a row dead (only max_age does). The short delay
        # lets another row be the next probe, so one payload cannot block the target.
        return Verdict(dead=False, attempts=row.attempts,
                       delay=backoff(settings, rng, row.attempts + 1, err.retry_after))
    if err.reason == FailureReason.RATE_LIMITED and not too_old:
        # "Slow down" is not a failure of the notification: it keeps its attempts.
        return Verdict(dead=False, attempts=row.attempts, pause_target=True)
    attempts = row.attempts + 1
    if not err.retryable or attempts >= settings.max_attempts or too_old:
        return Verdict(dead=True, attempts=attempts)
    return Verdict(dead=False, attempts=attempts,
                   delay=backoff(settings, rng, attempts, err.retry_after))


def gone(row: OutboxRow) -> DeliveryError:
    """The error of a row whose receiver or channel left the configuration."""
    return DeliveryError(FailureReason.CLIENT_ERROR,
                         "receiver or channel no longer in the configuration", retryable=False)


def timeout_for(channel: Channel, settings: DeliveryConfig) -> float:
    """A channel entry's own `timeout` wins over delivery.timeout (channels keep their
    config dataclass as `cfg`)."""
    own = getattr(getattr(channel, "cfg", None), "timeout", None)
    return float(own) if own else settings.timeout


def send_context(channel: Channel, row: OutboxRow, previous: NflogEntry | None,
                 settings: DeliveryConfig) -> SendContext:
    """What one attempt of `row` tells its channel: the group's remembered state, and who
    the delivery is (its id, age, group, and whether an earlier attempt may have arrived)."""
    return SendContext(
        timeout=timeout_for(channel, settings),
        state=dict(previous.data) if previous is not None else {},
        all_resolved=row.all_resolved, delivery_id=row.id, created_at=row.created_at,
        group_key=row.group_key, in_doubt=row.in_doubt)


def already_delivered(previous: NflogEntry | None, row: OutboxRow) -> bool:
    """This exact state was delivered after the row was queued (e.g. a row restored after
    a restart): sending it again would be a duplicate."""
    return (
        previous is not None
        and previous.sent_at >= row.created_at
        and (previous.firing, previous.resolved) == (row.firing, row.resolved)
    )


def scrubbed(err: DeliveryError, channel: Channel) -> DeliveryError:
    """`err` without any of the channel's secrets: a vendor may echo a URL or a header."""
    message = scrub(err.message, secret_values(getattr(channel, "cfg", None)))
    if message == err.message:
        return err
    return err.with_message(message)


def channel_bug(exc: Exception, channel: Channel) -> DeliveryError:
    """A channel's unexpected exception (a bug of ours) as a failure retried like any
    other, without the channel's secrets (its text may quote a URL that holds one)."""
    return scrubbed(DeliveryError(FailureReason.OTHER, repr(exc), retryable=True), channel)
