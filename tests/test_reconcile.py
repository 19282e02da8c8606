"""The relay topology without ghost alerts: `sources.alertmanager.reconcile` resolves here
what the upstream Alertmanager no longer has (silenced, then resolved there, which its
webhook never announces), a failed poll changes nothing, and `webhook_alert_timeout`
bounds a relayed alert that stops being re-sent. The real app on the fake clock, a
stateful fake Alertmanager and a fake webhook receiver on loopback.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from channels.fake_alertmanager import FakeAlertmanager, start_fake_alertmanager
from channels.fakes import Fake, start_fake
from conftest import api_matcher, create_silence, run_until, v2_alert, wait_until
from fakeclock import FakeClock, settle
from pytest_aiohttp import AiohttpServer

from router.service import Service
from router.timefmt import format_time

PASSWORD = "s3cret-relay-pw"
INTERVAL = 60.0

CONFIG = """
route:
  receiver: team
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: team
    webhook_configs: [{{url: "{hook}", send_resolved: true}}]
sources:
  alertmanager:
{source}
"""

RECONCILE = """    reconcile:
      url: {am}
      interval: 1m
      startup_grace: 5m
      http_config: {{basic_auth: {{username: relay, password: {password}}}}}
"""


async def relay(client: Any, status: str, *names: str, at: float) -> None:
    """What Alertmanager's webhook sends alert-router for these alerts."""
    body = {"version": "4", "status": status, "receiver": "relay", "alerts": [
        {"status": status, "labels": {"alertname": n}, "annotations": {},
         "startsAt": format_time(at - 60),
         "endsAt": format_time(at) if status == "resolved" else "0001-01-01T00:00:00Z"}
        for n in names]}
    resp = await client.post("/api/v1/alertmanager", json=body)
    assert resp.status == 202, await resp.text()
    await settle()


async def firing_here(client: Any) -> list[str]:
    resp = await client.get("/api/v2/alerts")
    assert resp.status == 200
    return sorted(a["labels"]["alertname"] for a in await resp.json())


def notified(hook: Fake) -> list[tuple[str, str]]:
    return [(a["labels"]["alertname"], a["status"])
            for r in hook.requests for a in r.json()["alerts"]]


def gauge(state: Service, name: str) -> float:
    value: float = getattr(state.metrics, name)._value.get()
    return value


async def setup(make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
                **fake: Any) -> tuple[Any, Service, FakeAlertmanager, Fake]:
    am = await start_fake_alertmanager(aiohttp_server, clock.now,
                                       basic_auth=("relay", PASSWORD), **fake)
    hook = await start_fake(aiohttp_server, "webhook")
    source = RECONCILE.format(am=am.url, password=PASSWORD)
    client, state = await make_router(CONFIG.format(hook=hook.url, source=source))
    return client, state, am, hook


async def tick(state: Service, clock: FakeClock, until: float, *, polls: int) -> None:
    """Move to `until` and wait for the poll that fires there to finish."""
    await run_until(state, clock, until)
    await wait_until(lambda: state.reconciler.passes >= polls, "the reconcile poll")
    await settle()
    # A millisecond on: an alert resolved at `now` is still listed at `now` (Alertmanager
    # hides an alert only once its endsAt is before now).
    await run_until(state, clock, clock.now() + 0.001)


