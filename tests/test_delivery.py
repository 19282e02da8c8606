"""The durable outbox: send, classify, back off with full jitter, dead-letter, restart.

A real SqliteStore, a fake clock and a webhook channel pointed at a loopback fake.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from channels.fakes import Fake, closed_port_url, start_fake
from fakeclock import FakeClock, settle
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

from router.channels.base import Channel
from router.channels.http import HttpClient
from router.channels.webhook import WebhookChannel
from router.config.types import DeliveryConfig, HttpConfig, Secret, WebhookConfig
from router.delivery.worker import DeliveryManager, row_key
from router.metrics import Metrics
from router.model import Notification, NotifyReason, make_alert, sort_alerts
from router.rendering import Renderer
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

TOKEN = "tok-5ecr3t-b34r3r"
PATH_SECRET = "T0K3N-IN-PATH"
GROUP = '{}:{alertname="DiskFull"}'
RECEIVER = "team"


def webhook(url: str, http: HttpClient) -> WebhookChannel:
    cfg = WebhookConfig(url=Secret(url), http_config=HttpConfig(bearer_token=Secret(TOKEN)))
    return WebhookChannel(cfg, Renderer([]), http)


def make_row(
    channel: Channel,
    now: float,
    *names: str,
    group: str = GROUP,
    reason: NotifyReason = NotifyReason.FIRST,
    ingested_at: float | None = None,
) -> OutboxRow:
    """A rendered notification for `names` (firing), as the pipeline would queue it."""
    alerts = sort_alerts(
        make_alert({"alertname": "DiskFull", "instance": n}, {}, now - 60, None, "", now - 60)
        for n in names
    )
    n = Notification(RECEIVER, group, {"alertname": "DiskFull"}, alerts, reason, now,
                     "http://router.example")
    return OutboxRow(
        id=0, receiver=RECEIVER, channel="webhook", index=0, group_key=group,
        payload=channel.render(n), firing=frozenset(a.fingerprint for a in alerts),
        resolved=frozenset(), reason=str(reason), priority=2, created_at=now,
        ingested_at=now if ingested_at is None else ingested_at, next_attempt_at=now,
        expires_in=8 * 3600.0,
    )


def sent_instances(body: bytes) -> list[str]:
    import json

    return [a["labels"]["instance"] for a in json.loads(body)["alerts"]]


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait (bounded) for a network round trip to be recorded; never for a timer."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the expected network event did not happen within 5 s")


@dataclass
class Rig:
    store: SqliteStore
    clock: FakeClock
    http: HttpClient  # bound to a session, as the app binds it at start-up
    fake: Fake
    channel: WebhookChannel
    metrics: Metrics
    manager: DeliveryManager
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, manager: DeliveryManager | None = None) -> None:
        self.tasks.append(asyncio.create_task((manager or self.manager).run()))

    def manager_for(
        self, store: SqliteStore, channel: WebhookChannel | None = None
    ) -> DeliveryManager:
        channels = {(RECEIVER, "webhook", 0): channel or self.channel}
        return DeliveryManager(
            store, self.clock, self.metrics, self.manager.settings,
            lambda r, k, i: channels.get((r, k, i)), rng=random.Random(42),
        )

    async def idle(self, manager: DeliveryManager | None = None) -> None:
        """Every row delivered or dead, and every outcome committed to the store."""
        m = manager or self.manager
        async with asyncio.timeout(5):
            await m.parked()
            await m.wait_idle()

    async def parked(self, manager: DeliveryManager | None = None) -> None:
        """The loop waits for a timer or new work; its outcomes are committed."""
        async with asyncio.timeout(5):
            await (manager or self.manager).parked()

    async def advance_to(self, when: float) -> None:
        await self.clock.advance(max(0.0, when - self.clock.now()) + 1e-6)

    async def row_after_attempts(self, attempts: int) -> OutboxRow:
        """The stored row once the attempt that failed is recorded and the loop waits."""
        await self.parked()
        [row] = await self.store.outbox_load_pending()
        assert row.attempts == attempts
        return row

    async def row_after_failure(self, manager: DeliveryManager | None = None) -> OutboxRow:
        """The stored row once a failed attempt is recorded (a 429 keeps `attempts`)."""
        await self.parked(manager)
        [row] = await self.store.outbox_load_pending()
        assert row.last_error is not None
        return row

    async def dead_rows(self) -> list[OutboxRow]:
        await self.parked()
        return await self.store.outbox_list("dead")

    def sample(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples with these labels (and any others, e.g. reason)."""
        want = {"receiver": RECEIVER, "channel": "webhook", **labels}
        return sum(
            s.value for family in self.metrics.registry.collect() for s in family.samples
            if s.name == name and want.items() <= s.labels.items()
        )

    @property
    def bodies(self) -> list[bytes]:
        return [r.body for r in self.fake.requests]


