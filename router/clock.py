"""Time and sleeping behind one seam: `SystemClock` in production; tests drive
`tests/fakeclock.py`'s FakeClock through the same `Clock` protocol."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch (UTC)."""

    async def sleep(self, seconds: float) -> None: ...

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        """Wait for `event` or `seconds` (None: forever); True if the event was set."""


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    async def wait(self, event: asyncio.Event, seconds: float | None) -> bool:
        if event.is_set():
            return True
        try:
            async with asyncio.timeout(None if seconds is None else max(0.0, seconds)):
                await event.wait()
        except TimeoutError:
            return False
        return True
