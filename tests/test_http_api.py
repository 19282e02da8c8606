"""The HTTP API end to end, in process: ingest → route → group → Slack fake, plus errors.

The app runs on a fake clock; Slack is a loopback fake (tests/channels/fakes.py). Waits for
network events are bounded with `asyncio.timeout`; timers are driven with `clock.advance`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from channels.fakes import Fake, load_fixture, start_fake
from conftest import quiet, retry_scheduled, wait_until
from fakeclock import FakeClock, settle

from router.service import Service
from router.timefmt import parse_time

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


Router = tuple[Any, Service]


def body_of(name: str) -> dict[str, Any]:
    body: dict[str, Any] = load_fixture(name)["body"]
    return body


async def post(client: Any, path: str, payload: Any, **kwargs: Any) -> Any:
    headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
    return await client.post(path, data=json.dumps(payload), headers=headers, **kwargs)


def sample(state: Service, name: str, **labels: str) -> float | None:
    return state.metrics.registry.get_sample_value(name, labels)


@pytest.fixture
async def slack_pair(aiohttp_server: Any) -> tuple[Fake, Fake]:
    default = await start_fake(aiohttp_server, "slack-webhook")
    critical = await start_fake(aiohttp_server, "slack-webhook")
    return default, critical


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
    assert req.json() == {
        "text": "[FIRING:1] HighErrorRate (prod-eu 10.0.0.2:8080 checkout critical)",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                        "text": "🔥 FIRING: HighErrorRate (1)"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": (
                "`cluster=prod-eu` `instance=10.0.0.2:8080` `service=checkout` "
                "· first notification · "
                "<http://127.0.0.1:9095/#/alerts?receiver=critical|Alertmanager view>")}]},
            {"type": "section", "text": {"type": "mrkdwn", "text": (
                "🔥 *Checkout 5xx rate above 5%*\nError rate is 6.1% over 5m\n"
                "*Severity:* critical · *Alert:* HighErrorRate · "
                f"*Since:* 2026-11-24 22:42:51 UTC\n<{silence}|🔕 Silence>")}},
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
    await retry_scheduled(state)
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
    assert sample(state, "alert_router_notification_requests_failed_total",
                  receiver="default",
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
    await retry_scheduled(state)
    await clock.advance(0.5)  # backoff_base: the first retry comes within it
    await wait_until(lambda: len(default.requests) == 2, "the retry")
    await quiet(state)
    assert sample(state, "alert_router_notification_requests_failed_total",
                  receiver="default",
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
    await retry_scheduled(state)
    row = state.delivery.held_rows()[0]
    assert row.last_error is not None
    assert "within 0.1s" in row.last_error
    default.delay = 0.0
    await clock.advance(0.5)
    await wait_until(lambda: sample(state, "alert_router_notifications_total",
                                    receiver="default", channel="slack") == 1.0,
                     "the delivery")
    assert sample(state, "alert_router_notification_requests_failed_total",
                  receiver="default",
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
    assert row["inDoubt"] is False  # the answer came back: nothing is in doubt
    assert await (await client.get("/api/v1/deliveries")).json() == []

    resp = await client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert resp.status == 202
    assert (await resp.json())["id"] == row["id"]
    await wait_until(lambda: len(default.requests) == 2, "the re-queued delivery")
    await quiet(state)
    assert default.requests[1].body == default.requests[0].body
    assert await (await client.get("/api/v1/deliveries?state=dead")).json() == []
    # Two ends: once dead, once delivered after the retry by hand; one failure.
    assert sample(state, "alert_router_notifications_total",
                  receiver="default", channel="slack") == 2.0
    assert sample(state, "alert_router_notifications_failed_total", receiver="default",
                  channel="slack", reason="client_error") == 1.0
    again = await client.post(f"/api/v1/deliveries/{row['id']}/retry")
    assert again.status == 404
    assert (await again.json())["error"] == "not_found"


# --- reading state back ------------------------------------------------------------


async def test_get_alerts_shows_receivers_and_last_notification(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, state = await make_router(hook_config(default.url, critical.url))
    await post(client, "/api/v1/alertmanager", body_of("critical-single-firing.json"))
    before = await (await client.get("/api/v1/alerts")).json()
    assert before[0]["receivers"][0]["channels"] == [
        {"channel": "slack", "index": 0, "lastNotification": None}]
    await clock.advance(1)
    await wait_until(lambda: len(critical.requests) == 1, "the message")
    await quiet(state)
    resp = await client.get("/api/v1/alerts")
    assert resp.status == 200
    assert await resp.json() == [{
        "fingerprint": "838fff5931ba958f",
        "labels": {"alertname": "HighErrorRate", "cluster": "prod-eu",
                   "instance": "10.0.0.2:8080", "service": "checkout",
                   "severity": "critical"},
        "annotations": {"description": "Error rate is 6.1% over 5m",
                        "summary": "Checkout 5xx rate above 5%"},
        "state": "firing",
        "startsAt": "2026-11-24T22:42:51.668498Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "updatedAt": "2026-11-24T22:42:52Z",
        "generatorURL": "",
        "receivers": [{
            "name": "critical",
            "route": '{}/{severity="critical"}',
            "groupKeys": ['{}/{severity="critical"}:{alertname="HighErrorRate"}'],
            "channels": [{"channel": "slack", "index": 0, "lastNotification": {
                "at": "2026-11-24T22:42:53Z", "status": "firing"}}],
        }],
        "mutedBy": [],
    }]


async def test_events_are_mapped_by_their_source(
    make_router: Any, slack_pair: tuple[Fake, Fake], clock: FakeClock
) -> None:
    default, critical = slack_pair
    client, _ = await make_router(hook_config(default.url, critical.url, """
