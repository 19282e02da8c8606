"""Token buckets per delivery target: pace sends to what a provider accepts; never drop.

A bucket only answers "how long until the next send may start"; the delivery loop keeps
the waiting notifications in the durable outbox meanwhile. A provider's 429 pauses the
bucket until its Retry-After, then sends resume at the bucket's rate.
"""

from __future__ import annotations

from router.config.types import Pacing


class TokenBucket:
    __slots__ = ("_pacing", "_paused_until", "_tokens", "_updated")

    def __init__(self, pacing: Pacing | None, now: float) -> None:
        self._pacing = pacing
        self._tokens = float(pacing.burst) if pacing is not None else 0.0
        self._updated = now
        self._paused_until = 0.0

    @property
    def pacing(self) -> Pacing | None:
        return self._pacing

    def reconfigure(self, pacing: Pacing | None, now: float) -> None:
        """A reload changed the limit: keep what was spent, cap at the new burst."""
        if pacing == self._pacing:
            return
        self._refill(now)
        self._pacing = pacing
        if pacing is not None:
            self._tokens = min(self._tokens, float(pacing.burst))

    def _refill(self, now: float) -> None:
        if self._pacing is not None and now > self._updated:
            self._tokens = min(
                float(self._pacing.burst),
                self._tokens + (now - self._updated) * self._pacing.rate,
            )
        self._updated = max(self._updated, now)

    def delay(self, now: float) -> float:
        """Seconds until a send may start (0 means now)."""
        wait = max(0.0, self._paused_until - now)
        if self._pacing is None:
            return wait
        self._refill(now)
        if self._tokens < 1.0:
            wait = max(wait, (1.0 - self._tokens) / self._pacing.rate)
        return wait

    def take(self, now: float) -> None:
        """Spend one token (call only when `delay(now)` is 0)."""
        if self._pacing is not None:
            self._refill(now)
            self._tokens -= 1.0

    def pause_until(self, until: float, now: float) -> None:
        """The provider said "slow down": nothing starts before `until`; then one send,
        and the rest at the paced rate (no burst right after a 429)."""
        self._paused_until = max(self._paused_until, until)
        if self._pacing is not None:
            self._tokens = 1.0
            self._updated = max(self._updated, self._paused_until, now)
