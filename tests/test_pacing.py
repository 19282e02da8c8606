"""Pacing: token buckets per delivery target; paced notifications wait, never drop.

Unit tests of the bucket, then the delivery loop with a fake clock against loopback Slack
fakes: the configured rate, critical first, a 429 pausing only its own target.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from channels.fakes import Fake, start_fake
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

from router.channels.base import Channel
from router.channels.http import HttpClient
from router.channels.slack import SlackChannel
from router.config.types import DeliveryConfig, Pacing, Secret, SlackConfig
from router.delivery.pacing import TokenBucket
from router.delivery.worker import DeliveryManager
from router.metrics import Metrics
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

RECEIVER = "team"
SEVERITY_PRIORITY = {"critical": 0, "warning": 2}


# --- the bucket -------------------------------------------------------------------------

def test_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(Pacing(rate=2.0, burst=3), now=0.0)
    for _ in range(3):
        assert bucket.delay(0.0) == 0.0
        bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(0.5)
    assert bucket.delay(0.5) == 0.0
    bucket.take(0.5)
    assert bucket.delay(0.5) == pytest.approx(0.5)
    # Idle time refills up to the burst, never beyond.
    assert bucket.delay(100.0) == 0.0
    for _ in range(3):
        bucket.take(100.0)
    assert bucket.delay(100.0) == pytest.approx(0.5)


def test_unpaced_bucket_never_waits_unless_told_to_slow_down() -> None:
    bucket = TokenBucket(None, now=0.0)
    for _ in range(1000):
        assert bucket.delay(0.0) == 0.0
        bucket.take(0.0)
    bucket.pause_until(7.0, now=0.0)
    assert bucket.delay(3.0) == pytest.approx(4.0)
    assert bucket.delay(7.0) == 0.0


def test_pause_then_one_send_then_the_rate_not_a_burst() -> None:
    bucket = TokenBucket(Pacing(rate=1.0, burst=5), now=0.0)
    bucket.pause_until(10.0, now=0.0)
    assert bucket.delay(9.0) == pytest.approx(1.0)
    assert bucket.delay(10.0) == 0.0
    bucket.take(10.0)
    assert bucket.delay(10.0) == pytest.approx(1.0)


def test_reconfigure_caps_tokens_at_the_new_burst() -> None:
    bucket = TokenBucket(Pacing(rate=1.0, burst=10), now=0.0)
    bucket.reconfigure(Pacing(rate=1.0, burst=1), now=0.0)
    bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(1.0)


# --- the delivery loop ----------------------------------------------------------------------

@dataclass
class PacingRig:
    clock: FakeClock
    store: SqliteStore
    metrics: Metrics
    manager: DeliveryManager
    channels: dict[tuple[str, str, int], Channel]
    http: HttpClient  # the channels' shared client, bound to the rig's session


def slack(url: str, channel: str, pacing: Pacing | None, http: HttpClient) -> SlackChannel:
    return SlackChannel(
        SlackConfig(api_url=Secret(url + "/services/T0/B0/" + channel), channel=channel,
                    pacing=pacing),
        Renderer([]),
        http,
    )


def row_for(rig: PacingRig, index: int, name: str, severity: str) -> OutboxRow:
    """One notification of its own group (so nothing replaces it) for channel `index`."""
    channel = rig.channels[(RECEIVER, "slack", index)]
    now = rig.clock.now()
    alert = make_alert({"alertname": name, "severity": severity}, {"summary": name},
                       now, None, "", now)
    group = f'{{}}:{{alertname="{name}"}}'
    n = Notification(RECEIVER, group, {"alertname": name}, (alert,), NotifyReason.FIRST,
                     now, "http://router.example")
    return OutboxRow(
        id=0, receiver=RECEIVER, channel="slack", index=index, group_key=group,
        payload=channel.render(n), firing=frozenset({alert.fingerprint}),
        resolved=frozenset(), reason=str(NotifyReason.FIRST),
        priority=SEVERITY_PRIORITY[severity], created_at=now, ingested_at=now,
        next_attempt_at=now, expires_in=3600.0,
    )


def alertnames(fake: Fake) -> list[str]:
    return [json.loads(r.body)["text"].split()[1] for r in fake.requests]


async def parked(rig: PacingRig) -> None:
    """The delivery loop waits for a token or new work: every started send is answered."""
    async with asyncio.timeout(5):
        await rig.manager.parked()


@pytest.fixture
async def pacing_rig(
    store: SqliteStore, clock: FakeClock
) -> AsyncIterator[tuple[PacingRig, aiohttp.ClientSession]]:
    metrics = Metrics(CollectorRegistry())
    metrics.prepare([(RECEIVER, "slack")])
    channels: dict[tuple[str, str, int], Channel] = {}
    async with aiohttp.ClientSession() as session:
        manager = DeliveryManager(
            store, clock, metrics, DeliveryConfig(concurrency=8),
            lambda r, k, i: channels.get((r, k, i)), rng=random.Random(3),
        )
        yield PacingRig(clock, store, metrics, manager, channels, HttpClient(session)), session


async def test_thirty_notifications_go_out_at_the_configured_rate_critical_first(
    aiohttp_server: AiohttpServer, pacing_rig: tuple[PacingRig, aiohttp.ClientSession]
) -> None:
    rig, _ = pacing_rig
    fake = await start_fake(aiohttp_server, "slack-webhook")
    rig.channels[(RECEIVER, "slack", 0)] = slack(fake.url, "ops", Pacing(rate=2.0, burst=1),
                                                 rig.http)
    warnings = [f"Warn{i:02d}" for i in range(20)]
    criticals = [f"Crit{i:02d}" for i in range(10)]
    for name in warnings:
        await rig.manager.enqueue(row_for(rig, 0, name, "warning"))
    for name in criticals:
        await rig.manager.enqueue(row_for(rig, 0, name, "critical"))
    task = asyncio.create_task(rig.manager.run())
    try:
        await parked(rig)
        assert len(fake.requests) == 1
        for sent in range(1, 30):
            # Nothing more before the next token (2 per second)...
            await rig.clock.advance(0.49)
            await parked(rig)
            assert len(fake.requests) == sent
            # ...and exactly one when it is due.
            await rig.clock.advance(0.01)
            await parked(rig)
            assert len(fake.requests) == sent + 1
        await rig.manager.wait_idle()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    names = alertnames(fake)
    assert sorted(names) == sorted(warnings + criticals)  # none lost, none twice
    assert names[:10] == criticals  # critical before warning while the queue is backed up
    paced = rig.metrics.registry.get_sample_value(
        "alert_router_notifications_paced_total", {"receiver": RECEIVER, "channel": "slack"})
    assert paced == 29


async def test_a_429_pauses_only_its_target_and_fails_nothing(
    aiohttp_server: AiohttpServer, pacing_rig: tuple[PacingRig, aiohttp.ClientSession]
) -> None:
    rig, _ = pacing_rig
    limited = await start_fake(aiohttp_server, "slack-webhook",
                               [(429, {"Retry-After": "30"})])
    other = await start_fake(aiohttp_server, "slack-webhook")
    rig.channels[(RECEIVER, "slack", 0)] = slack(limited.url, "busy", Pacing(1.0, 1), rig.http)
    rig.channels[(RECEIVER, "slack", 1)] = slack(other.url, "calm", Pacing(1.0, 1), rig.http)
    for i in range(3):
        await rig.manager.enqueue(row_for(rig, 0, f"Busy{i}", "critical"))
        await rig.manager.enqueue(row_for(rig, 1, f"Calm{i}", "warning"))
    task = asyncio.create_task(rig.manager.run())
    try:
        await parked(rig)
        assert (len(limited.requests), len(other.requests)) == (1, 1)
        # The other target keeps its own pace while the limited one waits 30 s.
        for second in range(1, 3):
            await rig.clock.advance(1.0)
            await parked(rig)
            assert len(other.requests) == second + 1
        assert len(limited.requests) == 1
        await rig.clock.advance(27.9)  # 29.9 s after the 429
        await parked(rig)
        assert len(limited.requests) == 1
        assert await rig.store.outbox_list("dead") == []
        await rig.clock.advance(0.2)  # Retry-After is over: one send, then the rate
        await parked(rig)
        assert len(limited.requests) == 2
        await rig.clock.advance(0.5)
        await parked(rig)
        assert len(limited.requests) == 2
        await rig.clock.advance(0.5)
        await parked(rig)
        assert len(limited.requests) == 3
        await rig.clock.advance(1.0)
        await parked(rig)
        assert len(limited.requests) == 4
        await rig.manager.wait_idle()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(alertnames(limited)) == ["Busy0", "Busy0", "Busy1", "Busy2"]
    assert sorted(alertnames(other)) == ["Calm0", "Calm1", "Calm2"]
    assert rig.metrics.registry.get_sample_value(
        "alert_router_notifications_failed_total",
        {"receiver": RECEIVER, "channel": "slack", "reason": "rate_limited"}) == 0


async def test_paced_counts_when_held_and_send_latency_leaves_the_wait_out(
    aiohttp_server: AiohttpServer, pacing_rig: tuple[PacingRig, aiohttp.ClientSession]
) -> None:
    """Three notifications for a target paced at 1/s: the two held back count as paced
    at once (not after they went out); the backlog shows them per receiver and channel;
    the end-to-end latency includes the pacing wait (0 + 1 + 2 s), the send latency not."""
    rig, _ = pacing_rig
    fake = await start_fake(aiohttp_server, "slack-webhook")
    rig.channels[(RECEIVER, "slack", 0)] = slack(fake.url, "ops", Pacing(rate=1.0, burst=1),
                                                 rig.http)
    for name in ("A", "B", "C"):
        await rig.manager.enqueue(row_for(rig, 0, name, "warning"))
    labels = {"receiver": RECEIVER, "channel": "slack"}

    def value(name: str) -> float | None:
        return rig.metrics.registry.get_sample_value(name, labels)

    task = asyncio.create_task(rig.manager.run())
    try:
        await parked(rig)
        assert len(fake.requests) == 1
        assert value("alert_router_notifications_paced_total") == 2
        assert value("alert_router_outbox_depth") == 2
        assert value("alert_router_outbox_oldest_age_seconds") == 0
        await rig.clock.advance(1.0)
        await parked(rig)
        assert len(fake.requests) == 2
        assert value("alert_router_outbox_depth") == 1
        assert value("alert_router_outbox_oldest_age_seconds") == pytest.approx(1.0)
        await rig.clock.advance(1.0)
        await parked(rig)
        await rig.manager.wait_idle()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert len(fake.requests) == 3
    assert value("alert_router_notifications_paced_total") == 2
    assert value("alert_router_outbox_depth") == 0
    assert value("alert_router_end_to_end_latency_seconds_count") == 3
    assert value("alert_router_end_to_end_latency_seconds_sum") == pytest.approx(3.0)
    assert value("alert_router_send_latency_seconds_count") == 3
    assert value("alert_router_send_latency_seconds_sum") == pytest.approx(0.0, abs=1e-6)
