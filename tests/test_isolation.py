"""One receiver cannot slow another; a dead receiver is probed, not hammered.

The delivery loop on a fake clock against loopback receivers: a hanging one (accepts TCP,
never answers) holds only its own `target_concurrency` slots while a healthy one gets
everything delivered; a refusing one opens its circuit, is probed once per backoff
period, and gets every queued notification once it is back. No timing assertions: speed
is benchmarked in bench/bench_isolation.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from channels.fakes import closed_port_url, start_fake, start_silent
from conftest import wait_until
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer
from test_delivery import make_row, sent_instances, webhook

from router.channels.base import Channel
from router.channels.http import HttpClient
from router.config.types import DeliveryConfig
from router.delivery.circuit import PROBING, Circuits
from router.delivery.worker import DeliveryManager
from router.errors import FailureReason
from router.metrics import Metrics
from router.storage.sqlite import SqliteStore

RECEIVER = "team"  # test_delivery.make_row's receiver


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def manager_for(store: SqliteStore, clock: FakeClock, metrics: Metrics,
                settings: DeliveryConfig, channels: dict[int, Channel]) -> DeliveryManager:
    return DeliveryManager(store, clock, metrics, settings,
                           lambda r, k, i: channels.get(i) if r == RECEIVER else None,
                           rng=random.Random(7))


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_circuit_opens_probes_once_backs_off_and_closes_on_any_answer() -> None:
    metrics = Metrics(CollectorRegistry())
    circuits = Circuits(metrics)
    gauge = "alert_router_delivery_circuit_open"
    assert circuits.blocked_until("t", 0.0) is None
    circuits.failed("t", "webhook", FailureReason.SERVER_ERROR, 0.0, 1.0, 4.0)  # an answer
    assert circuits.blocked_until("t", 0.0) is None
    circuits.started("t")
    circuits.failed("t", "webhook", FailureReason.NETWORK, 0.0, 1.0, 4.0)
    assert sample(metrics, gauge, channel="webhook") == 1
    assert circuits.blocked_until("t", 0.5) == 1.0
    circuits.failed("t", "webhook", FailureReason.TIMEOUT, 0.5, 1.0, 4.0)  # sent before
    assert circuits.blocked_until("t", 0.5) == 1.0  # the period stands
    # One probe when the period is over; a probe without an outcome frees the next one.
    circuits.started("t")
    assert circuits.blocked_until("t", 1.0) == PROBING
    circuits.ended("t")
    assert circuits.blocked_until("t", 1.0) is None
    circuits.started("t")
    circuits.failed("t", "webhook", FailureReason.NETWORK, 1.0, 1.0, 4.0)
    assert circuits.blocked_until("t", 1.0) == 3.0  # twice as long
    for now, until in ((3.0, 7.0), (7.0, 11.0)):  # capped at backoff_cap
        circuits.started("t")
        circuits.failed("t", "webhook", FailureReason.NETWORK, now, 1.0, 4.0)
        assert circuits.blocked_until("t", now) == until
    circuits.started("t")
    circuits.failed("t", "webhook", FailureReason.RATE_LIMITED, 11.0, 1.0, 4.0)  # answered
    assert circuits.blocked_until("t", 11.0) is None
    assert sample(metrics, gauge, channel="webhook") == 0


@pytest.mark.parametrize(("concurrency", "per_target", "held"), [
    (4, 2, 2),
    (3, 8, 2),  # a per-target limit above the global one still leaves a slot for others
])
async def test_a_hanging_receiver_holds_only_its_own_slots(
    store: SqliteStore, clock: FakeClock, aiohttp_server: AiohttpServer,
    session: aiohttp.ClientSession, concurrency: int, per_target: int, held: int,
) -> None:
    healthy = await start_fake(aiohttp_server, "webhook")
    hanging = await start_silent()
    http = HttpClient(session)
    channels: dict[int, Channel] = {0: webhook(hanging.url, http), 1: webhook(healthy.url, http)}
    metrics = Metrics(CollectorRegistry())
    # Without a per-target cap the hanging receiver takes every slot.
    settings = DeliveryConfig(concurrency=concurrency, target_concurrency=per_target)
    manager = manager_for(store, clock, metrics, settings, channels)
    now = clock.now()
    for i in range(10):  # the stuck receiver's rows first: they are the most urgent
        await manager.enqueue(make_row(channels[0], now, f"stuck-{i}", group=f"{{}}:s{i}"))
    for i in range(10):
        row = make_row(channels[1], now, f"ok-{i}", group=f"{{}}:h{i}")
        await manager.enqueue(replace(row, index=1))
    task = asyncio.create_task(manager.run())
    try:
        # Delivered: the fake got every request and the worker read every answer.
        await wait_until(lambda: len(healthy.requests) == 10 and sample(
            metrics, "alert_router_notifications_total", receiver=RECEIVER, channel="webhook"
        ) == 10, "the healthy deliveries")
        # The hanging receiver still holds its sends (no answer, no timeout yet)...
        assert (hanging.connections, hanging.open) == (held, held)
        await manager.flush_records()
        pending = await store.outbox_load_pending()
        # ...and only its notifications wait; every healthy one is delivered, once.
        assert sorted(r.index for r in pending) == [0] * 10
        delivered = sorted(i for r in healthy.requests for i in sent_instances(r.body))
        assert delivered == sorted(f"ok-{i}" for i in range(10))
    finally:
        await stop(task)
        await hanging.close()


async def test_a_refused_receiver_is_probed_once_per_period_and_loses_nothing(
    store: SqliteStore, clock: FakeClock, aiohttp_server: AiohttpServer,
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="router.delivery.worker")
    url = closed_port_url("/hook")
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    channels: dict[int, Channel] = {0: webhook(url, HttpClient(session))}
    metrics = Metrics(CollectorRegistry())
    metrics.prepare([(RECEIVER, "webhook")])
    settings = DeliveryConfig(concurrency=8, target_concurrency=2, backoff_base=1.0,
                              backoff_cap=4.0, max_attempts=2)
    manager = manager_for(store, clock, metrics, settings, channels)
    names = [f"n{i}" for i in range(12)]
    for name in names:
        await manager.enqueue(make_row(channels[0], clock.now(), name, group=f"{{}}:{name}"))

    def attempts() -> float:
        return sample(metrics, "alert_router_notification_requests_total",
                      receiver=RECEIVER, channel="webhook")

    async def parked() -> None:
        async with asyncio.timeout(5):
            await manager.parked()

    task = asyncio.create_task(manager.run())
    try:
        await parked()
        # The sends that started before the first refusal (at most target_concurrency)...
        assert attempts() == 2
        assert sample(metrics, "alert_router_delivery_circuit_open", channel="webhook") == 1
        # ...then one probe per open period: 1 s, 2 s, 4 s, 4 s (backoff_cap).
        made = 2.0
        for period in (1.0, 2.0, 4.0, 4.0):
            await clock.advance(period - 0.01)
            await parked()
            assert attempts() == made
            await clock.advance(0.01)
            await parked()
            made += 1
            assert attempts() == made
        # Six refusals with max_attempts 2: the outage alone made nothing dead.
        assert await store.outbox_list("dead") == []
        assert len(await store.outbox_load_pending()) == len(names)
        # The receiver comes back on the same port: the next probe closes the circuit and
        # the whole queue is delivered, each notification once.
        back = await start_fake(aiohttp_server, "webhook", path="/hook", port=port)
        await clock.advance(4.0)
        async with asyncio.timeout(5):
            await manager.wait_idle()
        await parked()
    finally:
        await stop(task)
    delivered = sorted(i for r in back.requests for i in sent_instances(r.body))
    assert delivered == sorted(names)
    assert await store.outbox_load_pending() == []
    assert await store.outbox_list("dead") == []
    assert sample(metrics, "alert_router_delivery_circuit_open", channel="webhook") == 0
    # Logged once when it opened and once when it closed, never per failed attempt.
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert messages.count("delivery target unreachable, circuit opened") == 1
    assert messages.count("delivery target reachable again, circuit closed") == 1
    assert "delivery failed, will retry" not in messages