async def test_an_alert_silenced_then_resolved_upstream_resolves_here_within_one_interval(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    client, state, am, hook = await setup(make_router, aiohttp_server, clock)
    t0 = clock.now()
    am.fire("Silenced")
    am.fire("Loud")
    await relay(client, "firing", "Silenced", "Loud", at=t0)
    await tick(state, clock, t0 + INTERVAL, polls=1)
    assert await firing_here(client) == ["Loud", "Silenced"]  # both still upstream
    assert gauge(state, "reconcile_last_success") == t0 + INTERVAL
    assert sorted(notified(hook)) == [("Loud", "firing"), ("Silenced", "firing")]
    # Silenced upstream, then resolved there: Alertmanager's webhook says nothing (#226).
    am.resolve("Silenced")
    await tick(state, clock, t0 + 2 * INTERVAL, polls=2)
    assert await firing_here(client) == ["Loud"]
    await run_until(state, clock, t0 + 4 * INTERVAL)  # the group's next flush
    assert ("Silenced", "resolved") in notified(hook)
    assert ("Loud", "resolved") not in notified(hook)
    assert gauge(state, "reconcile_resolved") == 1
    # Every poll carried the http_config credentials (the fake answers 401 otherwise).
    assert ("GET", "/api/v2/alerts") in am.requests


async def test_an_expired_silence_here_never_notifies_an_alert_resolved_upstream(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    # The report: silenced here and upstream, resolved upstream (never announced),
    # and when this router's silence expired, a FIRING for an alert an hour gone.
    client, state, am, hook = await setup(make_router, aiohttp_server, clock)
    t0 = clock.now()
    await create_silence(client, [api_matcher("alertname", "Ghost")], t0, t0 + 3600)
    am.fire("Ghost")
    await relay(client, "firing", "Ghost", at=t0)
    await run_until(state, clock, t0 + 30)
    am.resolve("Ghost")
    await tick(state, clock, t0 + INTERVAL, polls=1)
    assert await firing_here(client) == []
    await run_until(state, clock, t0 + 3600 + 5 * INTERVAL)  # the silence has expired
    assert notified(hook) == []
    # The group did flush: its one notification was suppressed by the silence.
    assert state.metrics.registry.get_sample_value(
        "alert_router_notifications_suppressed_total", {"reason": "silence"}) == 1


@pytest.mark.parametrize("failure", [503, 401, "garbage"])
async def test_a_failed_poll_changes_nothing(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
    failure: int | str, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client, state, am, _ = await setup(make_router, aiohttp_server, clock)
    t0 = clock.now()
    am.fire("Gone")
    await relay(client, "firing", "Gone", at=t0)
    am.resolve("Gone")
    am.script = [failure]  # the status request fails: the alerts are never fetched
    await run_until(state, clock, t0 + INTERVAL)
    await wait_until(lambda: gauge(state, "reconcile_failures") == 1, "the failed poll")
    assert await firing_here(client) == ["Gone"]
    assert gauge(state, "reconcile_last_success") == 0
    assert any("reconcile" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text
    # The next good poll does what the failed one could not.
    await run_until(state, clock, t0 + 2 * INTERVAL)
    await wait_until(lambda: gauge(state, "reconcile_resolved") == 1, "the resolution")
    await run_until(state, clock, clock.now() + 0.001)
    assert await firing_here(client) == []


async def test_an_unreachable_upstream_changes_nothing(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    client, state, am, _ = await setup(make_router, aiohttp_server, clock)
    t0 = clock.now()
    await relay(client, "firing", "Held", at=t0)  # upstream never had it: would resolve
    assert am.server is not None
    await am.server.close()
    await run_until(state, clock, t0 + INTERVAL)
    await wait_until(lambda: gauge(state, "reconcile_failures") == 1, "the failed poll")
    assert await firing_here(client) == ["Held"]


async def test_a_restarted_upstream_resolves_nothing_during_its_startup_grace(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    # Alertmanager keeps no alerts across a restart: until Prometheus re-sends them its
    # list is empty, and resolving on it would notify every relayed alert resolved.
    client, state, am, hook = await setup(make_router, aiohttp_server, clock,
                                          started=clock.now())
    t0 = clock.now()
    await relay(client, "firing", "Kept", at=t0)
    await tick(state, clock, t0 + INTERVAL, polls=1)
    assert gauge(state, "reconcile_last_success") == t0 + INTERVAL
    assert await firing_here(client) == ["Kept"]
    am.fire("Kept")  # Prometheus re-sent it: it is there once the grace ends
    await tick(state, clock, t0 + 6 * INTERVAL, polls=6)
    assert await firing_here(client) == ["Kept"]
    assert notified(hook) == [("Kept", "firing")]


async def test_alerts_from_other_inputs_are_not_reconciled(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    client, state, _am, _ = await setup(make_router, aiohttp_server, clock)
    t0 = clock.now()
    resp = await client.post("/api/v2/alerts", json=[v2_alert("Direct")])
    assert resp.status == 200
    await tick(state, clock, t0 + INTERVAL, polls=1)
    assert await firing_here(client) == ["Direct"]


async def test_webhook_alert_timeout_resolves_a_relayed_alert_no_longer_re_sent(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
) -> None:
    hook = await start_fake(aiohttp_server, "webhook")
    client, state = await make_router(CONFIG.format(
        hook=hook.url, source="    webhook_alert_timeout: 5h\n"))
    t0 = clock.now()
    await relay(client, "firing", "Stale", "Repeated", at=t0)
    # Alertmanager re-sends a firing group every repeat_interval (4h here): in time.
    await run_until(state, clock, t0 + 4 * 3600)
    await relay(client, "firing", "Repeated", at=clock.now())
    await run_until(state, clock, t0 + 5 * 3600 - 1)
    assert await firing_here(client) == ["Repeated", "Stale"]
    await run_until(state, clock, t0 + 5 * 3600 + 120)
    assert await firing_here(client) == ["Repeated"]
    assert ("Stale", "resolved") in notified(hook)
    await run_until(state, clock, t0 + 9 * 3600 + 120)
    assert await firing_here(client) == []
