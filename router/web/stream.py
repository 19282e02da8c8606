"""The event log over HTTP: a page of events, and the live stream as Server-Sent Events
and as WebSocket, with the same query and the same JSON envelopes.

Every stream registers with the EventHub first, then follows `router.events.follow` (open,
exact replay or reset, live). Once a stream has answered 200 it never turns into an error
status: a store fault, a slow client or a shutdown ends it (SSE: a clean end, so an
EventSource reconnects with `Last-Event-ID`; WebSocket: close 1011, 1013 or 1012). Once
caught up, a stream is written by the EventHub straight to its transport (no task per
event); a client whose unsent bytes pass `stream.client_buffer` is cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

from aiohttp import HttpVersion11, WSCloseCode, WSMsgType, web

from router.errors import StoreUnavailable
from router.events import frames
from router.events.follow import Batch, Since, catch_up
from router.events.hub import CLIENT, SHUTDOWN, TOO_SLOW, StreamClosed, Subscription
from router.events.hub import STORE as STORE_DOWN
from router.events.model import SEVERITIES, EventQuery
from router.web.errors import RequestError
from router.web.keys import CLOCK, EVENTS, STORE
from router.web.session import origin_allowed

log = logging.getLogger(__name__)

MAX_PAGE = 1000
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no"}
_WS_CODES = {SHUTDOWN: WSCloseCode.SERVICE_RESTART, TOO_SLOW: WSCloseCode.TRY_AGAIN_LATER}


def _query(request: web.Request) -> EventQuery:
    q = request.query
    types = tuple(t for value in q.getall("type", []) for t in value.split(",") if t)
    severity = q.get("severity", "")
    if severity and severity not in SEVERITIES:
        raise RequestError(f"severity must be one of {', '.join(SEVERITIES)}", "severity")
    return EventQuery(types=types, receiver=q.get("receiver", ""), severity=severity,
                      fingerprint=q.get("fingerprint", ""))


def _since(request: web.Request, default: str) -> Since:
    # The browser's automatic reconnect sends the header with the original URL, whose
    # `since` is older: the header wins.
    text = request.headers.get("Last-Event-ID") or request.query.get("since") or default
    try:
        return Since.parse(text.strip())
    except ValueError as exc:
        raise RequestError(str(exc), "since") from None


async def get_events(request: web.Request) -> web.Response:
    """GET /api/v1/events: a page of events after `since`, and `head` (the newest id)."""
    since = _since(request, "0")
    try:
        limit = max(1, min(int(request.query.get("limit", "100")), MAX_PAGE))
    except ValueError:
        raise RequestError("limit must be an integer", "limit") from None
    query, store = _query(request), request.app[STORE]
    trimmed, head = await store.event_bounds()
    cursor = await since.cursor_in(store, query, head, request.app[CLOCK].now())
    events = await store.load_events(cursor, query, limit)
    return web.json_response({"events": [e.envelope() for e in events], "head": head,
                              "trimmed": trimmed})


Send = Callable[[Batch], Awaitable[None]]
# A connection cut for being too slow is closed gracefully (what it has buffered may still
# drain) but aborted after this many seconds if it does not.
SLOW_GRACE = 5.0
USER_TIMEOUT = 120.0  # seconds unacknowledged data may wait (aiohttp-sse's choice)


async def _serve(request: web.Request, sub: Subscription, since: Since, send: Send) -> str:
    """Catch up through `send` (aiohttp's writer), then go live on the transport and wait
    until the stream ends; returns why it ended."""
    try:
        cursor = 0
        async for batch in catch_up(request.app[STORE], sub, since, request.app[CLOCK]):
            await send(batch)
            cursor = batch[-1][0].id
        transport = request.transport
        if transport is None:
            return CLIENT
        _give_up_on_silent_peers(transport)
        sub.go_live(transport, cursor)
        return await sub.wait_closed()
    except StreamClosed as exc:
        return exc.reason
    except StoreUnavailable:
        return STORE_DOWN
    except ConnectionError:  # the client went away (aiohttp raises ConnectionResetError)
        return CLIENT


def _give_up_on_silent_peers(transport: asyncio.BaseTransport) -> None:
    """A peer that vanished without a FIN or RST (a laptop closed) acknowledges nothing: let
    the kernel drop the connection after USER_TIMEOUT instead of retrying for ~15 minutes
    (the next keepalive then finds it closed and the stream ends)."""
    sock = transport.get_extra_info("socket")
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if sock is not None and option is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, option, int(USER_TIMEOUT * 1000))


def _cut_when_slow(request: web.Request, sub: Subscription, goodbye: bytes = b"") -> None:
    """A client too slow to keep up cannot be waited for: say goodbye (WebSocket: close
    1013) behind what it has buffered, close, and abort if it never drains."""
    def on_close(reason: str) -> None:
        transport = request.transport
        if reason != TOO_SLOW or transport is None or transport.is_closing():
            return
        if goodbye:
            transport.write(goodbye)
        transport.close()
        asyncio.get_running_loop().call_later(SLOW_GRACE, transport.abort)
    sub.on_close = on_close


async def get_stream(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stream: Server-Sent Events."""
    query, since = _query(request), _since(request, "none")
    if request.method == "HEAD":
        return web.Response(headers=_SSE_HEADERS)
    if request.version < HttpVersion11:  # live writes are HTTP/1.1 chunks
        raise RequestError("the event stream needs HTTP/1.1", "", 400)
    hub = request.app[EVENTS]
    sub = hub.subscribe(query, frames.SSE)
    _cut_when_slow(request, sub)
    resp = web.StreamResponse(headers=_SSE_HEADERS)
    resp.enable_chunked_encoding()  # live writes are framed as chunks (router/events/frames)
    reason = CLIENT
    try:
        await resp.prepare(request)

        async def send(batch: Batch) -> None:
            await resp.write(b"".join(frames.sse_event(e, p) for e, p in batch))

        await resp.write(b"retry: 2000\n\n")
        reason = await _serve(request, sub, since, send)
    except ConnectionError:
        reason = CLIENT
    finally:
        hub.unsubscribe(sub, reason)
    return resp


async def get_stream_ws(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/stream/ws: the same envelopes as WebSocket text frames."""
    query, since = _query(request), _since(request, "none")
    if not origin_allowed(request):
        raise RequestError("cross-origin WebSocket refused", "Origin", 403)
    # No compression: live frames are built once and shared by every client.
    ws = web.WebSocketResponse(max_msg_size=64 * 1024, autoping=True, compress=False)
    if not ws.can_prepare(request).ok:
        raise RequestError("expected a WebSocket upgrade", "Upgrade", 400)
    hub = request.app[EVENTS]
    sub = hub.subscribe(query, frames.WS)
    _cut_when_slow(request, sub, frames.ws_close(WSCloseCode.TRY_AGAIN_LATER, TOO_SLOW))
    reason = CLIENT
    reader: asyncio.Task[None] | None = None
    try:
        await ws.prepare(request)
        reader = asyncio.create_task(_read_until_closed(ws, lambda: hub.close(sub, CLIENT)))

        async def send(batch: Batch) -> None:
            for _event, payload in batch:
                await ws.send_frame(payload, WSMsgType.TEXT)

        reason = await _serve(request, sub, since, send)
        if not ws.closed and reason != TOO_SLOW:
            code = _WS_CODES.get(reason, WSCloseCode.INTERNAL_ERROR)
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                async with asyncio.timeout(2):
                    await ws.close(code=code, message=reason.encode())
    except ConnectionError:
        reason = CLIENT
    finally:
        hub.unsubscribe(sub, reason)
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
    return ws


async def _read_until_closed(ws: web.WebSocketResponse, closed: Callable[[], None]) -> None:
    """Reads (and ignores) client frames so pings, pongs and the close handshake are
    processed; when the client closes, its subscription ends."""
    async for _msg in ws:
        pass
    closed()
