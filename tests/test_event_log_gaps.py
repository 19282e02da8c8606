"""Event-log changes nobody writes through the API: a silence that ends by time is
announced (`silence.expired`) once, also when it ended while the router was down; and
notification events are linked to every alert they cover, so an alert's events and its
"last notification per channel" include what failed or died, not only what was sent."""

from __future__ import annotations

from typing import Any

from channels.fakes import Fake, start_fake
from conftest import api_matcher, create_silence, flushed, post_alerts, settle_deliveries, v2_alert
from fakeclock import FakeClock

from router.events.model import Event, EventQuery
from router.service import GC_INTERVAL
from router.timefmt import format_time

CONFIG = """
route:
  receiver: team
  group_by: ['alertname']
  group_wait: 1s
receivers:
  - name: team
    log_configs: [{}]
"""


async def silence_events(client: Any) -> list[tuple[str, str, str]]:
    page = await (await client.get("/api/v1/events?since=0&type=silence.")).json()
    return [(e["type"], e["data"]["id"], e["data"]["status"]["state"])
            for e in page["events"]]


async def test_a_silence_that_ends_by_time_is_announced_once_across_restarts(
        make_router: Any, clock: FakeClock) -> None:
    client, state = await make_router(CONFIG)
    now = clock.now()
    short = await create_silence(client, [api_matcher("alertname", "A")], now, now + 90)
    by_hand = await create_silence(client, [api_matcher("alertname", "B")], now, now + 90)
    assert (await client.delete(f"/api/v2/silence/{by_hand}")).status == 200
    later = await create_silence(client, [api_matcher("alertname", "C")], now, now + 200)
    await clock.advance(GC_INTERVAL)  # the periodic GC: nothing has ended yet
    await clock.advance(GC_INTERVAL)  # `short` ended 30 s ago
    await state.collect_garbage()  # and again: announced once only
    assert await silence_events(client) == [
        ("silence.created", short, "active"), ("silence.created", by_hand, "active"),
        ("silence.expired", by_hand, "expired"),  # through the API, when it happened
        ("silence.created", later, "active"),
        ("silence.expired", short, "expired"),
    ]
    await client.close()
    await state.stop()
    await clock.advance(300)  # `later` ends while the router is down
    client, state = await make_router(CONFIG)
    await state.collect_garbage()
    events = await silence_events(client)
    assert events[5:] == [("silence.expired", later, "expired")]
    await client.close()
    client, state = await make_router(CONFIG)  # and a restart does not repeat it
    assert await silence_events(client) == events


LINKED = """
route:
  receiver: team
  group_by: ['alertname']
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: team
    log_configs: [{}]
    webhook_configs: [{url: URL}]
delivery:
  max_attempts: 2
  backoff_base: 1s
"""


async def test_an_alerts_notification_events_and_last_notification_per_channel(
        make_router: Any, aiohttp_server: Any, clock: FakeClock) -> None:
    hook: Fake = await start_fake(aiohttp_server, "webhook", [500, 503, 500, 503])
    client, state = await make_router(LINKED.replace("URL", hook.url))
    await post_alerts(client, v2_alert("Down", instance="a"), v2_alert("Down", instance="b"),
                      v2_alert("Other"))
    for _ in range(20):  # flushes, sends, a retry after its backoff, the dead letter
        await flushed(state)
        await settle_deliveries(state.delivery, clock)
        await clock.advance(0.5)
    alerts = {a["labels"].get("instance", a["labels"]["alertname"]): a["fingerprint"]
              for a in await (await client.get("/api/v1/alerts")).json()}
    page = await (await client.get(f"/api/v1/events?since=0&fingerprint={alerts['a']}"
                                   )).json()
    kinds = [(e["type"], e["data"].get("channel")) for e in page["events"]]
    assert kinds[0] == ("alert.firing", None)
    # the group's notifications name both alerts of the group, and only them
    assert ("notification.sent", "log[0]") in kinds
    assert ("notification.failed", "webhook[0]") in kinds
    assert kinds[-1] == ("notification.dead", "webhook[0]")
    other = await (await client.get(f"/api/v1/events?since=0&fingerprint={alerts['Other']}"
                                    )).json()
    assert {e["id"] for e in other["events"]}.isdisjoint(
        e["id"] for e in page["events"] if e["type"] != "alert.firing")

    trace = await (await client.get(f"/api/v1/alerts/{alerts['b']}/trace")).json()
    last = {n["channel"]: n for n in trace["notifications"]}
    assert set(last) == {"log[0]", "webhook[0]"}
    assert (last["log[0]"]["event"], last["log[0]"]["status"]) == ("sent", "firing")
    assert last["webhook[0]"]["event"] == "dead"
    assert last["webhook[0]"]["attempts"] == 2
    assert "HTTP 50" in last["webhook[0]"]["error"]
    assert last["webhook[0]"]["receiver"] == "team"


def test_a_live_stream_filtered_by_alert_gets_the_notifications_covering_it() -> None:
    query = EventQuery(fingerprint="a")
    assert query.matches(Event("notification.sent", 0.0, {"firing": ["a"], "resolved": []}))
    assert query.matches(Event("notification.dead", 0.0, {"firing": [], "resolved": ["a"]}))
    assert query.matches(Event("alert.firing", 0.0, {}, fingerprint="a"))
    assert not query.matches(Event("notification.sent", 0.0, {"firing": ["b"]}))
    assert not query.matches(Event("silence.created", 0.0, {"firing": ["a"]}))


async def test_since_takes_a_duration_or_a_time(make_router: Any, clock: FakeClock) -> None:
    client, _ = await make_router(CONFIG.replace("1s", "1h"))
    await post_alerts(client, v2_alert("Old"))
    await clock.advance(600)
    start = clock.now()
    await post_alerts(client, v2_alert("Recent"))
    await clock.advance(60)

    async def names(since: str) -> list[str]:
        resp = await client.get("/api/v1/events", params={"since": since, "type": "alert.firing"})
        assert resp.status == 200, await resp.text()
        return [e["data"]["labels"]["alertname"] for e in (await resp.json())["events"]]

    assert await names("5m") == ["Recent"]
    assert await names("1h") == await names("0") == ["Old", "Recent"]
    assert await names("30s") == await names("0s") == []
    assert await names(format_time(start)) == ["Recent"]
    resp = await client.get("/api/v1/events?since=yesterday")
    answer = await resp.json()
    assert (resp.status, answer["path"]) == (400, "since")
    assert "duration (10m, 1h30m)" in answer["detail"]
