"""Wire framing of events, built once per event (or batch) and shared by every client:
SSE (`id:`/`event:`/`data:` inside an HTTP/1.1 chunk) and WebSocket text frames (server
frames are never masked or compressed), written straight to each client's transport."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from router.events.model import Event

SSE, WS = "sse", "ws"
SSE_KEEPALIVE = b":ka\n\n"
WS_PING = b"\x89\x00"


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (the SSE response is chunked: aiohttp ends it with `0\\r\\n\\r\\n`)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def sse_event(event: Event, payload: bytes) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.type.encode(), payload)


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


def ws_close(code: int, reason: str) -> bytes:
    return ws_frame(struct.pack("!H", code) + reason.encode()[:120], 0x8)


def frames(transport: str, batch: Sequence[tuple[Event, bytes]]) -> bytes:
    """The bytes that carry `batch` to one client of `transport`."""
    if transport == SSE:
        return chunk(b"".join(sse_event(e, p) for e, p in batch))
    return b"".join(ws_frame(p) for _, p in batch)


def keepalive(transport: str) -> bytes:
    return chunk(SSE_KEEPALIVE) if transport == SSE else WS_PING