@pytest.fixture
async def rig(
    aiohttp_server: AiohttpServer, store: SqliteStore, clock: FakeClock
) -> AsyncIterator[Rig]:
    fake = await start_fake(aiohttp_server, "webhook")
    metrics = Metrics(CollectorRegistry())
    metrics.prepare([(RECEIVER, "webhook")])
    async with aiohttp.ClientSession() as session:
        http = HttpClient(session)
        channel = webhook(fake.url + "/" + PATH_SECRET, http)
        channels = {(RECEIVER, "webhook", 0): channel}
        manager = DeliveryManager(
            store, clock, metrics, DeliveryConfig(),
            lambda r, k, i: channels.get((r, k, i)), rng=random.Random(7),
        )
        r = Rig(store, clock, http, fake, channel, metrics, manager)
        try:
            yield r
        finally:
            for task in r.tasks:
                task.cancel()
            await asyncio.gather(*r.tasks, return_exceptions=True)


async def test_success_logs_and_removes_the_row(rig: Rig, tmp_path: Path) -> None:
    rig.start()
    row = make_row(rig.channel, rig.clock.now(), "a", "b")
    await rig.manager.enqueue(row)
    await rig.idle()
    [request] = rig.fake.requests
    assert request.body == row.payload
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.path.endswith(PATH_SECRET)
    assert sent_instances(request.body) == ["a", "b"]
    key = row_key(row)
    entry = rig.manager.nflog[key]
    assert entry.firing == row.firing
    assert entry.sent_at == rig.clock.now()
    assert entry.expires_at == rig.clock.now() + 8 * 3600
    assert rig.sample("alert_router_notifications_total") == 1
    assert rig.sample("alert_router_notification_requests_total") == 1
    # Durable: after a restart the row is gone and the log entry is there.
    await rig.store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    await reopened.open()
    try:
        assert await reopened.outbox_load_pending() == []
        assert await reopened.outbox_list("dead") == []
        [stored] = await reopened.load_nflog(rig.clock.now())
        assert (stored.key, stored.firing) == (key, row.firing)
    finally:
        await reopened.close()


async def test_server_error_is_retried_after_full_jitter_backoff(rig: Rig) -> None:
    rig.fake.script = [503]
    rig.start()
    queued = rig.clock.now()
    row = make_row(rig.channel, queued, "a")
    await rig.manager.enqueue(row)
    failed = await rig.row_after_attempts(1)
    delay = failed.next_attempt_at - rig.clock.now()
    assert 0.0 <= delay <= rig.manager.settings.backoff_base
    assert failed.last_error == "HTTP 503: error"
    # An attempt failed; the notification has not (it is retried).
    assert rig.sample("alert_router_notification_requests_failed_total",
                      reason="server_error") == 1
    assert rig.sample("alert_router_notifications_failed_total", reason="server_error") == 0
    assert rig.sample("alert_router_notifications_total") == 0
    assert len(rig.fake.requests) == 1
    if delay > 0.002:
        await rig.clock.advance(delay - 0.001)
        # Not leased yet: the retry waits for its backoff.
        assert rig.manager.pending(row_key(row)) is not None
        assert len(rig.fake.requests) == 1
    await rig.advance_to(failed.next_attempt_at)
    await rig.idle()
    # The stored payload is sent again byte for byte.
    assert rig.bodies == [row.payload, row.payload]
    assert row_key(row) in rig.manager.nflog
    assert await rig.store.outbox_load_pending() == []
    assert rig.sample("alert_router_notifications_total") == 1
    assert rig.sample("alert_router_notification_requests_total") == 2
    # The backoff is no intended wait: the send latency includes it.
    assert rig.sample("alert_router_send_latency_seconds_sum") == pytest.approx(
        failed.next_attempt_at - queued)


