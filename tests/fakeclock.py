"""FakeClock: the `Clock` protocol for tests; time moves only when a test says so."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    """A clock that only moves when a test calls `advance`; sleepers wake in time order."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def _timer(self, seconds: float) -> asyncio.Future[None]:
        """A future that `advance` resolves; its deadline is fixed now, at the call."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), fut))
        return fut

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        await self._timer(seconds)

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        if event.is_set():
            return True
        waiter: asyncio.Future[object] = asyncio.ensure_future(event.wait())
        tasks: set[asyncio.Future[object]] = {waiter}
        if seconds is not None:
            timer = self._timer(max(0.0, seconds))
            tasks.add(timer)  # type: ignore[arg-type]
            if seconds <= 0:
                timer.set_result(None)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
        return event.is_set()

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper that falls due, in order."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            if not fut.done():
                fut.set_result(None)
            await settle()
        self._now = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready callbacks run (tests use this after driving the fake clock)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
