"""Noise control through the real app on a fake clock: Alertmanager's acceptance timelines
for silences, inhibition and time intervals, seen at a loopback webhook and in API v2.

Each step moves the clock to a time, stopping at every group flush (tests/conftest.py's
`run_until`), then states exactly which notifications arrived since the previous step.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from channels.fakes import Fake, start_fake
from conftest import (
    api_matcher,
    create_silence,
    post_alerts,
    run_until,
    v2_alert,
)
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.service import Service
from router.timefmt import parse_time

T0 = parse_time("2026-02-10T12:00:00Z") or 0.0

# Alertmanager's acceptance timing: flush every second, repeat on every flush.
FAST = """
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1ms
"""


def config(url: str, *, route: str = FAST, extra: str = "", receiver: str = "") -> str:
    return f"""
global:
  resolve_timeout: 1d
route:
  receiver: hook
  group_by: []
{route}
receivers:
  - name: hook
{receiver}
    webhook_configs:
      - url: {url}
{extra}
"""


def describe(alert: dict[str, Any]) -> str:
    """`InstanceDown@aa:firing` — alert name, zone when present, status."""
    labels = alert["labels"]
    zone = f"@{labels['zone']}" if "zone" in labels else ""
    return f"{labels['alertname']}{zone}:{alert['status']}"


class Collector:
    """The notifications the webhook received since the last look, oldest first."""

    def __init__(self, fake: Fake) -> None:
        self.fake = fake
        self.seen = 0

    def new(self) -> list[set[str]]:
        batches = [{describe(a) for a in r.json()["alerts"]}
                   for r in self.fake.requests[self.seen:]]
        self.seen = len(self.fake.requests)
        return batches


async def start(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock, **parts: str
) -> tuple[TestClient[Any, Any], Service, Collector]:
    fake = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(config(fake.url, **parts), clock=clock)
    return client, state, Collector(fake)


async def api_alerts(client: TestClient[Any, Any], **query: str) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/v2/alerts", params=query)
    assert resp.status == 200
    return {a["labels"]["alertname"]: a for a in await resp.json()}


async def own_alerts(client: TestClient[Any, Any]) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/v1/alerts")
    assert resp.status == 200
    return {a["labels"]["alertname"]: a for a in await resp.json()}


# --- silences ---------------------------------------------------------------------------


async def test_silencing_removes_the_alert_while_active_and_it_returns_after_expiry(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Alertmanager's TestSilencing: a silence over [2.5, 4.5] mutes test1 only."""
    clock = FakeClock(T0)
    client, state, hook = await start(make_router, aiohttp_server, clock)
    await run_until(state, clock, T0 + 1)
    await post_alerts(client, v2_alert("test1"), v2_alert("test2"))
    await run_until(state, clock, T0 + 2.3)
    assert hook.new() == [{"test1:firing", "test2:firing"}]

    await create_silence(client, [api_matcher("alertname", "test1")], T0 + 2.5, T0 + 4.5)
    await run_until(state, clock, T0 + 3.5)
    assert hook.new() == [{"test2:firing"}]
    await run_until(state, clock, T0 + 4.5)
    assert hook.new() == [{"test2:firing"}]
    await run_until(state, clock, T0 + 5.5)
    assert hook.new() == [{"test1:firing", "test2:firing"}]


