"""AggregationGroup: the alerts of one (route, group labels) pair and its flush state.

Owned by the Dispatcher (routing/grouping.py); flush policies (routing/policy.py) read
it. Its `batch` is the frozen snapshot a flush hands to the notify chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from router.config.types import Route
from router.model import Alert, Batch


@dataclass(slots=True, eq=False)
class AggregationGroup:
    key: str
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert] = field(default_factory=dict)
    next_flush: float = 0.0
    flushed: bool = False
    flushing: bool = False
    flush_again: bool = False  # fast_resolve asked for a flush while one was running
    sent: frozenset[str] = frozenset()  # alerts of the last flush the notifier accepted

    def batch(self, now: float, alerts: Iterable[Alert] | None = None) -> Batch:
        return Batch(
            group_key=self.key,
            route_id=self.route.id,
            receiver=self.route.receiver,
            group_labels=self.labels,
            alerts=tuple(self.alerts.values() if alerts is None else alerts),
            now=now,
            repeat_interval=self.route.repeat_interval,
            group_interval=self.route.group_interval,
        )