async def test_backoff_is_exponential_full_jitter_capped(rig: Rig) -> None:
    m = rig.manager
    m.settings = DeliveryConfig(backoff_base=0.5, backoff_cap=4.0)
    for attempts, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [m.backoff(attempts, None) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter spreads over the whole range, not just around the ceiling.
        assert min(delays) < ceiling * 0.1
        assert max(delays) > ceiling * 0.9
    assert all(m.backoff(1, 7.0) == 7.0 for _ in range(50))
    assert m.backoff(9, 0.1) >= 0.0


async def test_retry_after_is_honoured(rig: Rig) -> None:
    rig.fake.script = [(429, {"Retry-After": "7"})]
    rig.start()
    row = make_row(rig.channel, rig.clock.now(), "a")
    start = rig.clock.now()
    await rig.manager.enqueue(row)
    failed = await rig.row_after_failure()
    assert failed.next_attempt_at - start == pytest.approx(7.0)
    assert failed.attempts == 0  # "slow down" does not use up the notification's attempts
    assert rig.sample("alert_router_notification_requests_failed_total",
                      reason="rate_limited") == 1
    await rig.clock.advance(6.99)
    assert rig.manager.pending(row_key(row)) is not None
    assert len(rig.fake.requests) == 1
    await rig.clock.advance(0.02)
    await rig.idle()
    assert rig.bodies == [row.payload, row.payload]


@pytest.mark.parametrize(
    ("status", "reason"), [(400, "client_error"), (404, "client_error"), (401, "auth"),
                           (403, "auth")],
)
async def test_permanent_failure_is_dead_at_once(rig: Rig, status: int, reason: str) -> None:
    rig.fake.script = [status]
    rig.start()
    row = make_row(rig.channel, rig.clock.now(), "a")
    await rig.manager.enqueue(row)
    [dead] = await rig.dead_rows()
    assert dead.last_error == f"HTTP {status}: error"
    assert dead.attempts == 1
    assert dead.payload == row.payload
    # A dead notification ended: it counts once in total and once in failed.
    assert rig.sample("alert_router_notifications_failed_total", reason=reason) == 1
    assert rig.sample("alert_router_notifications_total") == 1
    assert rig.sample("alert_router_notification_requests_failed_total", reason=reason) == 1
    assert len(rig.manager.nflog) == 0
    await rig.idle()
    await rig.clock.advance(3600)
    assert len(rig.fake.requests) == 1
    assert await rig.store.outbox_load_pending() == []


async def test_max_attempts_makes_the_row_dead(rig: Rig) -> None:
    rig.manager.settings = replace(rig.manager.settings, max_attempts=3)
    rig.fake.script = [503, 502, 500, 200]
    rig.start()
    await rig.manager.enqueue(make_row(rig.channel, rig.clock.now(), "a"))
    for attempts in (1, 2):
        failed = await rig.row_after_attempts(attempts)
        await rig.advance_to(failed.next_attempt_at)
    [dead] = await rig.dead_rows()
    assert dead.attempts == 3
    assert dead.last_error == "HTTP 500: error"
    assert len(rig.fake.requests) == 3
    # Three failed attempts, one failed notification: failed / total stays a ratio ≤ 1.
    assert rig.sample("alert_router_notification_requests_failed_total",
                      reason="server_error") == 3
    assert rig.sample("alert_router_notification_requests_total") == 3
    assert rig.sample("alert_router_notifications_failed_total", reason="server_error") == 1
    assert rig.sample("alert_router_notifications_total") == 1


async def test_max_age_makes_the_row_dead(rig: Rig) -> None:
    rig.manager.settings = replace(rig.manager.settings, max_age=10.0)
    slow_down = (503, {"Retry-After": "12"})
    rig.fake.script = [slow_down, slow_down, 200]
    rig.start()
    await rig.manager.enqueue(make_row(rig.channel, rig.clock.now(), "a"))
    failed = await rig.row_after_failure()
    await rig.advance_to(failed.next_attempt_at)
    [dead] = await rig.dead_rows()
    # The first answer was a rate limit (no attempt used up); the second came too late.
    assert dead.attempts == 1
    assert len(rig.fake.requests) == 2
    assert rig.sample("alert_router_notifications_failed_total") == 1


async def test_retry_dead_requeues_and_delivers(rig: Rig) -> None:
    rig.fake.script = [400]
    rig.start()
    row = make_row(rig.channel, rig.clock.now(), "a")
    await rig.manager.enqueue(row)
    [dead] = await rig.dead_rows()
    await rig.clock.advance(600)
    requeued = await rig.manager.retry_dead(dead.id)
    assert requeued is not None
    assert requeued.attempts == 0
    await rig.idle()
    assert rig.bodies == [row.payload, row.payload]
    assert await rig.store.outbox_list("dead") == []
    assert await rig.store.outbox_load_pending() == []
    assert rig.manager.nflog[row_key(row)].sent_at == rig.clock.now()
    assert await rig.manager.retry_dead(dead.id) is None  # nothing dead any more


async def test_newer_enqueue_replaces_the_unsent_payload(rig: Rig) -> None:
    now = rig.clock.now()
    old = make_row(rig.channel, now, "a")
    new = make_row(rig.channel, now, "a", "b", reason=NotifyReason.NEW_ALERTS)
    await rig.manager.enqueue(old)
    await rig.manager.enqueue(new)
    [stored] = await rig.store.outbox_load_pending()
    assert stored.payload == new.payload
    rig.start()
    await rig.idle()
    assert rig.bodies == [new.payload]
    assert rig.manager.nflog[row_key(new)].firing == new.firing


async def test_retry_sends_the_newest_state(rig: Rig) -> None:
    rig.fake.script = [503]
    rig.start()
    now = rig.clock.now()
    old = make_row(rig.channel, now, "a")
    await rig.manager.enqueue(old)
    failed = await rig.row_after_attempts(1)
    new = make_row(rig.channel, now, "a", "b", reason=NotifyReason.NEW_ALERTS)
    await rig.manager.enqueue(new)
    assert len(await rig.store.outbox_load_pending()) == 1
    await rig.advance_to(failed.next_attempt_at)
    await rig.idle()
    assert [sent_instances(b) for b in rig.bodies] == [["a"], ["a", "b"]]


async def test_group_waits_for_its_inflight_row_and_keeps_order(
    aiohttp_server: AiohttpServer, rig: Rig
) -> None:
    gate = asyncio.Event()
    bodies: list[bytes] = []
    active = [0, 0]  # now, most at once

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        bodies.append(body)
        active[0] += 1
        active[1] = max(active[1], active[0])
        if len(bodies) == 1:
            await gate.wait()
        active[0] -= 1
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    server = await aiohttp_server(app, access_log=None)
    rig.channel = webhook(str(server.make_url("/hook")), rig.http)
    manager = rig.manager_for(rig.store)
    rig.start(manager)
    now = rig.clock.now()
    first = make_row(rig.channel, now, "a")
    await manager.enqueue(first)

    async def in_flight() -> bool:
        return len(bodies) == 1

    await until(in_flight)
    second = make_row(rig.channel, now, "a", "b", reason=NotifyReason.NEW_ALERTS)
    await manager.enqueue(second)
    await settle()
    waiting = manager.pending(row_key(second))
    assert waiting is not None
    assert waiting.payload == second.payload
    third = make_row(rig.channel, now, "a", "b", "c", reason=NotifyReason.NEW_ALERTS)
    await manager.enqueue(third)  # replaces the waiting one
    # Another group is not held up by this one.
    other = make_row(rig.channel, now, "x", group='{}:{alertname="Other"}')
    await manager.enqueue(other)

    async def other_sent() -> bool:
        return len(bodies) == 2

    await until(other_sent)
    assert bodies[1] == other.payload
    gate.set()
    await rig.idle(manager)
    assert bodies == [first.payload, other.payload, third.payload]
    assert manager.nflog[row_key(third)].firing == third.firing
    # Per group, never two sends at once (the other group's send overlapped once).
    assert active[1] == 2


async def test_pending_rows_survive_a_crash(rig: Rig, tmp_path: Path) -> None:
    # The process dies after committing the row, before any send: its lease on the row
    # holds until it runs out, then the restarted process claims and sends it.
    row = make_row(rig.channel, rig.clock.now(), "a")
    await rig.manager.enqueue(row)
    await rig.store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    await reopened.open()
    try:
        manager = rig.manager_for(reopened)
        await manager.restore()
        rig.start(manager)
        await rig.parked(manager)
        assert manager.held_rows() == []
        await rig.clock.advance(manager.lease_ttl - 1)
        await rig.parked(manager)
        assert rig.bodies == []
        await rig.clock.advance(1)
        await rig.idle(manager)
        assert rig.bodies == [row.payload]
        assert row_key(row) in manager.nflog
        assert await reopened.outbox_load_pending() == []
    finally:
        for task in rig.tasks:
            task.cancel()
        await asyncio.gather(*rig.tasks, return_exceptions=True)
        rig.tasks.clear()
        await reopened.close()


async def test_restart_keeps_a_rows_backoff(rig: Rig, tmp_path: Path) -> None:
    rig.fake.script = [(503, {"Retry-After": "30"})]
    rig.start()
    row = make_row(rig.channel, rig.clock.now(), "a")
    await rig.manager.enqueue(row)
    failed = await rig.row_after_failure()
    rig.tasks.pop().cancel()
    await rig.store.close()
    reopened = SqliteStore(tmp_path / "router.db")
    await reopened.open()
    try:
        manager = rig.manager_for(reopened)
        await manager.restore()
        rig.start(manager)
        await rig.parked(manager)
        await rig.clock.advance(29)
        await rig.parked(manager)
        assert len(rig.fake.requests) == 1
        await rig.advance_to(failed.next_attempt_at)
        await rig.idle(manager)
        assert rig.bodies == [row.payload, row.payload]
    finally:
        for task in rig.tasks:
            task.cancel()
        await asyncio.gather(*rig.tasks, return_exceptions=True)
        rig.tasks.clear()
        await reopened.close()


async def test_end_to_end_latency_is_observed(rig: Rig) -> None:
    rig.start()
    now = rig.clock.now()
    await rig.manager.enqueue(make_row(rig.channel, now, "a", ingested_at=now - 2.5))
    await rig.idle()
    count = "alert_router_end_to_end_latency_seconds_count"
    assert rig.sample(count) == 1
    assert rig.sample("alert_router_end_to_end_latency_seconds_sum") == pytest.approx(2.5)
    assert rig.sample("alert_router_end_to_end_latency_seconds_bucket", le="2.5") == 1
    assert rig.sample("alert_router_end_to_end_latency_seconds_bucket", le="1.0") == 0
    # A repeat is not a reaction to an ingest: it is not counted.
    await rig.manager.enqueue(make_row(rig.channel, now, "b", group="{}:{}",
                                       reason=NotifyReason.REPEAT, ingested_at=now - 3600))
    await rig.idle()
    assert rig.sample(count) == 1
    assert rig.sample("alert_router_notification_latency_seconds_count") == 2


async def test_no_secret_in_errors_or_logs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig.fake.script = [503, 401]
    rig.start()
    await rig.manager.enqueue(make_row(rig.channel, rig.clock.now(), "a"))
    failed = await rig.row_after_attempts(1)
    await rig.advance_to(failed.next_attempt_at)
    # A second channel whose endpoint refuses connections (URL with a token in it).
    refused = webhook(closed_port_url("/" + PATH_SECRET), rig.http)
    manager = rig.manager_for(rig.store, refused)
    manager.settings = replace(manager.settings, max_attempts=1)
    rig.start(manager)
    await manager.enqueue(make_row(refused, rig.clock.now(), "b", group="{}:{}"))
    await rig.parked()
    await rig.parked(manager)
    # An unreachable receiver keeps its row (its circuit backs off, see test_isolation.py).
    dead = [*await rig.store.outbox_list("dead"), *await rig.store.outbox_load_pending()]
    assert sorted(d.last_error or "" for d in dead) == [
        "HTTP 401: error", "connection refused by webhook endpoint",
    ]
    # The requests did carry the credentials (so the check below means something).
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in rig.fake.requests)
    assert caplog.records, "expected delivery log lines"
    for secret in (TOKEN, PATH_SECRET):
        for d in dead:
            assert secret not in repr(d)
        for record in caplog.records:
            assert secret not in record.getMessage()
            assert secret not in repr(record.__dict__)


async def test_a_channel_entrys_own_timeout_wins_over_the_default(rig: Rig) -> None:
    # delivery.timeout is 10 s by default; this entry says 0.1 s and the vendor takes 1 s.
    rig.fake.delay = 1.0
    cfg = WebhookConfig(url=Secret(rig.fake.url + "/slow"), timeout=0.1)
    manager = rig.manager_for(rig.store, WebhookChannel(cfg, Renderer([]), rig.http))
    rig.start(manager)
    await manager.enqueue(make_row(rig.channel, rig.clock.now(), "a"))
    failed = await rig.row_after_failure(manager)
    assert failed.last_error == "no response from webhook endpoint within 0.1s"
    assert rig.sample("alert_router_notification_requests_failed_total", reason="timeout") == 1