async def test_deleting_a_catch_all_regex_silence_resumes_notifications(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Alertmanager's TestSilenceDelete: `alertname=~".+"` mutes all until DELETEd."""
    clock = FakeClock(T0)
    client, state, hook = await start(make_router, aiohttp_server, clock)
    await run_until(state, clock, T0 + 1)
    await post_alerts(client, v2_alert("test1"), v2_alert("test2"))
    await run_until(state, clock, T0 + 1.3)
    sid = await create_silence(client, [api_matcher("alertname", ".+", regex=True)],
                               T0 + 1.5, T0 + 100)
    await run_until(state, clock, T0 + 3.5)
    assert hook.new() == []  # two flushes, both fully silenced

    resp = await client.delete(f"/api/v2/silence/{sid}")
    assert resp.status == 200
    await run_until(state, clock, T0 + 4.5)
    assert hook.new() == [{"test1:firing", "test2:firing"}]


async def test_a_silence_created_during_group_wait_applies_at_the_flush(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Muting happens at flush time, not at ingest: a silence added while the group waits
    mutes its first flush; once the silence is deleted the next flush notifies."""
    clock = FakeClock(T0)
    route = "  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n"
    client, state, hook = await start(make_router, aiohttp_server, clock, route=route)
    await post_alerts(client, v2_alert("DiskFull"))
    await run_until(state, clock, T0 + 10)
    sid = await create_silence(client, [api_matcher("alertname", "DiskFull")], T0, T0 + 3600)
    await run_until(state, clock, T0 + 31)
    assert hook.new() == []
    status = (await api_alerts(client))["DiskFull"]["status"]
    assert (status["state"], status["silencedBy"]) == ("suppressed", [sid])

    assert (await client.delete(f"/api/v2/silence/{sid}")).status == 200
    await run_until(state, clock, T0 + 30 + 299)
    assert hook.new() == []  # nothing before the next group_interval tick
    await run_until(state, clock, T0 + 30 + 300)
    assert hook.new() == [{"DiskFull:firing"}]


# --- inhibition -------------------------------------------------------------------------

INHIBIT = """
inhibit_rules:
  - source_matchers: [alertname="JobDown"]
    target_matchers: [alertname="InstanceDown"]
    equal: [job, zone]
"""


async def test_inhibiting_mutes_the_same_zone_only_until_the_source_resolves(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Alertmanager's TestInhibiting."""
    clock = FakeClock(T0)
    client, state, hook = await start(make_router, aiohttp_server, clock, extra=INHIBIT)
    await run_until(state, clock, T0 + 1)
    await post_alerts(
        client,
        v2_alert("test1", job="testjob", zone="aa"),
        v2_alert("InstanceDown", job="testjob", zone="aa"),
        v2_alert("InstanceDown", job="testjob", zone="ab"),
    )
    await run_until(state, clock, T0 + 2.2)
    assert hook.new() == [{"test1@aa:firing", "InstanceDown@aa:firing",
                           "InstanceDown@ab:firing"}]

    await post_alerts(client, v2_alert("JobDown", job="testjob", zone="aa"))
    await run_until(state, clock, T0 + 3.6)
    assert hook.new() == [{"test1@aa:firing", "InstanceDown@ab:firing", "JobDown@aa:firing"}]

    await post_alerts(client, v2_alert("JobDown", job="testjob", zone="aa",
                                       starts=T0 + 2.2, ends=T0 + 3.6))
    await run_until(state, clock, T0 + 4.5)
    assert hook.new() == [{"test1@aa:firing", "InstanceDown@aa:firing",
                           "InstanceDown@ab:firing", "JobDown@aa:resolved"}]


async def test_source_and_target_resolving_together_are_both_in_the_last_notification(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Alertmanager's TestAlwaysInhibiting: the target was never notified while firing,
    yet its resolution comes with the source's."""
    clock = FakeClock(T0)
    client, state, hook = await start(make_router, aiohttp_server, clock, extra=INHIBIT)
    await run_until(state, clock, T0 + 1)
    await post_alerts(client, v2_alert("InstanceDown", job="testjob", zone="aa"),
                      v2_alert("JobDown", job="testjob", zone="aa"))
    await run_until(state, clock, T0 + 2.5)
    assert hook.new() == [{"JobDown@aa:firing"}]

    await run_until(state, clock, T0 + 2.6)
    await post_alerts(
        client,
        v2_alert("JobDown", job="testjob", zone="aa", starts=T0 + 1, ends=T0 + 2.6),
        v2_alert("InstanceDown", job="testjob", zone="aa", starts=T0 + 1, ends=T0 + 2.6),
    )
    await run_until(state, clock, T0 + 3.5)
    assert hook.new() == [{"InstanceDown@aa:resolved", "JobDown@aa:resolved"}]
    await run_until(state, clock, T0 + 6)
    assert hook.new() == []


# --- time intervals ---------------------------------------------------------------------

SLOW = "  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: 4h\n"


def muted_route(interval: str, kind: str = "mute_time_intervals") -> str:
    return SLOW + f"  routes:\n    - receiver: hook\n      {kind}: [{interval}]\n"


OFFHOURS = """
time_intervals:
  - name: night
    time_intervals:
      - times: [{start_time: "00:00", end_time: "09:00"}]
"""


async def test_mute_interval_holds_the_alert_until_the_first_tick_after_it_ends(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Muted 00:00–09:00 UTC: an alert firing at 08:59 flushes at 08:59:30 (muted), then
    notifies at the next group_interval tick after 09:00, as dedup decides."""
    start_at = parse_time("2026-02-10T08:59:00Z") or 0.0
    clock = FakeClock(start_at)
    client, state, hook = await start(make_router, aiohttp_server, clock,
                                      route=muted_route("night"), extra=OFFHOURS)
    await post_alerts(client, v2_alert("Backup"))
    await run_until(state, clock, start_at + 31)
    assert hook.new() == []
    # Alertmanager 0.25's API does not show time-interval muting; this router's own does.
    listed = await api_alerts(client)
    assert listed["Backup"]["status"] == {"state": "active", "silencedBy": [],
                                          "inhibitedBy": []}
    assert (await own_alerts(client))["Backup"]["mutedBy"] == ["night"]

    await run_until(state, clock, start_at + 30 + 299)
    assert hook.new() == []
    await run_until(state, clock, start_at + 30 + 300)  # 09:04:30
    assert hook.new() == [{"Backup:firing"}]
    assert (await api_alerts(client))["Backup"]["status"]["state"] == "active"


PARIS_NIGHT = """
time_intervals:
  - name: paris-night
    time_intervals:
      - times: [{start_time: "00:00", end_time: "09:00"}]
        location: Europe/Paris
"""


@pytest.mark.parametrize(
    ("day", "first_tick_utc"), [("2026-03-28", "08:00:30"), ("2026-03-29", "07:00:30")]
)
async def test_mute_interval_follows_the_paris_wall_clock_across_the_dst_change(
    make_router: Any, aiohttp_server: AiohttpServer, day: str, first_tick_utc: str
) -> None:
    """09:00 in Paris is 08:00 UTC on Saturday 28 March 2026 and 07:00 UTC on Sunday 29th
    (summer time starts that night): a group ticking at :30 past every 5 minutes first
    notifies at 07:00:30 UTC on the Sunday, and an hour later on the Saturday."""
    start_at = parse_time(f"{day}T06:00:00Z") or 0.0
    clock = FakeClock(start_at)
    client, state, hook = await start(make_router, aiohttp_server, clock,
                                      route=muted_route("paris-night"), extra=PARIS_NIGHT)
    await post_alerts(client, v2_alert("Backup"))
    expected = parse_time(f"{day}T{first_tick_utc}Z") or 0.0
    await run_until(state, clock, expected - 1)
    assert hook.new() == []
    await run_until(state, clock, expected)
    assert hook.new() == [{"Backup:firing"}]


OFFICE = """
time_intervals:
  - name: office
    time_intervals:
      - times: [{start_time: "09:00", end_time: "17:00"}]
        weekdays: [monday:friday]
"""


async def test_active_interval_sends_only_inside_it(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """active_time_intervals: an alert at 16:50 on Tuesday 10 Feb 2026 notifies; the repeat
    due at 21:00 is held until Wednesday 09:00 (the first tick inside office hours)."""
    start_at = parse_time("2026-02-10T16:50:00Z") or 0.0
    clock = FakeClock(start_at)
    route = ("  group_wait: 30s\n  group_interval: 1h\n  repeat_interval: 4h\n"
             "  routes:\n    - receiver: hook\n      active_time_intervals: [office]\n")
    client, state, hook = await start(make_router, aiohttp_server, clock, route=route,
                                      extra=OFFICE)
    await post_alerts(client, v2_alert("Queue"))
    await run_until(state, clock, start_at + 31)
    assert hook.new() == [{"Queue:firing"}]

    await run_until(state, clock, start_at + 30 + 16 * 3600 - 1)  # 08:50:29 Wednesday
    assert hook.new() == []  # the 20:50:30 repeat fell outside office hours
    assert (await own_alerts(client))["Queue"]["mutedBy"] == ["inactive"]
    await run_until(state, clock, start_at + 30 + 17 * 3600)  # 09:50:30 Wednesday
    assert hook.new() == [{"Queue:firing"}]


# --- send_resolved_when_silenced --------------------------------------------------------


async def silenced_then_resolved(
    make_router: Any, aiohttp_server: AiohttpServer, receiver: str, *, flush_between: bool
) -> list[set[str]]:
    """Notified firing at 1 s, silenced at 2 s, resolved at 15 s (the group flushes at 11 s
    and 21 s) or at 5 s (no flush while silenced and firing); what arrives after that."""
    clock = FakeClock(T0)
    route = "  group_wait: 1s\n  group_interval: 10s\n  repeat_interval: 4h\n"
    client, state, hook = await start(make_router, aiohttp_server, clock, route=route,
                                      receiver=receiver)
    await post_alerts(client, v2_alert("Disk", instance="db1"))
    await run_until(state, clock, T0 + 2)
    assert hook.new() == [{"Disk:firing"}]
    await create_silence(client, [api_matcher("instance", "db1")], T0, T0 + 3600)
    resolve_at = T0 + 15 if flush_between else T0 + 5
    await run_until(state, clock, resolve_at)
    assert hook.new() == []
    await post_alerts(client, v2_alert("Disk", instance="db1", starts=T0, ends=resolve_at))
    await run_until(state, clock, T0 + 60)
    return hook.new()


WHEN_SILENCED = "    send_resolved_when_silenced: true"


@pytest.mark.parametrize("flush_between", [False, True])
async def test_without_the_option_a_silenced_resolution_is_not_announced(
    make_router: Any, aiohttp_server: AiohttpServer, flush_between: bool
) -> None:
    """Alertmanager's behaviour (#226): the silence also swallows the resolution."""
    assert await silenced_then_resolved(make_router, aiohttp_server, "",
                                        flush_between=flush_between) == []


async def test_send_resolved_when_silenced_announces_the_resolution(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    notes = await silenced_then_resolved(make_router, aiohttp_server, WHEN_SILENCED,
                                         flush_between=False)
    assert notes == [{"Disk:resolved"}]


async def test_send_resolved_when_silenced_survives_a_flush_while_silenced(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    notes = await silenced_then_resolved(make_router, aiohttp_server, WHEN_SILENCED,
                                         flush_between=True)
    assert notes == [{"Disk:resolved"}]


# --- API v2 alert status ----------------------------------------------------------------


async def test_alert_status_shows_silence_then_inhibition_at_once(
    make_router: Any, aiohttp_server: AiohttpServer
) -> None:
    """Alertmanager's TestAlertGetReturnsCurrentAlertStatus: the status changes the moment
    a silence is created or a source posted, not at the next flush."""
    clock = FakeClock(T0)
    rule = """
inhibit_rules:
  - source_matchers: [alertname="Source"]
    target_matchers: [alertname="Target"]
"""
    route = "  group_wait: 1s\n  group_interval: 10m\n  repeat_interval: 1h\n"
    client, state, _hook = await start(make_router, aiohttp_server, clock, route=route,
                                       extra=rule)
    await post_alerts(client, v2_alert("Target"))
    await run_until(state, clock, T0 + 5)
    status = (await api_alerts(client))["Target"]["status"]
    assert status == {"state": "active", "silencedBy": [], "inhibitedBy": []}

    sid = await create_silence(client, [api_matcher("alertname", "Target")], T0, T0 + 3600)
    status = (await api_alerts(client))["Target"]["status"]
    assert status == {"state": "suppressed", "silencedBy": [sid], "inhibitedBy": []}

    await post_alerts(client, v2_alert("Source"))
    listed = await api_alerts(client)
    source_fp = listed["Source"]["fingerprint"]
    assert listed["Target"]["status"] == {"state": "suppressed", "silencedBy": [sid],
                                          "inhibitedBy": [source_fp]}

    assert (await client.delete(f"/api/v2/silence/{sid}")).status == 200
    clock_now = clock.now()
    await run_until(state, clock, clock_now + 0.001)  # past the silence's inclusive end
    listed = await api_alerts(client)
    assert listed["Target"]["status"] == {"state": "suppressed", "silencedBy": [],
                                          "inhibitedBy": [source_fp]}
    assert listed["Source"]["status"]["state"] == "active"
