"""Dead letters are bounded (issue 11 item 7), seen from outside on the fake clock.

A receiver answering 401 forever: a re-flush of the unchanged group joins the dead row's
budget instead of queuing a fresh notification, so `max_attempts` bounds the attempts and
one dead row is kept; a changed state still notifies; dead rows older than
`delivery.dead_retention` are removed by the garbage collector; the gauge counts them.
"""

from __future__ import annotations

from typing import Any

from channels.fakes import Fake, start_fake
from conftest import post_alerts, run_until, v2_alert
from fakeclock import FakeClock

from router.service import GC_INTERVAL, Service


def config(url: str, extra: str = "", repeat: str = "1h") -> str:
    return f"""
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: {repeat}
receivers:
  - name: team
    webhook_configs:
      - url: {url}
delivery:
  max_attempts: 3
{extra}
"""


async def dead_rows(client: Any) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/deliveries?state=dead")
    assert resp.status == 200
    rows: list[dict[str, Any]] = await resp.json()
    return rows


def gauge(state: Service) -> float | None:
    return state.metrics.registry.get_sample_value(
        "alert_router_outbox_dead", {"channel": "webhook"})


async def test_an_unchanged_group_joins_the_dead_rows_budget(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    hook: Fake = await start_fake(aiohttp_server, "webhook", [401] * 100)
    client, state = await make_router(config(hook.url))
    start = clock.now()
    await post_alerts(client, v2_alert("Down", instance="a"))
    await run_until(state, clock, start + 20)

    assert len(hook.requests) == 3  # max_attempts, not one per group_interval
    rows = await dead_rows(client)
    assert [(r["attempts"], r["channel"]) for r in rows] == [(3, "webhook")]
    assert "401" in rows[0]["lastError"]
    assert gauge(state) == 1

    # A changed state (one more alert in the group) is a new notification, with a budget
    # of its own.
    await post_alerts(client, v2_alert("Down", instance="b"))
    await run_until(state, clock, start + 40)
    assert len(hook.requests) == 6
    assert [len(r.json()["alerts"]) for r in hook.requests] == [1, 1, 1, 2, 2, 2]
    assert [r["attempts"] for r in await dead_rows(client)] == [3, 3]
    assert gauge(state) == 2

    # Restarted, the router still knows the spent state: no fresh budget for it.
    await client.close()
    client, state = await make_router(config(hook.url))
    assert gauge(state) == 2
    await run_until(state, clock, start + 60)
    assert len(hook.requests) == 6
    assert len(await dead_rows(client)) == 2


async def test_dead_rows_are_removed_after_dead_retention(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    hook: Fake = await start_fake(aiohttp_server, "webhook", [401] * 100)
    client, state = await make_router(config(hook.url, "  dead_retention: 1m"))
    start = clock.now()
    await post_alerts(client, v2_alert("Down", instance="a"))
    await run_until(state, clock, start + 10)
    assert len(await dead_rows(client)) == 1
    assert gauge(state) == 1
    # Resolved: nothing more is sent for the group (it was never delivered).
    await post_alerts(client, v2_alert("Down", instance="a", starts=start, ends=start + 10))

    # The first GC pass (at GC_INTERVAL) finds the row younger than a minute; the second
    # removes it.
    await run_until(state, clock, start + 2 * GC_INTERVAL + 1)
    await state.collect_garbage()  # a pass of its own, awaited, after the loop's
    assert await dead_rows(client) == []
    assert gauge(state) == 0
    assert len(hook.requests) == 3


async def test_a_retry_by_hand_gives_the_dead_row_a_fresh_budget(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    hook: Fake = await start_fake(aiohttp_server, "webhook", [401] * 100)
    client, state = await make_router(config(hook.url))
    start = clock.now()
    await post_alerts(client, v2_alert("Down", instance="a"))
    await run_until(state, clock, start + 10)
    [row] = await dead_rows(client)
    assert len(hook.requests) == 3

    resp = await client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert resp.status == 202
    await run_until(state, clock, start + 20)
    # The re-queued row was tried again, and the re-flushes joined its new budget.
    assert len(hook.requests) == 6
    assert [(r["id"], r["attempts"]) for r in await dead_rows(client)] == [(row["id"], 3)]
    assert gauge(state) == 1


async def test_a_spent_state_gets_a_fresh_budget_after_repeat_interval(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    hook: Fake = await start_fake(aiohttp_server, "webhook", [401] * 100)
    client, state = await make_router(config(hook.url, repeat="10s"))
    start = clock.now()
    await post_alerts(client, v2_alert("Down", instance="a"))
    await run_until(state, clock, start + 10)
    [row] = await dead_rows(client)
    assert len(hook.requests) == 3
    # First queued at +1: from +11 a repeat is due, and the same row is tried again.
    await run_until(state, clock, start + 20)
    assert len(hook.requests) == 6
    assert [(r["id"], r["attempts"]) for r in await dead_rows(client)] == [(row["id"], 3)]
