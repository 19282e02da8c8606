"""A small Server-Sent Events reader for the stream tests (a real aiohttp response)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class SSE:
    """Reads `resp.content` line by line into events: {"id", "event", "data"} (data
    parsed as JSON), {"comment": text} for a comment, None at the end of the stream."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.retry: int | None = None

    async def next(self, seconds: float = 5.0) -> dict[str, Any] | None:
        fields: dict[str, Any] = {}
        async with asyncio.timeout(seconds):
            while True:
                raw = await self.resp.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if not line:
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if not name:
                    return {"comment": value}
                if name == "retry":
                    self.retry = int(value)
                elif name == "data":
                    fields["data"] = json.loads(value)
                else:
                    fields[name] = int(value) if name == "id" else value

    async def event(self, seconds: float = 5.0) -> dict[str, Any]:
        """The next event, skipping comments; fails at the end of the stream."""
        while True:
            item = await self.next(seconds)
            assert item is not None, "the stream ended"
            if "comment" not in item:
                return item

    async def events(self, n: int) -> list[dict[str, Any]]:
        return [await self.event() for _ in range(n)]
