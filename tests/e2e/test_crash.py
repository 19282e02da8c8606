"""SIGKILL during delivery: after a restart on the same database every alert arrives, and
none that the receiver had already acknowledged is sent again (at-least-once, no repeats).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import FakeFactory, FakeReceiver, Recorded, RouterFactory, rfc3339, wait_until

N_ALERTS = 20
SLOW_ANSWER = 2.0  # seconds the receiver holds each delivery before the kill
CONCURRENCY = 4  # deliveries in flight at once: the kill lands between two rounds
# A 200 written this close to the kill may not have been committed by the router yet;
# such a delivery may legitimately be repeated.
ACK_GRACE = 0.3

pytestmark = pytest.mark.timeout(150)


def config(url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "hook",
            "group_by": ["..."],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": url, "send_resolved": True}]},
        ],
        "delivery": {"timeout": "10s", "concurrency": CONCURRENCY},
    }


def alert(i: int) -> dict[str, Any]:
    return {
        "labels": {"alertname": f"CrashTest{i:02d}", "severity": "warning", "job": "e2e"},
        "annotations": {"summary": f"alert number {i}"},
        "startsAt": rfc3339(),
        "generatorURL": "http://prometheus.example/graph",
    }


def alertnames(rec: Recorded) -> list[str]:
    body = rec.body if isinstance(rec.body, dict) else {}
    return [a["labels"]["alertname"] for a in body.get("alerts", [])]


def deliveries_by_alert(fake: FakeReceiver) -> dict[str, list[Recorded]]:
    out: dict[str, list[Recorded]] = defaultdict(list)
    for rec in fake.requests:
        for name in alertnames(rec):
            out[name].append(rec)
    return out


def in_flight(fake: FakeReceiver) -> list[Recorded]:
    return [r for r in fake.requests if r.answered_at is None]


def acked(fake: FakeReceiver) -> list[Recorded]:
    return [r for r in fake.requests if r.answered_at is not None and r.status == 200]


async def post_alert(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> int:
    async with http.post(f"{url}/api/v2/alerts", json=[body]) as resp:
        return resp.status


async def test_sigkill_mid_delivery_loses_nothing_and_repeats_no_acknowledged_alert(
    fake_receiver: FakeFactory,
    start_router: RouterFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    sink = await fake_receiver(delay=SLOW_ANSWER)
    db = tmp_path / "crash.db"
    cfg = config(sink.url("/hook"))
    router = await start_router(cfg, storage=db, name="before-kill")

    statuses = await asyncio.gather(
        *(post_alert(http, router.url, alert(i)) for i in range(N_ALERTS))
    )
    assert statuses == [200] * N_ALERTS, router.logs()

    # Kill between two rounds: a first round acknowledged, the next one held by the sink.
    await wait_until(
        lambda: len(acked(sink)) >= CONCURRENCY,
        within=30,
        what=f"{CONCURRENCY} acknowledged deliveries\n{router.logs()}",
    )
    await wait_until(
        lambda: len(in_flight(sink)) > 0,
        within=10,
        what="a delivery in flight after the first round (is delivery.concurrency honoured?)",
    )
    last_ack = max(r.answered_at or 0.0 for r in acked(sink))
    await asyncio.sleep(max(0.0, last_ack + 1.0 - time.monotonic()))
    assert in_flight(sink), "expected deliveries in flight at the kill"
    killed_at = time.monotonic()
    await router.kill()

    acknowledged = {
        name
        for rec in acked(sink)
        if rec.answered_at is not None and rec.answered_at < killed_at - ACK_GRACE
        for name in alertnames(rec)
    }
    interrupted = {name for rec in in_flight(sink) for name in alertnames(rec)}
    assert acknowledged, "no delivery was acknowledged before the kill"
    assert interrupted, "no delivery was in flight at the kill"

    sink.delay = 0.0
    router = await start_router(cfg, storage=db, name="after-restart")
    expected = {f"CrashTest{i:02d}" for i in range(N_ALERTS)}
    await wait_until(
        lambda: expected <= set(deliveries_by_alert(sink)),
        within=60,
        what=(
            f"every alert delivered; missing {sorted(expected - set(deliveries_by_alert(sink)))}"
            f"\n{router.logs()}"
        ),
    )
    # Several group intervals more, so a wrongly repeated notification has time to show.
    await asyncio.sleep(3.0)

    by_alert = deliveries_by_alert(sink)
    assert set(by_alert) == expected
    repeated = {
        name: [round(r.received_at - killed_at, 2) for r in by_alert[name]]
        for name in expected
        if delivered_after_ack(by_alert[name], killed_at)
    }
    assert not repeated, (
        "delivered again after a delivery had been acknowledged with 200 "
        f"(arrival times relative to the kill, s): {repeated}\n{router.logs()}"
    )
    assert all(r.body["status"] == "firing" for r in sink.requests)


def delivered_after_ack(records: list[Recorded], killed_at: float) -> bool:
    """True if the alert arrived again after its first acknowledged delivery.

    A 200 written in the last moment before the kill may not have been committed by the
    router, so it does not count as acknowledged: repeating it is at-least-once.
    """
    confirmed = [
        r.answered_at
        for r in records
        if r.status == 200
        and r.answered_at is not None
        and (r.answered_at < killed_at - ACK_GRACE or r.answered_at > killed_at)
    ]
    if not confirmed:
        return False
    first_ack = min(confirmed)
    return any(r.received_at > first_ack for r in records)
