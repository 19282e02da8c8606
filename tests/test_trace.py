"""The decision trace, `GET /api/v1/alerts/{fingerprint}/trace`, through the real app: for a
delivered, a silenced, an inhibited and a paced alert it says exactly what happened and why.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from channels.fakes import start_fake
from conftest import (
    api_matcher,
    create_silence,
    post_alerts,
    run_until,
    v2_alert,
    wait_until,
)
from fakeclock import FakeClock, settle
from pytest_aiohttp import AiohttpServer

from router.model import fingerprint
from router.timefmt import format_time, parse_time

T0 = parse_time("2026-07-01T03:00:00Z") or 0.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


def config(url: str, extra: str = "") -> str:
    return f"""
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
  routes:
    - receiver: hook
      matchers: [team="db"]
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
{extra}
"""


def fp(name: str, **labels: str) -> str:
    return fingerprint({"alertname": name, **labels})


Events = list[tuple[str, dict[str, str]]]


async def trace(client: TestClient[Any, Any], fingerprint_: str) -> Events:
    resp = await client.get(f"/api/v1/alerts/{fingerprint_}/trace")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["fingerprint"] == fingerprint_
    return [(e["kind"], e["detail"]) for e in body["events"]]


def kinds(events: Events) -> list[str]:
    return [k for k, _ in events]


async def test_delivered_alert_trace_from_receipt_to_notification(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock
) -> None:
    fake = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(fake.url))
    await post_alerts(client, v2_alert("DiskFull", team="db"))
    await run_until(state, clock, T0 + 10)
    assert len(fake.requests) == 1

    resp = await client.get(f"/api/v1/alerts/{fp('DiskFull', team='db')}/trace")
    body = await resp.json()
    assert body["alert"]["labels"] == {"alertname": "DiskFull", "team": "db"}
    assert [e["at"] for e in body["events"]] == [format_time(T0)] * 2 + [
        format_time(T0 + 10)] * 2
    group = '{}/{team="db"}:{alertname="DiskFull"}'
    events = await trace(client, fp("DiskFull", team="db"))
    assert kinds(events) == ["received", "routed", "queued", "notified"]
    received, routed, queued, notified = (d for _, d in events)
    assert received["source"] == "api"
    assert received["status"] == "firing"
    assert (routed["route"], routed["receiver"], routed["group"]) == (
        '{}/{team="db"}', "hook", group)
    assert routed["flush_in"] == "10s"
    for detail in (queued, notified):
        assert (detail["channel"], detail["status"], detail["reason"]) == (
            "webhook[0]", "firing", "first notification")
    assert queued["group"] == group

    # A resolution is traced too, with its own reason.
    await post_alerts(client, v2_alert("DiskFull", team="db", starts=T0, ends=T0 + 10))
    await run_until(state, clock, T0 + 70)
    events = await trace(client, fp("DiskFull", team="db"))
    assert kinds(events)[4:] == ["received", "queued", "notified"]
    assert events[4][1]["status"] == "resolved"
    assert (events[-1][1]["status"], events[-1][1]["reason"]) == (
        "resolved", "all alerts resolved")


async def test_silenced_alert_trace_names_the_silence(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock
) -> None:
    fake = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(fake.url))
    sid = await create_silence(client, [api_matcher("alertname", "DiskFull")], T0, T0 + 3600)
    await post_alerts(client, v2_alert("DiskFull"))
    await run_until(state, clock, T0 + 130)  # three flushes, all silenced
    assert fake.requests == []
    events = await trace(client, fp("DiskFull"))
    # Only the change is traced, not every flush that keeps it muted.
    assert kinds(events) == ["received", "routed", "muted"]
    assert events[2][1] == {"group": '{}:{alertname="DiskFull"}', "receiver": "hook",
                            "reason": "silence", "silence": sid}

    assert (await client.delete(f"/api/v2/silence/{sid}")).status == 200
    await run_until(state, clock, T0 + 190)
    events = await trace(client, fp("DiskFull"))
    assert kinds(events)[3:] == ["unmuted", "queued", "notified"]
    assert events[3][1]["was"] == "silence"
    assert len(fake.requests) == 1


async def test_inhibited_alert_trace_names_the_inhibiting_alert(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock
) -> None:
    rule = """
inhibit_rules:
  - source_matchers: [alertname="JobDown"]
    target_matchers: [alertname="InstanceDown"]
    equal: [job]
"""
    fake = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(fake.url, rule))
    await post_alerts(client, v2_alert("JobDown", job="api"),
                      v2_alert("InstanceDown", job="api", instance="a1"))
    await run_until(state, clock, T0 + 10)
    events = await trace(client, fp("InstanceDown", job="api", instance="a1"))
    assert kinds(events) == ["received", "routed", "muted"]
    assert events[2][1]["reason"] == "inhibition"
    assert events[2][1]["inhibited_by"] == fp("JobDown", job="api")
    # The source itself was delivered, and it is all the webhook received.
    assert kinds(await trace(client, fp("JobDown", job="api")))[-1] == "notified"
    [request] = fake.requests
    assert [a["labels"] for a in request.json()["alerts"]] == [
        {"alertname": "JobDown", "job": "api"}]


async def test_paced_alert_trace_says_it_waited_for_pacing(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    text = f"""
route:
  receiver: chat
  group_by: [alertname]
  group_wait: 10s
receivers:
  - name: chat
    slack_configs:
      - api_url: {fake.url}
        pacing: {{rate: 1, burst: 1}}
"""
    client, state = await make_router(text)
    await post_alerts(client, v2_alert("First"), v2_alert("Second"))
    await clock.advance(10)
    await wait_until(lambda: len(fake.requests) == 1, "the first message")
    await settle()
    await clock.advance(0.999)
    assert len(fake.requests) == 1  # the second group waits for the next token
    await clock.advance(0.001)
    await wait_until(lambda: len(fake.requests) == 2, "the paced message")

    async with asyncio.timeout(5):
        await state.delivery.wait_idle()
    traces = {name: await trace(client, fp(name)) for name in ("First", "Second")}
    paced = [name for name, t in traces.items() if "deferred" in kinds(t)]
    assert len(paced) == 1, traces
    events = traces[paced[0]]
    assert kinds(events) == ["received", "routed", "queued", "deferred", "notified"]
    deferred = events[3][1]
    assert (deferred["cause"], deferred["channel"], deferred["waited"]) == (
        "pacing", "slack[0]", "1.000s")


async def test_unknown_fingerprint_is_404(make_router: Any, aiohttp_server: AiohttpServer
                                          ) -> None:
    fake = await start_fake(aiohttp_server, "webhook")
    client, _ = await make_router(config(fake.url))
    resp = await client.get("/api/v1/alerts/0123456789abcdef/trace")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


async def test_the_ring_keeps_the_newest_events(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock
) -> None:
    fake = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(fake.url))
    state.trace.cap = 4
    for i in range(6):
        alert = v2_alert("Flappy")
        alert["annotations"] = {"summary": f"update {i}"}
        await post_alerts(client, alert)
    events = await trace(client, fp("Flappy"))
    # received, routed, then five updates: only the last four are kept.
    assert kinds(events) == ["received"] * 4
    assert [d["change"] for _, d in events] == ["updated"] * 4