sources:
  ci:
    labels:
      alertname: PipelineFailed
      pipeline: "{{ event.pipeline }}"
      cluster: ci
    annotations:
      summary: "Pipeline {{ event.pipeline }} is {{ event.state }}"
    status: "{{ 'firing' if event.state == 'failed' else 'resolved' }}"
    generator_url: "{{ event.url }}"
"""))
    event = {"pipeline": "deploy-api", "state": "failed", "url": "https://ci.example.com/p/42"}
    resp = await post(client, "/api/v1/events/ci", event)
    assert resp.status == 202
    alerts = await (await client.get("/api/v1/alerts")).json()
    assert [(a["labels"], a["annotations"], a["state"], a["generatorURL"]) for a in alerts] == [
        ({"alertname": "PipelineFailed", "pipeline": "deploy-api", "cluster": "ci"},
         {"summary": "Pipeline deploy-api is failed"}, "firing",
         "https://ci.example.com/p/42")]
    await clock.advance(1)
    await wait_until(lambda: len(default.requests) == 1, "the pipeline message")
    assert "Pipeline deploy-api is failed" in default.requests[0].text

    resp = await post(client, "/api/v1/events/ci", {**event, "state": "passed"})
    assert resp.status == 202
    alerts = await (await client.get("/api/v1/alerts")).json()
    assert [a["state"] for a in alerts] == ["resolved"]

    unknown = await post(client, "/api/v1/events/jenkins", event)
    assert unknown.status == 404
    answer = await unknown.json()
    assert answer["error"] == "not_found"
    assert "jenkins" in answer["detail"]


# --- error answers -----------------------------------------------------------------


def postable(n: int) -> list[dict[str, Any]]:
    return [{"labels": {"alertname": f"A{i}", "cluster": "c1"},
             "annotations": {"summary": "x" * 200}} for i in range(n)]


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body: dict[str, Any] = await resp.json()
    assert set(body) - {"path"} == {"error", "detail"}
    assert body["detail"]
    return body


@pytest.mark.parametrize("path", ["/api/v1/alertmanager", "/api/v2/alerts"])
async def test_malformed_and_deeply_nested_json_is_400(
    make_router: Any, slack_pair: tuple[Fake, Fake], path: str
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    headers = {"Content-Type": "application/json"}
    bad = await client.post(path, data=b'{"alerts": [', headers=headers)
    assert (await error_of(bad, 400))["error"] == "bad_json"
    deep = await client.post(path, data=b"[" * 200_000 + b"]" * 200_000, headers=headers)
    assert (await error_of(deep, 400))["error"] == "bad_json"
    latin = await client.post(path, data=b'["\xff"]', headers=headers)
    await error_of(latin, 400)
    assert state.ingestor.alerts == {}


async def test_wrong_shape_is_422_with_the_path_of_the_field(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    alerts: list[Any] = postable(4)
    alerts[3]["labels"] = ["alertname", "x"]
    body = await error_of(await post(client, "/api/v2/alerts", alerts), 422)
    assert body["path"] == "[3].labels"
    assert body["error"] == "invalid"
    alerts[3]["labels"] = {"alertname": 5}
    body = await error_of(await post(client, "/api/v2/alerts", alerts), 422)
    assert body["path"] == "[3].labels.alertname"
    alerts[3] = {"labels": {"a": "b"}, "startsAt": "yesterday"}
    body = await error_of(await post(client, "/api/v2/alerts", alerts), 422)
    assert body["path"] == "[3].startsAt"
    body = await error_of(await post(client, "/api/v2/alerts", {"labels": {}}), 422)
    assert "array" in body["detail"]
    webhook = body_of("critical-single-firing.json")
    webhook["alerts"][0]["status"] = "burning"
    body = await error_of(await post(client, "/api/v1/alertmanager", webhook), 422)
    assert body["path"] == "alerts[0].status"
    # Nothing of a rejected request is kept, not even its valid alerts.
    assert state.ingestor.alerts == {}
    assert await state.store.load_alerts() == []
    assert sample(state, "alert_router_alerts_invalid_total", source="api") == 4.0


async def test_wrong_content_type_is_415(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, _ = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    resp = await client.post("/api/v2/alerts", data=json.dumps(postable(1)),
                             headers={"Content-Type": "text/plain"})
    body = await error_of(resp, 415)
    assert "text/plain" in body["detail"]


async def test_body_over_the_limit_is_413(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url)
                                      + "server:\n  max_body_bytes: 4096\n")
    big = json.dumps(postable(40)).encode()
    assert len(big) > 4096
    resp = await client.post("/api/v2/alerts", data=big,
                             headers={"Content-Type": "application/json"})
    assert (await error_of(resp, 413))["error"] == "too_large"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    resp = await client.post("/api/v2/alerts", data=chunks(),
                             headers={"Content-Type": "application/json"})
    await error_of(resp, 413)
    assert state.ingestor.alerts == {}
    small = await post(client, "/api/v2/alerts", postable(1))
    assert small.status == 200


async def test_credentials_are_required_when_auth_is_configured(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url) + f"""
server:
  auth:
    bearer_tokens: [{INGEST_TOKEN}]
    basic_auth: [{{username: prometheus, password: s3cret-pass}}]
