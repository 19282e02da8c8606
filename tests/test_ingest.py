"""Accepting alerts: commit before routing, no write for unchanged re-sends, all-or-nothing
on store failure, restore after a restart and garbage collection of old resolved alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import config_from
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.config.types import RouterConfig
from router.errors import StoreUnavailable
from router.ingest.feed import AlertFeed
from router.ingest.formats import from_postable, from_webhook
from router.ingest.ingestor import RESOLVED_RETENTION, AlertIngestor
from router.metrics import Metrics
from router.model import Alert, Batch, fingerprint
from router.routing import tree as routing
from router.routing.grouping import Dispatcher
from router.storage.sqlite import SqliteStore
from router.timefmt import format_time

CONFIG = """
global:
  resolve_timeout: 5m
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
receivers:
  - name: default
  - name: pager
"""
RT = 300.0
GROUP_WAIT = 30.0
CRIT = {"alertname": "DiskFull", "severity": "critical", "instance": "db1"}
WARN = {"alertname": "HighLoad", "severity": "warning"}


class CountingRouter(routing.Router):
    """The real router, counting how often an alert is routed."""

    def __init__(self, root: Any) -> None:
        super().__init__(root)
        self.calls = 0

    def match(self, labels: Mapping[str, str]) -> list[Any]:
        self.calls += 1
        return super().match(labels)


@dataclass
class Harness:
    cfg: RouterConfig
    clock: FakeClock
    store: SqliteStore
    router: CountingRouter
    dispatcher: Dispatcher
    ingestor: AlertIngestor
    registry: CollectorRegistry
    batches: list[Batch]
    notify_ok: list[bool]

    def post(self, *items: dict[str, Any]) -> list[Alert]:
        """API v2 alerts as the HTTP handler would normalize them now."""
        return from_postable(list(items), self.clock.now(), self.cfg.global_.resolve_timeout)

    async def accept(self, *items: dict[str, Any]) -> int:
        return await self.ingestor.accept(self.post(*items), "api")

    async def flush(self) -> list[Batch]:
        """Run the groups due now; returns the batches handed to the notifier."""
        before = len(self.batches)
        await self.dispatcher.run_due()
        return self.batches[before:]

    def gauge(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


def build(cfg: RouterConfig, clock: FakeClock, store: SqliteStore) -> Harness:
    batches: list[Batch] = []
    notify_ok = [True]

    async def notify(batch: Batch) -> bool:
        batches.append(batch)
        return notify_ok[0]

    router = CountingRouter(cfg.route)
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    dispatcher = Dispatcher(router, clock, notify, metrics=metrics)
    feed = AlertFeed()
    feed.subscribe(dispatcher.on_change)
    ingestor = AlertIngestor(store, feed, clock, metrics, in_use=dispatcher.holds)
    return Harness(cfg, clock, store, router, dispatcher, ingestor, registry, batches, notify_ok)


@pytest.fixture
def cfg(tmp_path: Path) -> RouterConfig:
    return config_from(CONFIG, tmp_path)


@pytest.fixture
def h(cfg: RouterConfig, clock: FakeClock, store: SqliteStore) -> Harness:
    return build(cfg, clock, store)


async def stored(tmp_path: Path) -> dict[str, Alert]:
    """What a restarted router would find in the database."""
    again = SqliteStore(tmp_path / "router.db")
    await again.open()
    try:
        return {a.fingerprint: a for a in await again.load_alerts()}
    finally:
        await again.close()


def alert_item(labels: Mapping[str, str], **extra: Any) -> dict[str, Any]:
    return {"labels": dict(labels), **extra}


# --- a new alert -------------------------------------------------------------------------


async def test_new_alert_is_committed_and_routed(h: Harness, tmp_path: Path) -> None:
    assert await h.accept(alert_item(CRIT, annotations={"summary": "95% full"})) == 1
    fp = fingerprint(CRIT)

    # Durable: the reply waited for the commit.
    on_disk = await stored(tmp_path)
    assert set(on_disk) == {fp}
    assert on_disk[fp].annotations == {"summary": "95% full"}
    assert (on_disk[fp].ends_at, on_disk[fp].timeout_end) == (h.clock.now() + RT, True)

    # Routed to the critical route's group, flushed after group_wait.
    held = h.ingestor.held(fp)
    assert held is not None
    assert [g.route.receiver for g in h.dispatcher.routes_of(fp)] == ["pager"]
    assert await h.flush() == []
    await h.clock.advance(GROUP_WAIT)
    (batch,) = await h.flush()
    assert batch.receiver == "pager"
    assert batch.group_labels == {"alertname": "DiskFull"}
    assert [a.fingerprint for a in batch.alerts] == [fp]
    assert h.gauge("alert_router_alerts", state="active") == 1
    assert h.gauge("alert_router_aggregation_groups") == 1


async def test_several_alerts_in_one_request_are_one_transaction(
    h: Harness, tmp_path: Path
) -> None:
    before = h.store.transactions
    assert await h.accept(alert_item(CRIT), alert_item(WARN)) == 2
    assert h.store.transactions == before + 1
    assert set(await stored(tmp_path)) == {fingerprint(CRIT), fingerprint(WARN)}
    receivers = {g.route.receiver for g in h.dispatcher.groups.values()}
    assert receivers == {"pager", "default"}


async def test_webhook_alerts_from_alertmanager(h: Harness, tmp_path: Path) -> None:
    body = {"version": "4", "alerts": [
        {"status": "firing", "labels": CRIT, "startsAt": format_time(h.clock.now() - 600),
         "endsAt": "0001-01-01T00:00:00Z"},
    ]}
    alerts = from_webhook(body, h.clock.now())
    assert await h.ingestor.accept(alerts, "alertmanager") == 1
    assert (await stored(tmp_path))[fingerprint(CRIT)].source == "alertmanager"
    # Already older than group_wait: its new group flushes at once.
    (batch,) = await h.flush()
    assert batch.receiver == "pager"
    # Alertmanager re-sends it on every repeat: nothing to write.
    before = h.store.transactions
    assert await h.ingestor.accept(from_webhook(body, h.clock.now() + 60), "alertmanager") == 0
    assert h.store.transactions == before


# --- unchanged re-sends ----------------------------------------------------------------


async def test_unchanged_resend_writes_nothing_and_is_not_rerouted(h: Harness) -> None:
    item = alert_item(CRIT, startsAt=format_time(h.clock.now()),
                      endsAt=format_time(h.clock.now() + 3600), annotations={"s": "x"})
    assert await h.accept(item) == 1
    fp = fingerprint(CRIT)
    held = h.ingestor.held(fp)
    writes, routed = h.store.transactions, h.router.calls

    await h.clock.advance(15)
    assert await h.accept(item, item) == 0
    assert h.store.transactions == writes
    assert h.router.calls == routed
    assert h.ingestor.held(fp) is held
    (group,) = h.dispatcher.routes_of(fp)
    assert group.alerts[fp] is held


async def test_changed_annotations_are_written_but_not_rerouted(
    h: Harness, tmp_path: Path
) -> None:
    assert await h.accept(alert_item(CRIT, annotations={"summary": "90%"})) == 1
    fp = fingerprint(CRIT)
    starts = h.clock.now()
    routed = h.router.calls
    await h.clock.advance(10)
    assert await h.accept(alert_item(CRIT, annotations={"summary": "95%"})) == 1
    assert h.router.calls == routed
    (group,) = h.dispatcher.routes_of(fp)
    assert group.alerts[fp].annotations == {"summary": "95%"}
    assert group.alerts[fp].starts_at == starts
    assert (await stored(tmp_path))[fp].annotations == {"summary": "95%"}


async def test_timeout_end_refresh_is_written_once_it_moved_a_tenth(
    h: Harness, tmp_path: Path
) -> None:
    t0 = h.clock.now()
    fp = fingerprint(CRIT)
    assert await h.accept(alert_item(CRIT)) == 1
    writes = h.store.transactions

    # Re-sent 20 s later: the derived end moved by 20 s ≤ 300 s / 10, no write.
    await h.clock.advance(20)
    assert await h.accept(alert_item(CRIT)) == 0
    assert h.store.transactions == writes
    held = h.ingestor.held(fp)
    assert held is not None
    assert held.ends_at == t0 + RT
    assert (await stored(tmp_path))[fp].ends_at == t0 + RT

    # 31 s after the written end was computed: it moved by more than 30 s, written.
    await h.clock.advance(11)
    routed = h.router.calls
    assert await h.accept(alert_item(CRIT)) == 1
    assert h.store.transactions == writes + 1
    assert h.router.calls == routed
    held = h.ingestor.held(fp)
    assert held is not None
    assert (held.ends_at, held.timeout_end, held.starts_at) == (t0 + 31 + RT, True, t0)
    (group,) = h.dispatcher.routes_of(fp)
    assert group.alerts[fp] is held
    assert (await stored(tmp_path))[fp].ends_at == t0 + 31 + RT


async def test_resolution_is_written_and_refreshes_the_group(h: Harness, tmp_path: Path) -> None:
    t0 = h.clock.now()
    fp = fingerprint(CRIT)
    await h.accept(alert_item(CRIT))
    await h.clock.advance(GROUP_WAIT)
    assert len(await h.flush()) == 1

    await h.clock.advance(60)
    assert await h.accept(alert_item(CRIT, endsAt=format_time(h.clock.now()))) == 1
    assert (await stored(tmp_path))[fp].ends_at == h.clock.now()
    (group,) = h.dispatcher.routes_of(fp)
    assert group.alerts[fp].resolved(h.clock.now())
    assert group.alerts[fp].starts_at == t0
    assert h.gauge("alert_router_alerts", state="resolved") == 1

    # Prometheus keeps re-sending the resolution: no writes.
    writes = h.store.transactions
    await h.clock.advance(60)
    assert await h.accept(alert_item(CRIT, endsAt=format_time(h.clock.now() - 60))) == 0
    assert h.store.transactions == writes


async def test_firing_again_after_resolve_is_routed_as_a_new_occurrence(h: Harness) -> None:
    fp = fingerprint(CRIT)
    await h.accept(alert_item(CRIT))
    await h.clock.advance(GROUP_WAIT)
    await h.flush()
    await h.clock.advance(10)
    await h.accept(alert_item(CRIT, endsAt=format_time(h.clock.now())))
    await h.clock.advance(300)
    (batch,) = await h.flush()
    assert all(a.resolved(batch.now) for a in batch.alerts)
    assert not h.dispatcher.holds(fp)  # notified: the resolved alert left its group

    await h.clock.advance(100)
    routed = h.router.calls
    assert await h.accept(alert_item(CRIT)) == 1
    assert h.router.calls == routed + 1
    held = h.ingestor.held(fp)
    assert held is not None
    assert held.starts_at == h.clock.now()
    assert [g.route.receiver for g in h.dispatcher.routes_of(fp)] == ["pager"]


# --- store failures ----------------------------------------------------------------------


async def test_disk_full_raises_and_applies_nothing(h: Harness, tmp_path: Path) -> None:
    fp = fingerprint(CRIT)
    await h.accept(alert_item(CRIT, annotations={"summary": "v1"}))
    held = h.ingestor.held(fp)
    groups = {k: dict(g.alerts) for k, g in h.dispatcher.groups.items()}
    await h.store.set_max_page_count(await h.store.page_count())

    await h.clock.advance(10)
    # 2 MB of annotations, each within the 64 KiB bound of an annotation value.
    big = {f"description{i}": "x" * 60_000 for i in range(34)}
    with pytest.raises(StoreUnavailable):
        await h.accept(alert_item(CRIT, annotations={"summary": "v2"}),
                       alert_item(WARN, annotations=big))
    # Nothing half-applied: memory, groups and disk are as before the request.
    assert h.ingestor.held(fp) is held
    assert h.ingestor.held(fingerprint(WARN)) is None
    assert {k: dict(g.alerts) for k, g in h.dispatcher.groups.items()} == groups
    assert set(await stored(tmp_path)) == {fp}

    # With room again, the same request goes through.
    await h.store.set_max_page_count(1_000_000)
    assert await h.accept(alert_item(CRIT, annotations={"summary": "v2"}),
                          alert_item(WARN, annotations=big)) == 2
    on_disk = await stored(tmp_path)
    assert on_disk[fp].annotations == {"summary": "v2"}
    assert fingerprint(WARN) in on_disk


async def test_closed_store_raises_and_applies_nothing(h: Harness) -> None:
    await h.accept(alert_item(WARN))
    alerts = dict(h.ingestor.alerts)
    groups = len(h.dispatcher.groups)
    await h.store.close()
    with pytest.raises(StoreUnavailable):
        await h.accept(alert_item(CRIT))
    assert h.ingestor.alerts == alerts
    assert len(h.dispatcher.groups) == groups
    assert not h.dispatcher.holds(fingerprint(CRIT))


# --- restart -----------------------------------------------------------------------------


async def test_restore_puts_stored_alerts_back_into_groups(
    h: Harness, cfg: RouterConfig, clock: FakeClock, tmp_path: Path
) -> None:
    warn = alert_item(WARN, startsAt=format_time(clock.now()),
                      endsAt=format_time(clock.now() + 3600))
    await h.accept(alert_item(CRIT), warn)
    await clock.advance(600)

    # A new process: same database, fresh dispatcher and ingestor.
    again = SqliteStore(tmp_path / "router.db")
    await again.open()
    try:
        fresh = build(cfg, clock, again)
        fresh.ingestor.restore(await again.load_alerts())
        for labels in (CRIT, WARN):
            assert fresh.ingestor.held(fingerprint(labels)) is not None
            assert fresh.dispatcher.holds(fingerprint(labels))
        # Older than group_wait: both groups flush at once.
        batches = await fresh.flush()
        assert sorted(b.receiver for b in batches) == ["default", "pager"]
        writes = again.transactions
        # A re-send of what was restored is still a no-op.
        await clock.advance(5)
        assert await fresh.accept(warn) == 0
        assert again.transactions == writes
    finally:
        await again.close()


# --- garbage collection ------------------------------------------------------------------


async def test_collect_garbage_forgets_old_resolved_alerts(h: Harness, tmp_path: Path) -> None:
    fp_crit, fp_warn = fingerprint(CRIT), fingerprint(WARN)
    await h.accept(alert_item(CRIT), alert_item(WARN))
    await h.clock.advance(GROUP_WAIT)
    await h.flush()
    await h.accept(alert_item(CRIT, endsAt=format_time(h.clock.now())))
    resolved_at = h.clock.now()

    # Still held by its group (not yet notified): kept.
    await h.clock.advance(RESOLVED_RETENTION + 1)
    h.notify_ok[0] = False
    await h.accept(alert_item(WARN))  # keep the firing alert alive
    await h.flush()
    assert h.dispatcher.holds(fp_crit)
    assert await h.ingestor.collect_garbage() == 0

    # Notified: it leaves the group; once older than the retention it is forgotten.
    h.notify_ok[0] = True
    await h.clock.advance(300)
    await h.flush()
    assert not h.dispatcher.holds(fp_crit)
    assert h.clock.now() - resolved_at > RESOLVED_RETENTION
    assert await h.ingestor.collect_garbage() == 1
    assert h.ingestor.held(fp_crit) is None
    assert h.ingestor.held(fp_warn) is not None
    assert set(await stored(tmp_path)) == {fp_warn}
    assert await h.ingestor.collect_garbage() == 0


async def test_collect_garbage_keeps_recently_resolved_alerts(h: Harness) -> None:
    fp = fingerprint(WARN)
    await h.accept(alert_item(WARN))
    await h.clock.advance(GROUP_WAIT)
    await h.flush()
    await h.accept(alert_item(WARN, endsAt=format_time(h.clock.now())))
    await h.clock.advance(300)
    await h.flush()
    assert not h.dispatcher.holds(fp)
    assert await h.ingestor.collect_garbage() == 0
    # Known, so a re-sent resolution stays a no-op.
    writes = h.store.transactions
    assert await h.accept(alert_item(WARN, endsAt=format_time(h.clock.now() - 300))) == 0
    assert h.store.transactions == writes


async def test_collect_garbage_keeps_alerts_when_the_delete_fails(h: Harness) -> None:
    fp = fingerprint(WARN)
    await h.accept(alert_item(WARN))
    await h.clock.advance(GROUP_WAIT)
    await h.flush()
    await h.accept(alert_item(WARN, endsAt=format_time(h.clock.now())))
    await h.clock.advance(RESOLVED_RETENTION + 300)
    await h.flush()
    await h.store.close()
    with pytest.raises(StoreUnavailable):
        await h.ingestor.collect_garbage()
    assert h.ingestor.held(fp) is not None
