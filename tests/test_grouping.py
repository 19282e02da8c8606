"""Aggregation groups and their timers (Alertmanager §3.3), driven by a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from conftest import config_from
from fakeclock import FakeClock

from router.model import Alert, Batch, make_alert
from router.routing.grouping import Dispatcher
from router.routing.tree import Router

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: [team="db"]
      receiver: db
      continue: true
    - matchers: [severity="critical"]
      receiver: pager
    - matchers: [speed="now"]
      receiver: fast
      group_wait: 0s
receivers:
  - name: default
  - name: db
  - name: pager
  - name: fast
"""


class Recorder:
    """The notify callback: records every batch; answers `ok` (or runs `during`)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.ok = True
        self.during: Callable[[Batch], Awaitable[None]] | None = None

    async def __call__(self, batch: Batch) -> bool:
        self.batches.append(batch)
        if self.during is not None:
            hook, self.during = self.during, None
            await hook(batch)
        return self.ok

    def names(self, index: int = -1) -> list[str]:
        return sorted(a.labels["instance"] for a in self.batches[index].alerts)


def router_for(tmp_path: Path, text: str = CONFIG) -> Router:
    return Router(config_from(text, tmp_path).route)


def fire(clock: FakeClock, instance: str, *, name: str = "Up", age: float = 0.0,
         **labels: str) -> Alert:
    now = clock.now()
    return make_alert({"alertname": name, "instance": instance, **labels}, {}, now - age,
                      None, "", now)


def resolve(clock: FakeClock, alert: Alert) -> Alert:
    """The copy a producer sends when the alert stops firing (endsAt = now)."""
    now = clock.now()
    return make_alert(alert.labels, alert.annotations, alert.starts_at, now, "", now)


def setup(tmp_path: Path, clock: FakeClock) -> tuple[Dispatcher, Recorder]:
    rec = Recorder()
    return Dispatcher(router_for(tmp_path), clock, rec), rec


async def test_first_flush_happens_at_group_wait(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "a"))
    assert await d.run_due() == 0
    await clock.advance(29.9)
    assert await d.run_due() == 0
    assert rec.batches == []
    await clock.advance(0.1)
    assert await d.run_due() == 1
    [batch] = rec.batches
    assert batch.receiver == "default"
    assert batch.group_key == '{}:{alertname="Up"}'
    assert dict(batch.group_labels) == {"alertname": "Up"}
    assert rec.names() == ["a"]


async def test_alerts_arriving_during_group_wait_are_batched(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "a"))
    await clock.advance(10)
    d.insert(fire(clock, "b"))
    await clock.advance(19)
    d.insert(fire(clock, "c"))
    assert await d.run_due() == 0
    await clock.advance(1)
    assert await d.run_due() == 1
    assert len(rec.batches) == 1
    assert rec.names() == ["a", "b", "c"]


async def test_later_arrivals_go_out_at_next_group_interval_with_full_group(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "a"))
    await clock.advance(30)
    await d.run_due()
    await clock.advance(60)
    d.insert(fire(clock, "b"))
    assert await d.run_due() == 0  # no new group: the existing timer decides
    await clock.advance(239)
    assert await d.run_due() == 0
    await clock.advance(1)  # 30 + 300
    assert await d.run_due() == 1
    assert [len(b.alerts) for b in rec.batches] == [1, 2]
    assert rec.names() == ["a", "b"]
    # Every group_interval the whole state goes to the notifier (dedup decides there).
    await clock.advance(300)
    assert await d.run_due() == 1
    assert rec.names() == ["a", "b"]


async def test_group_wait_zero_flushes_at_once(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "a", speed="now"))
    assert await d.run_due() == 1
    assert rec.batches[0].receiver == "fast"
    assert rec.batches[0].group_key == '{}/{speed="now"}:{alertname="Up"}'


async def test_alert_older_than_group_wait_flushes_at_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "old", age=31))
    assert await d.run_due() == 1
    assert rec.names() == ["old"]
    # Only at group creation: an old alert joining an existing group waits for the tick.
    d.insert(fire(clock, "old2", age=3600))
    assert await d.run_due() == 0
    await clock.advance(300)
    assert await d.run_due() == 1
    assert rec.names() == ["old", "old2"]


async def test_alert_younger_than_group_wait_waits(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "recent", age=20))
    assert await d.run_due() == 0
    await clock.advance(30)
    assert await d.run_due() == 1
    assert rec.names() == ["recent"]


async def test_continue_gives_one_group_per_matched_route(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    alert = fire(clock, "a", team="db", severity="critical")
    d.insert(alert)
    assert len(d.routes_of(alert.fingerprint)) == 2
    await clock.advance(30)
    assert await d.run_due() == 2
    got = {b.receiver: b.group_key for b in rec.batches}
    assert got == {
        "db": '{}/{team="db"}:{alertname="Up"}',
        "pager": '{}/{severity="critical"}:{alertname="Up"}',
    }
    # Each group has its own timer: both tick again, independently of each other.
    await clock.advance(300)
    assert await d.run_due() == 2


async def test_group_by_splits_groups(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    d.insert(fire(clock, "a", name="Up"))
    d.insert(fire(clock, "b", name="Down"))
    await clock.advance(30)
    assert await d.run_due() == 2
    assert sorted(b.group_key for b in rec.batches) == [
        '{}:{alertname="Down"}', '{}:{alertname="Up"}',
    ]


async def test_resolved_alerts_leave_after_successful_flush_and_group_is_destroyed(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    a, b = fire(clock, "a"), fire(clock, "b")
    d.insert(a)
    d.insert(b)
    await clock.advance(30)
    await d.run_due()
    await clock.advance(10)
    d.refresh(resolve(clock, a))
    await clock.advance(290)
    assert await d.run_due() == 1
    last = rec.batches[-1]
    assert {x.labels["instance"]: x.resolved(last.now) for x in last.alerts} == {
        "a": True, "b": False,
    }
    assert not d.holds(a.fingerprint)
    assert d.holds(b.fingerprint)
    # The next tick no longer carries the resolved alert.
    await clock.advance(300)
    await d.run_due()
    assert rec.names() == ["b"]
    d.refresh(resolve(clock, b))
    await clock.advance(300)
    assert await d.run_due() == 1
    assert d.groups == {}
    assert d.next_due() is None
    assert not d.holds(b.fingerprint)
    # A destroyed group stays destroyed: nothing more is flushed.
    await clock.advance(3600)
    assert await d.run_due() == 0
    assert len(rec.batches) == 4


async def test_failed_notify_keeps_resolved_alerts_for_next_tick(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(30)
    await d.run_due()
    d.refresh(resolve(clock, a))
    rec.ok = False
    await clock.advance(300)
    assert await d.run_due() == 1
    assert d.holds(a.fingerprint)
    assert len(d.groups) == 1
    rec.ok = True
    await clock.advance(300)
    assert await d.run_due() == 1
    assert [x.labels["instance"] for x in rec.batches[-1].alerts] == ["a"]
    assert rec.batches[-1].resolved() == rec.batches[-1].alerts
    assert d.groups == {}


async def test_notify_raising_counts_as_failure(tmp_path: Path, clock: FakeClock) -> None:
    calls: list[Batch] = []

    async def broken(batch: Batch) -> bool:
        calls.append(batch)
        raise RuntimeError("store down")

    d = Dispatcher(router_for(tmp_path), clock, broken)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(30)
    d.refresh(resolve(clock, a))
    assert await d.run_due() == 1
    # Still held and still scheduled: the next tick tries again.
    assert d.holds(a.fingerprint)
    await clock.advance(300)
    assert await d.run_due() == 1
    assert len(calls) == 2


async def test_alert_resolved_during_a_flush_is_kept_for_the_next_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    """The flush sent it as firing; its resolution must still be notified next tick."""
    d, rec = setup(tmp_path, clock)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(30)

    async def resolve_meanwhile(batch: Batch) -> None:
        # Prometheus' resolved copy carries an endsAt already in the past.
        d.refresh(make_alert(a.labels, {}, a.starts_at, clock.now() - 1, "", clock.now()))

    rec.during = resolve_meanwhile
    assert await d.run_due() == 1
    assert rec.batches[0].firing() == rec.batches[0].alerts
    assert d.holds(a.fingerprint)
    await clock.advance(300)
    assert await d.run_due() == 1
    assert [x.resolved(rec.batches[1].now) for x in rec.batches[1].alerts] == [True]
    assert d.groups == {}


async def test_alert_refiring_during_a_flush_stays(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(30)
    d.refresh(resolve(clock, a))
    await clock.advance(1)

    async def refire(batch: Batch) -> None:
        d.refresh(fire(clock, "a"))

    rec.during = refire
    await clock.advance(299)
    assert await d.run_due() == 1
    assert rec.batches[0].resolved() == rec.batches[0].alerts
    assert d.holds(a.fingerprint)
    await clock.advance(300)
    assert await d.run_due() == 1
    assert rec.batches[1].firing() == rec.batches[1].alerts


async def test_reset_rebuilds_groups_under_the_new_routes(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    old_db, old_other = fire(clock, "old1", team="db"), fire(clock, "old2")
    d.insert(old_db)
    d.insert(old_other)
    await clock.advance(30)
    await d.run_due()
    assert sorted(b.receiver for b in rec.batches) == ["db", "default"]
    await clock.advance(20)
    young = fire(clock, "young")
    d.insert(young)
    new_config = CONFIG.replace("group_by: [alertname]", "group_by: [alertname, team]")
    rec.batches.clear()
    d.reset(router_for(tmp_path, new_config), [old_db, old_other, young])
    assert d.router.root.group_by == ("alertname", "team")
    keys = {g.key for g in d.groups.values()}
    assert keys == {'{}/{team="db"}:{alertname="Up", team="db"}', '{}:{alertname="Up"}'}
    # The groups are new: each holds an alert older than group_wait, so they flush at once
    # (the notification log, not the dispatcher, keeps this from re-notifying).
    assert await d.run_due() == 2
    assert {b.group_key: len(b.alerts) for b in rec.batches} == {
        '{}/{team="db"}:{alertname="Up", team="db"}': 1, '{}:{alertname="Up"}': 2,
    }


async def test_reset_restarts_timers(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(20)
    d.reset(router_for(tmp_path), [a])
    await clock.advance(10)  # the old timer would have fired now
    assert await d.run_due() == 0
    await clock.advance(19)
    assert await d.run_due() == 0
    await clock.advance(1)  # group_wait after the reload
    assert await d.run_due() == 1
    assert rec.names() == ["a"]


async def test_reload_during_a_flush_keeps_the_new_groups(
    tmp_path: Path, clock: FakeClock
) -> None:
    d, rec = setup(tmp_path, clock)
    a = fire(clock, "a")
    d.insert(a)
    await clock.advance(30)
    await d.run_due()
    resolved = resolve(clock, a)
    d.refresh(resolved)
    await clock.advance(300)
    newcomer = fire(clock, "b")

    async def reload_meanwhile(batch: Batch) -> None:
        d.reset(router_for(tmp_path), [resolved])
        d.insert(newcomer)

    rec.during = reload_meanwhile
    assert await d.run_due() == 1
    # The flushed (old) group emptied, but the rebuilt group with the newcomer survives
    # (it holds an old alert, so it is due at once).
    assert len(d.groups) == 1
    assert await d.run_due() == 1
    assert rec.names() == ["a", "b"]


async def test_run_loop_flushes_on_the_fake_clock(tmp_path: Path, clock: FakeClock) -> None:
    d, rec = setup(tmp_path, clock)
    task = asyncio.create_task(d.run())
    try:
        await clock.advance(0)
        d.insert(fire(clock, "a"))
        await clock.advance(29)
        assert rec.batches == []
        await clock.advance(1)
        assert len(rec.batches) == 1
        # A group created later with an earlier deadline wakes the sleeping loop.
        d.insert(fire(clock, "z", speed="now"))
        await clock.advance(0)
        assert [b.receiver for b in rec.batches] == ["default", "fast"]
        await clock.advance(300)
        assert [b.receiver for b in rec.batches] == ["default", "fast", "default", "fast"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
