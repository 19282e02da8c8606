"""The HTTP API end to end, in process: ingest → route → group → Slack fake, plus errors.

The app runs on a fake clock; Slack is a loopback fake (tests/channels/fakes.py). Waits for
network events are bounded with `asyncio.timeout`; timers are driven with `clock.advance`.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from router.app import AppState
from router.clock import FakeClock, settle
from router.model import parse_time

from channels.fakes import Fake, load_fixture, start_fake

# Just after the fixtures' startsAt, so group_wait (1s) still applies to them.
START = parse_time("2026-11-24T22:42:52Z") or 0.0
INGEST_TOKEN = "ingest-token-0123456789"

ROUTE = """
route:
  receiver: default
  group_by: ['alertname', 'cluster']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: critical
      group_by: ['alertname']
      continue: true
"""


def hook_config(default_url: str, critical_url: str, extra: str = "") -> str:
    return ROUTE + f"""
receivers:
  - name: default
    slack_configs:
      - api_url: {default_url}
        send_resolved: true
  - name: critical
    slack_configs:
      - api_url: {critical_url}
        send_resolved: true
        max_alerts: 1
{extra}"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


Router = tuple[Any, AppState]


async def wait_until(predicate: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """Wait for a network/IO event (never a timer: those move with the fake clock)."""
    try:
        async with asyncio.timeout(seconds):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def quiet(state: AppState) -> None:
    """Let due timers run and every queued delivery finish."""
    await settle()
    async with asyncio.timeout(5):
        await state.delivery.wait_idle()
    await settle()


def body_of(name: str) -> dict[str, Any]:
    body: dict[str, Any] = load_fixture(name)["body"]
    return body


async def post(client: Any, path: str, payload: Any, **kwargs: Any) -> Any:
    resp = await client.post(path, data=json.dumps(payload),
                             headers={"Content-Type": "application/json",
                                      **kwargs.pop("headers", {})}, **kwargs)
    return resp


def sample(state: AppState, name: str, **labels: str) -> float | None:
    return state.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
async def slack_pair(aiohttp_server: Any) -> AsyncIterator[tuple[Fake, Fake]]:
    default = await start_fake(aiohttp_server, "slack-webhook")
    critical = await start_fake(aiohttp_server, "slack-webhook")
    yield default, critical


# --- delivery of the captured fixtures ---------------------------------------------


async def test_critical_fixture_reaches_critical_slack_with_exact_body(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, state = await make_router(hook_config(default.url, critical.url))
    resp = await post(client, "/api/v1/alertmanager", body_of("critical-single-firing.json"))
    assert resp.status == 202
    assert await resp.json() == {"status": "accepted", "alerts": 1, "changed": 1}
    await clock.advance(0.9)
    await quiet(state)
    assert critical.requests == []  # group_wait not over yet
    await clock.advance(0.1)
    await wait_until(lambda: len(critical.requests) == 1, "the critical Slack message")
    await quiet(state)
    req = critical.requests[0]
    assert req.method == "POST"
    assert req.headers["Content-Type"] == "application/json"
    silence = ("http://127.0.0.1:9095/#/silences/new?filter=%7Balertname%3D%22HighErrorRate"
               "%22%2C%20cluster%3D%22prod-eu%22%2C%20instance%3D%2210.0.0.2%3A8080%22%2C%20"
               "service%3D%22checkout%22%2C%20severity%3D%22critical%22%7D")
    print("ACTUAL", json.dumps(req.json(), ensure_ascii=False, indent=1)); assert req.json() == {
        "text": "[FIRING:1] HighErrorRate prod-eu 10.0.0.2:8080 checkout critical",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                        "text": "🔥 FIRING: HighErrorRate (1)"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "`cluster=prod-eu` `instance=10.0.0.2:8080` `service=checkout` "
                "`severity=critical` · first notification · "
                "<http://127.0.0.1:9095/#/alerts?receiver=critical|Alertmanager view>")}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": (
                "🔥 *Checkout 5xx rate above 5%*\nError rate is 6.1% over 5m\n"
                "*Severity:* critical · *Alert:* HighErrorRate · "
                f"*Since:* 2026-11-24 22:42:51 UTC<{silence}|🔕 Silence>")}},
        ],
    }
    # The root route is not a match once a child matched (Alertmanager semantics).
    assert default.requests == []
    assert sample(state, "alert_router_notifications_total",
                  receiver="critical", channel="slack") == 1.0


