"""Dead letters: bounded per group, kept for `delivery.dead_retention`, counted.

A delivery that gave up (`max_attempts`, `max_age` or a permanent error) stays in the
outbox as a dead row. Without memory of it, the group's next flush of the same state
would queue a fresh row with a fresh budget: a receiver answering 401 forever got one
attempt and one dead row per `group_interval`. This index keeps, per group channel (the
notification log key), the newest dead row, and the delivery side's view of it says:

- same state, budget left (attempts < `max_attempts`, younger than `max_age`): the re-flush
  *joins* the dead row's budget: `revive` makes that row pending again (same id, attempts
  and age kept, the new content), so it is tried once more;
- same state, budget spent: `spent` is true and dedup queues nothing, until the state
  changes or `repeat_interval` has passed since the row was first queued; then `revive`
  gives the same row a fresh budget (still one row);
- a changed state is a new notification (a new row); a delivery of the group's channel,
  or a retry by hand, forgets the entry.

It also counts the dead rows kept per channel (`alert_router_outbox_dead{channel}`) and
removes the ones older than `delivery.dead_retention` (`collect_garbage`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from router.config.types import DeliveryConfig
from router.events.model import Event
from router.metrics import Metrics
from router.model import nflog_key
from router.storage import OutboxRow, Store


def _key(row: OutboxRow) -> str:
    return nflog_key(row.group_key, row.receiver, row.channel, row.index, row.recipient)


class DeadLetters:
    def __init__(self, store: Store, metrics: Metrics,
                 settings: Callable[[], DeliveryConfig]) -> None:
        self._store = store
        self._metrics = metrics
        self._settings = settings
        self._rows: dict[str, OutboxRow] = {}  # key -> newest dead row (payload dropped)
        self._counts: dict[str, int] = {}  # channel -> dead rows in the store

    def _count(self, channel: str, delta: int) -> None:
        n = self._counts[channel] = max(0, self._counts.get(channel, 0) + delta)
        self._metrics.child(self._metrics.outbox_dead, channel).set(n)

    async def restore(self) -> None:
        """Start-up: the newest dead row of each group channel, and the counts."""
        for row in await self._store.outbox_dead_latest():
            self._rows[_key(row)] = replace(row, payload=b"")
        for (channel, state), n in (await self._store.outbox_counts()).items():
            if state == "dead":
                self._count(channel, n)

    # --- what the delivery side tells -------------------------------------------------

    def died(self, row: OutboxRow, attempts: int, error: str) -> None:
        """`row` went dead after `attempts` attempts."""
        self._rows[_key(row)] = replace(row, payload=b"", attempts=attempts, last_error=error,
                                        state="dead")
        self._count(row.channel, 1)

    def delivered(self, row: OutboxRow) -> None:
        """A state of the group channel went out: its dead letter no longer holds it back."""
        self._rows.pop(_key(row), None)

    def requeued(self, row: OutboxRow) -> None:
        """A dead row went back to pending by hand (`POST /api/v1/deliveries/{id}/retry`)."""
        key = _key(row)
        if key in self._rows and self._rows[key].id == row.id:
            del self._rows[key]
        self._count(row.channel, -1)

    # --- the view of dedup and enqueue ------------------------------------------------

    def _budget_spent(self, dead: OutboxRow, now: float) -> bool:
        settings = self._settings()
        return dead.attempts >= settings.max_attempts or now - dead.created_at >= settings.max_age

    def _same(self, key: str, firing: frozenset[str], resolved: frozenset[str]
              ) -> OutboxRow | None:
        dead = self._rows.get(key)
        if dead is None or (dead.firing, dead.resolved) != (firing, resolved):
            return None
        return dead

    def spent(self, key: str, firing: frozenset[str], resolved: frozenset[str], now: float,
              repeat_interval: float) -> bool:
        """This state of the group channel went dead with its budget spent, and is not due
        for a repeat: queue nothing for it."""
        dead = self._same(key, firing, resolved)
        return (dead is not None and self._budget_spent(dead, now)
                and now < dead.created_at + repeat_interval)

    async def revive(self, row: OutboxRow, owner: str, until: float,
                     events: Sequence[Event] = ()) -> OutboxRow | None:
        """If `row`'s state is the dead row's of its group channel, make that row pending
        again with `row`'s content, leased to `owner`: with its own budget while some is
        left, else (a repeat is due) with a fresh one. None: `row` is a new notification."""
        key = _key(row)
        dead = self._same(key, row.firing, row.resolved)
        if dead is None:
            return None
        del self._rows[key]
        if self._budget_spent(dead, row.created_at):
            budget = replace(row, id=dead.id)  # fresh: attempts 0, created now
        else:
            budget = replace(row, id=dead.id, attempts=dead.attempts, created_at=dead.created_at)
        revived = await self._store.outbox_revive(budget, owner, until, events)
        if revived is not None:
            self._count(row.channel, -1)
        return revived

    # --- retention ----------------------------------------------------------------------

    async def collect_garbage(self, now: float) -> int:
        """Remove the dead rows created more than `dead_retention` ago; returns how many."""
        removed = await self._store.outbox_gc_dead(now - self._settings().dead_retention)
        ids = {row_id for row_id, _ in removed}
        for _, channel in removed:
            self._count(channel, -1)
        for key in [k for k, r in self._rows.items() if r.id in ids]:
            del self._rows[key]
        return len(removed)
