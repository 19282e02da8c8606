"""The live stream over a real aiohttp client: SSE and WebSocket framing, exact resume
(Last-Event-ID, ?since=), events committed during the replay, reset past retention, a slow
client cut off while fast ones keep receiving, clean shutdown, and a restart on the same
database. The app runs on a fake clock; network waits are bounded with timeouts."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from conftest import post_alerts, v2_alert, wait_until
from fakeclock import FakeClock
from streamclient import SSE

from router.errors import StoreUnavailable
from router.events import follow as follow_module
from router.events.model import Event
from router.service import Service
from router.timefmt import format_time

CONFIG = """
route:
  receiver: team
  group_by: ['alertname']
  group_wait: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - receiver: team
receivers:
  - name: team
  - name: pager
stream:
  retention: 1h
  client_queue: 8
"""


async def sse(client: Any, query: str = "", **headers: str) -> SSE:
    resp = await client.get("/api/v1/stream" + query, headers=headers)
    assert resp.status == 200, await resp.text()
    return SSE(resp)


async def ws_json(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    async with asyncio.timeout(5):
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = msg.json()
    return data


async def test_sse_opens_then_sends_each_alert_change_as_it_commits(
        make_router: Any, clock: FakeClock) -> None:
    client, _ = await make_router(CONFIG)
    stream = await sse(client)
    assert stream.resp.headers["Content-Type"] == "text/event-stream"
    assert stream.resp.headers["Cache-Control"] == "no-cache"
    opened = await stream.event()
    assert (opened["event"], opened["id"], opened["data"]["data"]) == (
        "open", 0, {"head": 0, "cursor": 0})
    assert stream.retry == 2000
    alert = v2_alert("DiskFull", severity="critical", instance="db-1")
    alert |= {"annotations": {"summary": "disk"}, "generatorURL": "http://prom/graph"}
    await post_alerts(client, alert)
    firing = await stream.event()
    assert firing["event"] == "alert.firing"
    envelope = firing["data"]
    # Ids are the log's (shared with the decision trace): increasing, not contiguous.
    assert (envelope["id"], envelope["type"], envelope["time"]) == (
        firing["id"], "alert.firing", format_time(clock.now()))
    data = envelope["data"]
    assert data["labels"] == {"alertname": "DiskFull", "severity": "critical",
                              "instance": "db-1"}
    assert data["annotations"] == {"summary": "disk"}
    assert data["receivers"] == ["pager", "team"]
    assert len(data["groupKeys"]) == 2
    assert data["generatorURL"] == "http://prom/graph"
    assert data["startsAt"] == format_time(clock.now())
    assert data["status"] == "firing"
    fp = data["fingerprint"]
    await post_alerts(client, alert)  # an unchanged re-send is no event
    await post_alerts(client, v2_alert("DiskFull", severity="critical", instance="db-1",
                                       ends=clock.now() - 1))
    resolved = await stream.event()
    assert resolved["event"] == "alert.resolved"
    assert resolved["id"] > firing["id"]
    assert resolved["data"]["data"]["fingerprint"] == fp


async def commit(state: Service, n: int, name: str = "x") -> None:
    await state.store.append_events(
        [Event("alert.firing", state.clock.now(), {"n": f"{name}{i}"}) for i in range(n)])


async def test_resume_by_last_event_id_and_by_since(make_router: Any) -> None:
    client, state = await make_router(CONFIG)
    await commit(state, 4)
    by_header = await sse(client, **{"Last-Event-ID": "2"})
    by_query = await sse(client, "?since=2")
    # The browser's automatic reconnect sends the original URL and the newer header.
    both = await sse(client, "?since=0", **{"Last-Event-ID": "3"})
    for stream, first in ((by_header, 3), (by_query, 3), (both, 4)):
        opened = await stream.event()
        assert opened["event"] == "open"
        assert opened["data"]["data"]["cursor"] == first - 1
        assert [e["id"] for e in await stream.events(5 - first)] == list(range(first, 5))
    await commit(state, 1)
    for stream in (by_header, by_query, both):
        assert (await stream.event())["id"] == 5


async def test_events_committed_during_the_replay_arrive_exactly_once(
        make_router: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, state = await make_router(CONFIG)
    await commit(state, 5, "before")
    monkeypatch.setattr(follow_module, "PAGE", 2)  # a replay of several pages
    real_load = state.store.load_events
    calls = 0

    async def load_during_commits(after: int, query: Any, limit: int) -> list[Event]:
        nonlocal calls
        calls += 1
        if calls <= 3:
            await commit(state, 1, f"before-read{calls}-")  # in the page and in the queue
        page: list[Event] = await real_load(after, query, limit)
        if calls <= 3:
            await commit(state, 1, f"after-read{calls}-")  # in the queue (or a later page)
        return page

    monkeypatch.setattr(state.store, "load_events", load_during_commits)
    stream = await sse(client, "?since=0")
    assert (await stream.event())["event"] == "open"
    await commit(state, 1, "live")
    head = 5 + 6 + 1
    received = [e["id"] for e in await stream.events(head)]
    assert received == list(range(1, head + 1))
    assert calls > 3
    await commit(state, 1, "later")
    assert (await stream.event())["id"] == head + 1


async def test_a_cursor_older_than_retention_gets_reset_not_a_silent_replay(
        make_router: Any, clock: FakeClock) -> None:
    client, state = await make_router(CONFIG)
    await commit(state, 2, "old")
    await clock.advance(2 * 3600)  # past stream.retention (1h)
    await state.collect_garbage()
    await commit(state, 1, "new")
    kept = await sse(client, "?since=2")  # everything after 2 is still kept: no reset
    assert (await kept.event())["event"] == "open"
    assert (await kept.event())["id"] == 3
    for head, query, reason in ((3, "?since=1", "expired"), (4, "?since=99", "unknown")):
        stream = await sse(client, query)
        assert (await stream.event())["event"] == "open"
        reset = await stream.event()
        assert (reset["event"], reset["id"]) == ("reset", head)
        assert reset["data"]["data"] == {"head": head, "reason": reason}
        await commit(state, 1, "live")
        assert (await stream.event())["data"]["data"]["n"] == "live0"
    assert [e["id"] for e in await kept.events(2)] == [4, 5]


async def test_websocket_sends_the_same_envelopes_and_filters(make_router: Any) -> None:
    client, state = await make_router(CONFIG)
    await post_alerts(client, v2_alert("A", severity="warning"),
                      v2_alert("B", severity="critical"))
    ws = await client.ws_connect("/api/v1/stream/ws?since=0&receiver=pager&type=alert.")
    opened = await ws_json(ws)
    assert (opened["type"], opened["data"]["head"]) == ("open", 2)
    b = await ws_json(ws)
    assert (b["id"], b["type"], b["data"]["labels"]["alertname"]) == (2, "alert.firing", "B")
    stream = await sse(client, "?since=0")
    await stream.event()
    [first, second] = await stream.events(2)
    assert second["data"] == b  # byte for byte the same envelope as the SSE data
    assert first["data"]["data"]["labels"]["alertname"] == "A"
    await commit(state, 1)  # no receivers: not for ws
    await post_alerts(client, v2_alert("C", severity="critical"))
    assert (await ws_json(ws))["data"]["labels"]["alertname"] == "C"
    await ws.close()


async def test_websocket_from_another_origin_is_refused(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/api/v1/stream/ws", headers={"Origin": "https://evil.test"})
    assert err.value.status == 403
    host = f"http://{client.server.host}:{client.server.port}"
    ws = await client.ws_connect("/api/v1/stream/ws", headers={"Origin": host})
    assert (await ws_json(ws))["type"] == "open"
    await ws.close()


async def test_event_pages_and_bad_queries(make_router: Any) -> None:
    client, state = await make_router(CONFIG)
    await commit(state, 5)
    page = await (await client.get("/api/v1/events?since=1&limit=2")).json()
    assert [e["id"] for e in page["events"]] == [2, 3]
    assert (page["head"], page["trimmed"]) == (5, 0)
    for since, ids in (("latest", [5]), ("none", [])):
        page = await (await client.get(f"/api/v1/events?since={since}")).json()
        assert [e["id"] for e in page["events"]] == ids
    # One alert's events: its own, and its decision trace (a view of the same log).
    await post_alerts(client, v2_alert("A"), v2_alert("B"))
    await state.trace.flush()
    alerts = await (await client.get("/api/v1/alerts")).json()
    fp = next(a["fingerprint"] for a in alerts if a["labels"]["alertname"] == "A")
    page = await (await client.get(f"/api/v1/events?since=0&fingerprint={fp}")).json()
    assert [e["type"] for e in page["events"]] == ["alert.firing"]
    page = await (await client.get(f"/api/v1/events?since=0&fingerprint={fp}&type=trace.")
                  ).json()
    assert [e["type"] for e in page["events"]][:2] == ["trace.received", "trace.routed"]
    for query, path in (("?since=abc", "since"), ("?severity=loud", "severity"),
                        ("?limit=x", "limit")):
        resp = await client.get("/api/v1/events" + query)
        assert resp.status == 400
        assert (await resp.json())["path"] == path
    resp = await client.head("/api/v1/stream")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"


async def test_idle_streams_get_keepalives(make_router: Any, clock: FakeClock) -> None:
    client, _ = await make_router(CONFIG)
    stream = await sse(client)
    await stream.event()
    await clock.advance(15)
    assert await stream.next() == {"comment": "ka"}


async def test_a_slow_client_is_cut_off_while_fast_ones_keep_receiving(
        make_router: Any) -> None:
    client, state = await make_router(CONFIG)
    fast = await sse(client)
    await fast.event()
    ws = await client.ws_connect("/api/v1/stream/ws", max_msg_size=0)
    await ws_json(ws)
    # The slow client: a socket with a tiny receive window that never reads.
    loop = asyncio.get_running_loop()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.setblocking(False)
    await loop.sock_connect(slow, (client.server.host, client.server.port))
    await loop.sock_sendall(slow, b"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\n\r\n")
    hub = state.events
    await wait_until(lambda: hub.clients() == 3, "three streams")
    big = {"a": "x" * 50_000, "b": "y" * 50_000}
    for i in range(150):
        resp = await client.post("/api/v2/alerts", json=[
            {"labels": {"alertname": f"Big{i}"}, "annotations": big}])
        assert resp.status == 202  # ingest never waits for a stream
        sent = await fast.event()
        assert sent["data"]["data"]["labels"]["alertname"] == f"Big{i}"
        assert (await ws_json(ws))["data"]["labels"]["alertname"] == f"Big{i}"
    too_slow = state.metrics.stream_disconnects.labels("too_slow")
    await wait_until(lambda: too_slow._value.get() == 1, "the slow client cut off")
    assert hub.clients() == 2
    with pytest.raises((ConnectionError, OSError)):
        await drain(loop, slow)
    slow.close()
    await ws.close()


async def drain(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    """Read until the server ends the connection (reset, or a clean end: both raise)."""
    async with asyncio.timeout(5):
        while await loop.sock_recv(sock, 1 << 20):
            pass
        raise ConnectionResetError("ended")


async def test_shutdown_ends_sse_cleanly_and_closes_websockets_with_1012(
        make_router: Any) -> None:
    client, state = await make_router(CONFIG)
    stream = await sse(client)
    await stream.event()
    ws = await client.ws_connect("/api/v1/stream/ws")
    await ws_json(ws)
    closing = asyncio.ensure_future(client.server.close())
    assert await stream.next() is None  # a clean end: an EventSource reconnects
    async with asyncio.timeout(5):
        msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE
    assert msg.data == 1012
    await closing
    shutdown = state.metrics.stream_disconnects.labels("shutdown")
    assert shutdown._value.get() == 2


async def test_a_restart_on_the_same_database_keeps_cursors_valid(make_router: Any) -> None:
    first, _ = await make_router(CONFIG)
    await post_alerts(first, v2_alert("A"), v2_alert("B"))
    page = await (await first.get("/api/v1/events?since=0")).json()
    seen = page["events"][-1]["id"]  # B's
    await first.close()
    client, _ = await make_router(CONFIG)
    await post_alerts(client, v2_alert("C"))
    stream = await sse(client, f"?since={seen}")
    opened = await stream.event()
    assert opened["data"]["data"]["cursor"] == seen
    c = await stream.event()  # no reset, no replay of A or B
    assert c["event"] == "alert.firing"
    assert c["id"] > seen
    assert c["data"]["data"]["labels"]["alertname"] == "C"


async def test_notification_and_silence_events(make_router: Any, clock: FakeClock) -> None:
    client, _ = await make_router(CONFIG.replace(
        "  - name: team\n", "  - name: team\n    log_configs: [{}]\n").replace("1h", "1s", 1))
    stream = await sse(client, "?type=notification.,silence.")
    await stream.event()
    await post_alerts(client, v2_alert("A"))
    await clock.advance(1)  # group_wait: the group flushes, the log channel sends
    queued, sent = await stream.events(2)
    assert (queued["event"], sent["event"]) == ("notification.queued", "notification.sent")
    assert sent["data"]["data"]["receiver"] == "team"
    assert sent["data"]["data"]["channel"] == "log[0]"
    assert sent["data"]["data"]["deliveryId"]
    matchers = [{"name": "alertname", "value": "A", "isRegex": False, "isEqual": True}]
    body = {"matchers": matchers, "startsAt": format_time(clock.now()),
            "endsAt": format_time(clock.now() + 3600), "createdBy": "me", "comment": "c"}
    sid = (await (await client.post("/api/v2/silences", json=body)).json())["silenceID"]
    assert (await client.delete(f"/api/v2/silence/{sid}")).status == 200
    created, expired = await stream.events(2)
    assert (created["event"], expired["event"]) == ("silence.created", "silence.expired")
    assert created["data"]["data"]["id"] == sid


async def test_a_store_fault_ends_the_stream_instead_of_an_error_status(
        make_router: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, state = await make_router(CONFIG)

    async def unavailable() -> tuple[int, int]:
        raise StoreUnavailable("disk I/O error")

    monkeypatch.setattr(state.store, "event_bounds", unavailable)
    stream = await sse(client)  # 200: an EventSource would never retry after a 503
    assert await stream.next() is None
    assert stream.retry == 2000  # and it retries after 2 s
    store = state.metrics.stream_disconnects.labels("store")
    assert store._value.get() == 1


async def test_an_alert_that_resolves_by_time_is_announced_at_the_next_gc(
        make_router: Any, clock: FakeClock) -> None:
    client, state = await make_router(CONFIG)
    await post_alerts(client, v2_alert("Quiet"))  # no endsAt: resolve_timeout (5m) applies
    stream = await sse(client, "?type=alert.&since=0")
    await stream.event()
    firing = await stream.event()
    assert firing["event"] == "alert.firing"
    await clock.advance(4 * 60)
    await state.collect_garbage()  # still firing: nothing
    await clock.advance(2 * 60)
    await state.collect_garbage()
    await state.collect_garbage()  # once only
    resolved = await stream.event()
    assert resolved["event"] == "alert.resolved"
    data = resolved["data"]["data"]
    assert data["fingerprint"] == firing["data"]["data"]["fingerprint"]
    assert data["endsAt"] == format_time(clock.now() - 60)
    await post_alerts(client, v2_alert("Other"))
    assert (await stream.event())["data"]["data"]["labels"]["alertname"] == "Other"
