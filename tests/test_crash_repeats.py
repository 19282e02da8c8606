"""A crash between a vendor's receipt and the recorded outcome: the repeat shows once where
the vendor can tell (PagerDuty's dedup_key, Slack's message metadata), and is never lost.

Each worker has its own DeliveryManager and SqliteStore connection on one database file, as
two processes would. A worker "dies" the way SIGKILL kills it: its store connection goes
away first, so nothing it does afterwards (no outcome, no lease release) reaches the file.
The vendor fakes hold their answer (`gate`) so the crash lands after the vendor acted.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from channels.fake_pagerduty import PagerDutyFake, start_pagerduty
from channels.fake_slack import CHANNEL_ID, TOKEN, SlackFake, start_slack
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer
from test_delivery import RECEIVER, make_row
from test_delivery_claims import dead_local_owner, parked

from router.channels.base import Channel
from router.channels.http import HttpClient
from router.channels.pagerduty import PagerdutyChannel, PagerdutyConfig
from router.channels.slack import SlackChannel
from router.config.types import DeliveryConfig, Secret, SlackConfig
from router.delivery.worker import DeliveryManager, row_key
from router.metrics import Metrics
from router.model import NotifyReason
from router.rendering import Renderer
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

ROUTING_KEY = "0123456789abcdef0123456789abcdef"


@dataclass
class Site:
    """Workers sharing one database file, all sending through `channel`."""

    clock: FakeClock
    path: Path
    channel: Channel = field(init=False)
    kind: str = ""
    stores: dict[str, SqliteStore] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def use(self, channel: Channel) -> None:
        self.channel, self.kind = channel, channel.kind

    async def worker(self, owner: str) -> DeliveryManager:
        store = SqliteStore(self.path)
        await store.open()
        self.stores[owner] = store
        metrics = Metrics(CollectorRegistry())
        metrics.prepare([(RECEIVER, self.kind)])
        return DeliveryManager(
            store, self.clock, metrics, DeliveryConfig(concurrency=4),
            lambda r, k, i: self.channel if (r, k, i) == (RECEIVER, self.kind, 0) else None,
            rng=random.Random(1), owner=owner)

    def start(self, worker: DeliveryManager) -> None:
        self.tasks[worker.owner] = asyncio.create_task(worker.run())

    async def running(self, owner: str) -> DeliveryManager:
        """A started worker, parked (so fake time moves only once its claims are in)."""
        worker = await self.worker(owner)
        self.start(worker)
        await parked(worker)
        return worker

    async def kill(self, worker: DeliveryManager) -> None:
        """SIGKILL: the database sees nothing more from this worker."""
        await self.stores.pop(worker.owner).close()
        await self.stop(worker)

    async def stop(self, worker: DeliveryManager) -> None:
        """A graceful stop (with its store open): outcomes recorded, leases handed back."""
        task = self.tasks.pop(worker.owner)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    def row(self, *names: str, reason: NotifyReason = NotifyReason.FIRST) -> OutboxRow:
        return replace(make_row(self.channel, self.clock.now(), *names, reason=reason),
                       channel=self.kind)


@pytest.fixture
async def site(clock: FakeClock, tmp_path: Path) -> AsyncIterator[Site]:
    s = Site(clock, tmp_path / "shared.db")
    try:
        yield s
    finally:
        for task in s.tasks.values():
            task.cancel()
        await asyncio.gather(*s.tasks.values(), return_exceptions=True)
        for store in s.stores.values():
            await store.close()


@pytest.fixture
async def slack(aiohttp_server: AiohttpServer, clock: FakeClock, site: Site,
                http: HttpClient) -> SlackFake:
    fake = await start_slack(aiohttp_server, clock.now)
    # The channel's ID, not "#ops": conversations.history reads a conversation by ID.
    cfg = SlackConfig(token=Secret(TOKEN), channel=CHANNEL_ID, app_url=fake.url)
    site.use(SlackChannel(cfg, Renderer([]), http))
    return fake


async def crash_after_the_vendor_acted(site: Site, vendor_gate: asyncio.Event,
                                       arrived: asyncio.Event, row: OutboxRow,
                                       owner: str = "worker-a") -> DeliveryManager:
    """Worker `owner` sends `row`; the vendor acts but its answer waits; the worker dies."""
    vendor_gate.clear()
    a = await site.worker(owner)
    site.start(a)
    await a.enqueue(row)  # committed, leased to worker-a
    async with asyncio.timeout(5):
        await arrived.wait()
    await site.kill(a)
    vendor_gate.set()
    return a


async def lease_runs_out(site: Site, worker: DeliveryManager, seconds: float) -> None:
    await site.clock.advance(seconds)
    await parked(worker)


# --- Slack (Web API) ----------------------------------------------------------------


async def test_after_a_crash_repeat_the_slack_channel_shows_one_message_for_the_group(
    site: Site, slack: SlackFake
) -> None:
    a = await crash_after_the_vendor_acted(site, slack.gate, slack.arrived, site.row("x"))
    assert len(slack.shown()) == 1
    b = await site.running("worker-b")
    await lease_runs_out(site, b, a.lease_ttl)
    # worker-b sent it again: it looked first, found worker-a's message and adopted it.
    assert len(slack.calls("conversations.history")) == 1
    [message] = slack.shown()
    assert await site.stores["worker-b"].outbox_load_pending() == []
    remembered = b.nflog.get(row_key(site.row("x")))
    assert remembered is not None
    assert remembered.data == {"ts": message.ts, "channel": CHANNEL_ID}
    # The group resolves: its one message is edited in place, as without the crash.
    fired = site.row("x", reason=NotifyReason.ALL_RESOLVED)
    await b.enqueue(replace(fired, firing=frozenset(), resolved=fired.firing,
                            all_resolved=True))
    await parked(b)
    [edited] = slack.shown()
    assert (edited.ts, edited.edited) == (message.ts, 1)


async def test_a_restart_after_a_crash_adopts_the_message_without_waiting_for_the_lease(
    site: Site, slack: SlackFake
) -> None:
    await crash_after_the_vendor_acted(site, slack.gate, slack.arrived, site.row("x"),
                                       owner=dead_local_owner())
    restarted = await site.worker("restarted")
    await restarted.restore()  # the dead local worker's rows are taken over, in doubt
    site.start(restarted)
    await parked(restarted)
    assert len(slack.shown()) == 1
    assert len(slack.calls("chat.postMessage")) == 1
    assert await site.stores["restarted"].outbox_load_pending() == []


async def test_without_the_history_scope_the_repeat_posts_again_and_nothing_is_lost(
    site: Site, slack: SlackFake
) -> None:
    slack.scopes = frozenset({"chat:write"})
    a = await crash_after_the_vendor_acted(site, slack.gate, slack.arrived, site.row("x"))
    b = await site.running("worker-b")
    await lease_runs_out(site, b, a.lease_ttl)
    assert len(slack.shown()) == 2  # a duplicate, never a loss
    assert await site.stores["worker-b"].outbox_load_pending() == []
    assert row_key(site.row("x")) in b.nflog


async def test_a_graceful_restart_does_not_trigger_a_history_lookup(
    site: Site, slack: SlackFake, http: HttpClient
) -> None:
    slack.failures = ["internal_error"]  # the first post fails: the row backs off
    a = await site.running("worker-a")
    await a.enqueue(site.row("x"))
    await parked(a)
    assert slack.shown() == []
    assert len(a.held_rows()) == 1
    await site.stop(a)  # graceful: its outcome recorded, its lease handed back
    assert isinstance(site.channel, SlackChannel)  # the restarted process builds its own
    site.use(SlackChannel(site.channel.cfg, Renderer([]), http))
    b = await site.running("worker-b")
    # Time moves in a small step: a claim issued on the way must not outlive its lease.
    await lease_runs_out(site, b, 1.0)  # past the row's backoff (at most 0.5 s)
    assert len(slack.shown()) == 1
    assert slack.calls("conversations.history") == []


async def test_a_send_cut_short_by_a_graceful_stop_is_handed_over_in_doubt(
    site: Site, slack: SlackFake
) -> None:
    slack.gate.clear()
    a = await site.running("worker-a")
    await a.enqueue(site.row("x"))
    async with asyncio.timeout(5):
        await slack.arrived.wait()  # posted; the answer has not come back
    await site.stop(a)  # graceful, but the send in flight is cancelled
    slack.gate.set()
    await site.running("worker-b")  # no lease to wait for: handed over at once
    assert len(slack.calls("conversations.history")) == 1
    assert len(slack.shown()) == 1
    assert await site.stores["worker-b"].outbox_load_pending() == []


# --- PagerDuty ----------------------------------------------------------------------


@pytest.fixture
async def pagerduty(aiohttp_server: AiohttpServer, site: Site, http: HttpClient
                    ) -> PagerDutyFake:
    fake = await start_pagerduty(aiohttp_server)
    cfg = PagerdutyConfig(routing_key=Secret(ROUTING_KEY), url=fake.url)
    site.use(PagerdutyChannel(cfg, Renderer([]), http))
    return fake


async def test_after_a_crash_repeat_pagerduty_shows_one_incident(
    site: Site, pagerduty: PagerDutyFake
) -> None:
    a = await crash_after_the_vendor_acted(site, pagerduty.gate, pagerduty.arrived,
                                           site.row("x"))
    b = await site.running("worker-b")
    await lease_runs_out(site, b, a.lease_ttl)
    first, repeat = pagerduty.events()
    assert (first["event_action"], repeat["event_action"]) == ("trigger", "trigger")
    assert first["dedup_key"] == repeat["dedup_key"]
    # The repeat merged into the open incident: one page for the on-call engineer.
    assert pagerduty.pages == 1
    assert pagerduty.incidents == {(ROUTING_KEY, first["dedup_key"]): "triggered"}
    assert await site.stores["worker-b"].outbox_load_pending() == []