""")
    alerts = postable(1)
    basic = base64.b64encode(b"prometheus:s3cret-pass").decode()
    wrong_basic = base64.b64encode(b"prometheus:nope").decode()
    for headers in ({}, {"Authorization": "Bearer wrong"},
                    {"Authorization": f"Basic {wrong_basic}"},
                    {"Authorization": "Basic !!!not-base64"},
                    {"Authorization": f"Token {INGEST_TOKEN}"}):
        for path, payload in (("/api/v2/alerts", alerts),
                              ("/api/v1/alertmanager", body_of("critical-single-firing.json")),
                              ("/api/v1/events/nope", {})):
            resp = await post(client, path, payload, headers=headers)
            body = await error_of(resp, 401)
            assert INGEST_TOKEN not in json.dumps(body)
        assert (await client.post("/api/v1/deliveries/1/retry", headers=headers)).status == 401
    assert state.ingestor.alerts == {}
    ok = await post(client, "/api/v2/alerts", alerts,
                    headers={"Authorization": f"Bearer {INGEST_TOKEN}"})
    assert ok.status == 200
    ok = await post(client, "/api/v1/alertmanager", body_of("critical-single-firing.json"),
                    headers={"Authorization": f"Basic {basic}"})
    assert ok.status == 202
    assert len(state.ingestor.alerts) == 2


async def test_unknown_paths_and_methods_answer_json(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, _ = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    await error_of(await client.get("/api/v1/nothing"), 404)
    await error_of(await client.put("/api/v2/alerts"), 405)
    await error_of(await client.get("/api/v1/deliveries?state=sent"), 400)
    await error_of(await client.get("/api/v1/deliveries?limit=ten"), 400)
    await error_of(await client.post("/api/v1/deliveries/abc/retry"), 404)
    await error_of(await client.post("/api/v1/deliveries/999/retry"), 404)


async def test_full_store_is_503_and_nothing_half_stored(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    first = await post(client, "/api/v2/alerts", postable(1))
    assert first.status == 200
    # Durable before the answer: the store already holds it.
    assert [a.labels["alertname"] for a in await state.store.load_alerts()] == ["A0"]
    store: Any = state.store
    await store.set_max_page_count(await store.page_count())
    many = [{"labels": {"alertname": "Full", "i": str(i)},
             "annotations": {"summary": "y" * 2000}} for i in range(300)]
    resp = await post(client, "/api/v2/alerts", many)
    body = await error_of(resp, 503)
    assert body["error"] == "unavailable"
    assert resp.headers["Retry-After"] == "5"
    assert sample(state, "alert_router_store_errors_total") == 1.0
    await store.set_max_page_count(1_000_000)
    alerts = await (await client.get("/api/v1/alerts")).json()
    assert [a["labels"]["alertname"] for a in alerts] == ["A0"]
    assert [a.labels["alertname"] for a in await state.store.load_alerts()] == ["A0"]
    # With room again the producer's retry is accepted.
    assert (await post(client, "/api/v2/alerts", many)).status == 200
    assert len(await state.store.load_alerts()) == 301


async def test_closed_store_is_503_never_500(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    await state.store.close()
    for path, payload in (("/api/v2/alerts", postable(1)),
                          ("/api/v1/alertmanager", body_of("critical-single-firing.json"))):
        resp = await post(client, path, payload)
        await error_of(resp, 503)
        assert resp.headers["Retry-After"]
    resp = await client.get("/api/v1/deliveries?state=dead")
    await error_of(resp, 503)
    assert state.ingestor.alerts == {}


async def test_v2_alerts_are_committed_before_202(
    make_router: Any, slack_pair: tuple[Fake, Fake], tmp_path: Path
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    resp = await post(client, "/api/v2/alerts", [
        {"labels": {"alertname": "Disk", "instance": "db-1"},
         "annotations": {"summary": "disk full"}, "generatorURL": "http://prom/graph"}])
    assert resp.status == 200
    stored = await state.store.load_alerts()
    assert [(a.labels, a.annotations, a.generator_url) for a in stored] == [
        ({"alertname": "Disk", "instance": "db-1"}, {"summary": "disk full"},
         "http://prom/graph")]
    assert stored[0].ends_at == START + 300  # resolve_timeout
    assert (tmp_path / "router.db").exists()


async def test_a_body_without_content_type_is_read_as_json(
    make_router: Any, slack_pair: tuple[Fake, Fake]
) -> None:
    client, state = await make_router(hook_config(slack_pair[0].url, slack_pair[1].url))
    resp = await client.post("/api/v2/alerts", data=json.dumps(postable(1)).encode(),
                             skip_auto_headers=["Content-Type"])
    assert resp.status == 200, await resp.text()
    assert len(state.ingestor.alerts) == 1