async def test_grouped_fixture_is_one_message_truncated_to_max_alerts(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, state = await make_router(hook_config(default.url, critical.url))
    body = body_of("critical-grouped-truncated.json")
    assert len(body["alerts"]) == 2
    resp = await post(client, "/api/v1/alertmanager", body)
    assert resp.status == 202
    await clock.advance(1)
    await wait_until(lambda: len(critical.requests) == 1, "the grouped message")
    await quiet(state)
    sent = critical.requests[0].json()
    assert sent["text"].startswith("[FIRING:2] HighErrorRate")
    assert sent["blocks"][0]["text"]["text"] == "🔥 FIRING: HighErrorRate (2)"
    sections = [b for b in sent["blocks"] if b["type"] == "section"]
    assert len(sections) == 1  # max_alerts: 1; the other alert is summarised
    assert "more" in json.dumps(sent["blocks"][-1], ensure_ascii=False)
    assert len(critical.requests) == 1


async def test_warning_fires_then_resolves_through_incoming_webhook(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, state = await make_router(hook_config(default.url, critical.url))
    assert (await post(client, "/api/v1/alertmanager",
                       body_of("default-warning-firing.json"))).status == 202
    await clock.advance(1)
    await wait_until(lambda: len(default.requests) == 1, "the firing message")
    fired = default.requests[0].json()
    assert fired["blocks"][0]["text"]["text"] == "🔥 FIRING: DiskFilling (1)"
    assert "Disk will fill in 4h" in json.dumps(fired, ensure_ascii=False)

    assert (await post(client, "/api/v1/alertmanager",
                       body_of("default-warning-resolved.json"))).status == 202
    await clock.advance(2)  # group_interval
    await wait_until(lambda: len(default.requests) == 2, "the resolved message")
    await quiet(state)
    resolved = default.requests[1].json()
    assert resolved["text"].startswith("[RESOLVED] DiskFilling")
    assert resolved["blocks"][0]["text"]["text"] == "✅ RESOLVED: DiskFilling (1)"
    assert "all alerts resolved" in resolved["blocks"][1]["elements"][0]["text"]
    assert critical.requests == []


async def test_web_api_posts_then_updates_the_same_message(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    api = await start_fake(aiohttp_server, "slack-api")
    client, state = await make_router(ROUTE + f"""
receivers:
  - name: default
    slack_configs:
      - token: xoxb-test-token-abc
        channel: "#ops"
        app_url: {api.url}
        send_resolved: true
  - name: critical
""")
    await post(client, "/api/v1/alertmanager", body_of("default-warning-firing.json"))
    await clock.advance(1)
    await wait_until(lambda: len(api.requests) == 1, "chat.postMessage")
    await quiet(state)
    first = api.requests[0]
    assert first.path == "/api/chat.postMessage"
    assert first.headers["Authorization"] == "Bearer xoxb-test-token-abc"
    posted = first.json()
    assert posted["channel"] == "#ops"
    assert posted["blocks"][0]["text"]["text"] == "🔥 FIRING: DiskFilling (1)"

    await post(client, "/api/v1/alertmanager", body_of("default-warning-resolved.json"))
    await clock.advance(2)
    await wait_until(lambda: len(api.requests) == 2, "chat.update")
    await quiet(state)
    update = api.requests[1]
    assert update.path == "/api/chat.update"
    edited = update.json()
    # The ts and the channel ID Slack answered to chat.postMessage.
    assert edited["ts"] == "1700000000.000100"
    assert edited["channel"] == "C0123ABCD"
    assert edited["blocks"][0]["text"]["text"] == "✅ RESOLVED: DiskFilling (1)"


async def test_alertmanager_ha_duplicates_and_resends_give_one_message(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, state = await make_router(hook_config(default.url, critical.url))
    body = body_of("default-warning-firing.json")
    # Two Alertmanager replicas deliver the same notification.
    for _ in range(2):
        assert (await post(client, "/api/v1/alertmanager", body)).status == 202
    await clock.advance(1)
    await wait_until(lambda: len(default.requests) == 1, "the message")
    await quiet(state)
    # Each replica re-sends on its group_interval / repeat: nothing changed, nothing sent.
    for _ in range(3):
        resp = await post(client, "/api/v1/alertmanager", body)
        assert resp.status == 202
        assert (await resp.json())["changed"] == 0
        await clock.advance(2)
        await quiet(state)
    assert len(default.requests) == 1
    assert sample(state, "alert_router_notification_requests_total",
                  receiver="default", channel="slack") == 1.0


# --- vendor failures -------------------------------------------------------------


async def test_slack_429_retry_after_is_honoured_then_delivered_once(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    default = await start_fake(aiohttp_server, "slack-webhook",
                               [(429, {"Retry-After": "7"}), 200])
    client, state = await make_router(hook_config(default.url, default.url))
    await post(client, "/api/v1/alertmanager", body_of("default-warning-firing.json"))
    await clock.advance(1)
    await wait_until(lambda: any(r.attempts == 1 for r in state.delivery.rows.values()),
                     "the rate-limited attempt")
    await clock.advance(6.9)
    await settle()
    assert sample(state, "alert_router_notification_requests_total",
                  receiver="default", channel="slack") == 1.0
    await clock.advance(0.1)
    await wait_until(lambda: len(default.requests) == 2, "the retry")
    await quiet(state)
    assert default.requests[0].body == default.requests[1].body
    assert sample(state, "alert_router_notifications_total",
                  receiver="default", channel="slack") == 1.0
    assert sample(state, "alert_router_notifications_failed_total", receiver="default",
                  channel="slack", reason="rate_limited") == 1.0
    await clock.advance(3600)
    await quiet(state)
    assert len(default.requests) == 2


async def test_slack_503_then_200_is_retried(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    default = await start_fake(aiohttp_server, "slack-webhook", [503, 200])
    client, state = await make_router(hook_config(default.url, default.url))
    await post(client, "/api/v1/alertmanager", body_of("default-warning-firing.json"))
    await clock.advance(1)
    await wait_until(lambda: any(r.attempts == 1 for r in state.delivery.rows.values()),
                     "the failed attempt")
    await clock.advance(0.5)  # backoff_base: the first retry comes within it
    await wait_until(lambda: len(default.requests) == 2, "the retry")
    await quiet(state)
    assert sample(state, "alert_router_notifications_failed_total", receiver="default",
                  channel="slack", reason="server_error") == 1.0
    assert sample(state, "alert_router_notifications_total",
                  receiver="default", channel="slack") == 1.0
    assert await (await client.get("/api/v1/deliveries?state=dead")).json() == []


async def test_slack_timeout_is_retried(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    default = await start_fake(aiohttp_server, "slack-webhook", delay=2.0)
    client, state = await make_router(hook_config(default.url, default.url)
                                      + "delivery:\n  timeout: 100ms\n")
    await post(client, "/api/v1/alertmanager", body_of("default-warning-firing.json"))
    await clock.advance(1)
    await wait_until(lambda: any(r.attempts == 1 for r in state.delivery.rows.values()),
                     "the timed-out attempt")
    row = next(iter(state.delivery.rows.values()))
    assert row.last_error is not None
    assert "within 0.1s" in row.last_error
    default.delay = 0.0
    await clock.advance(0.5)
    await wait_until(lambda: sample(state, "alert_router_notifications_total",
                                    receiver="default", channel="slack") == 1.0,
                     "the delivery")
    assert sample(state, "alert_router_notifications_failed_total", receiver="default",
                  channel="slack", reason="timeout") == 1.0
    assert len(default.requests) == 2


async def test_dead_delivery_is_listed_and_retried(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    default = await start_fake(aiohttp_server, "slack-webhook", [400, 200])
    client, state = await make_router(hook_config(default.url, default.url))
    await post(client, "/api/v1/alertmanager", body_of("default-warning-firing.json"))
    await clock.advance(1)
    await wait_until(lambda: len(default.requests) == 1, "the rejected attempt")
    await quiet(state)
    resp = await client.get("/api/v1/deliveries", params={"state": "dead"})
    assert resp.status == 200
    dead = await resp.json()
    assert len(dead) == 1
    row = dead[0]
    assert row["receiver"] == "default"
    assert row["channel"] == "slack"
    assert row["state"] == "dead"
    assert row["attempts"] == 1
    assert "400" in row["lastError"]
    assert "invalid_payload" in row["lastError"]
    assert row["groupKey"] == '{}:{alertname="DiskFilling", cluster="prod-us"}'
    assert await (await client.get("/api/v1/deliveries")).json() == []

    resp = await client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert resp.status == 202
    assert (await resp.json())["id"] == row["id"]
    await wait_until(lambda: len(default.requests) == 2, "the re-queued delivery")
    await quiet(state)
    assert default.requests[1].body == default.requests[0].body
    assert await (await client.get("/api/v1/deliveries?state=dead")).json() == []
    assert sample(state, "alert_router_notifications_total",
                  receiver="default", channel="slack") == 1.0
    again = await client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert again.status == 404
    assert (await again.json())["error"] == "not_found"
