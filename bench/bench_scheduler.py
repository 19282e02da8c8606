"""The delivery scheduler draining a paced backlog: one target, N queued rows.

After an outage a target's whole backlog waits for its bucket's tokens; every token
spent must cost O(1) (or O(log N)) of event-loop time, not a walk of the queue. Drives
router.delivery.scheduler.Scheduler directly on a hand-stepped clock (no store, no
network), so the figure is the scheduler's own work per send.

    python bench/bench_scheduler.py --rows 1000 4000 8000
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from router.config.types import DeliveryConfig, Pacing
from router.delivery.scheduler import Scheduler
from router.metrics import Metrics
from router.storage.protocols import OutboxRow


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


@dataclass
class Paced:
    """A channel stand-in: one target, 100 sends a second, bursts of 10."""

    kind: str = "webhook"
    send_resolved: bool = True
    target: str = "webhook:bench"
    pacing: Pacing | None = field(default_factory=lambda: Pacing(rate=100.0, burst=10))


def drain(rows: int) -> float:
    clock = Clock()
    channel = Paced()
    scheduler = Scheduler(clock, Metrics(CollectorRegistry()), lambda _r, _c, _i: channel,  # type: ignore[arg-type,return-value]
                          lambda _row, _waited: None, DeliveryConfig)
    for i in range(rows):
        scheduler.track(OutboxRow(i + 1, "r", "webhook", 0, f"g{i}", b"{}", frozenset(),
                                  frozenset(), "first", 2, clock.t, clock.t))
    sent = 0
    started = time.perf_counter()
    while sent < rows:
        scheduler.promote(clock.t)
        for row, key in scheduler.take_ready(64, clock.t):
            scheduler.finished(row.id, key)
            scheduler.untrack(row)
            sent += 1
        wake = scheduler.next_wake()
        clock.t = wake if wake is not None and wake > clock.t else clock.t + 0.001
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 4000, 8000])
    args = parser.parse_args()
    for rows in args.rows:
        seconds = drain(rows)
        print(f"rows={rows:6d}  drain={seconds * 1000:8.1f} ms  "
              f"per send={seconds / rows * 1e6:7.1f} us")


if __name__ == "__main__":
    main()
