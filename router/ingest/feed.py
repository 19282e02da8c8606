"""AlertFeed: publish/subscribe of committed alert changes (Alertmanager's `Subscribe`).

The ingestor publishes each alert change after its commit, and each forgotten alert after
its deletion; the dispatcher (grouping) and the inhibitor's source index subscribe. Later
consumers (the live stream, a shared PostgreSQL backend) plug in behind the same feed, so
ingest never knows who listens. Subscribers run synchronously, in subscription order, on
the publishing task: they must be quick and must not block. One subscriber's exception is
logged (once per subscriber and cause a minute) and never stops the others.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from router.logs import RepeatLog
from router.model import Alert

log = logging.getLogger(__name__)


@dataclass(slots=True)  # not frozen: built per alert, frozen init costs
class AlertChange:
    """One committed change: a new or updated alert, or (alert None) a forgotten one."""

    fingerprint: str
    alert: Alert | None
    previous: Alert | None = None
    reopened: bool = False  # a resolved alert fires again: a new occurrence, route it anew
    restored: bool = False  # read back from the store at start-up, not a fresh arrival


Subscriber = Callable[[AlertChange], None]


class AlertFeed:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._subscribers: list[Subscriber] = []
        self._failures = RepeatLog(log, now)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Receive every change published from now on; returns the unsubscribe call."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, change: AlertChange) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(change)
            except Exception as exc:
                self._failures.failure("alert feed subscriber failed", exc, per=("subscriber",),
                                       subscriber=getattr(subscriber, "__qualname__", ""),
                                       fingerprint=change.fingerprint)
