"""Web Push end to end, on the fake clock: the key and subscription API, one outbox row per
subscription (a retry never re-sends to a browser that got it), pruning, the service
worker route, and no secret (endpoint, auth secret, private key) in any answer or log."""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from channels.fake_webpush import ALLOW_LOOPBACK, PushFake, start_push
from conftest import flushed, post_alerts, run_until, settle_deliveries, v2_alert
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.service import Service


def config(extra: str = "") -> str:
    return f"""
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 1s
  group_interval: 5s
  repeat_interval: 1h
receivers:
  - name: ops
    webpush_configs:
      - send_resolved: true
  - name: other
    webpush_configs: [{{}}]
delivery:
  backoff_base: 1s
  backoff_cap: 4s
webpush:
  subject: mailto:oncall@example.com
  allowed_endpoints: ["{ALLOW_LOOPBACK}", "*.googleapis.com"]
{extra}"""


async def run_for(state: Service, clock: FakeClock, seconds: float) -> None:
    """Move the fake clock half a second at a time, letting every flush and send finish:
    retries (backoff, Retry-After) fall due on the way."""
    end = clock.now() + seconds
    while clock.now() < end:
        await flushed(state)
        await settle_deliveries(state.delivery, clock)
        await clock.advance(0.5)


async def subscribe(client: Any, fake: PushFake, name: str, receivers: list[str]) -> int:
    resp = await client.post("/api/v1/webpush/subscriptions",
                             json=fake.subscription(name, receivers))
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    assert answer["receivers"] == receivers
    assert set(answer) == {"id", "receivers"}
    return int(answer["id"])


async def test_the_key_is_public_and_kept_across_restarts(make_router: Any,
                                                          tmp_path: Path) -> None:
    client, _ = await make_router(config())
    resp = await client.get("/api/v1/webpush/key")
    assert resp.status == 200
    key = (await resp.json())["publicKey"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65
    assert raw[0] == 4
    await client.close()
    client, _ = await make_router(config())  # same database: same key
    assert (await (await client.get("/api/v1/webpush/key")).json())["publicKey"] == key
    with sqlite3.connect(tmp_path / "router.db") as db:
        assert db.execute("SELECT COUNT(*) FROM webpush_vapid").fetchone()[0] == 1


async def test_web_push_off_answers_404(make_router: Any) -> None:
    client, _ = await make_router("route: {receiver: d}\nreceivers: [{name: d}]\n")
    for method, path in (("GET", "/api/v1/webpush/key"),
                         ("POST", "/api/v1/webpush/subscriptions"),
                         ("DELETE", "/api/v1/webpush/subscriptions")):
        resp = await client.request(method, path, json={})
        assert resp.status == 404, path
        assert "webpush.subject" in (await resp.json())["detail"]


async def test_subscriptions_are_validated_with_the_path(make_router: Any,
                                                         aiohttp_server: AiohttpServer) -> None:
    client, state = await make_router(config())
    fake = await start_push(aiohttp_server)
    cases = [
        ({**fake.subscription("a", ["ops"]), "endpoint": "http://10.0.0.1:8080/push/a"},
         422, "endpoint"),
        ({**fake.subscription("a", ["ops"]), "receivers": ["ops", "nope"]}, 422,
         "receivers[1]"),
        ({**fake.subscription("a", ["ops"]), "keys": {"p256dh": "x", "auth": "y"}}, 422,
         "keys.p256dh"),
        ({"endpoint": "\ud800"}, 422, "endpoint"),
    ]
    for body, status, path in cases:
        resp = await client.post("/api/v1/webpush/subscriptions", json=body)
        assert resp.status == status, await resp.text()
        answer = await resp.json()
        assert (answer["error"], answer["path"]) == ("invalid", path)
        assert "/push/" not in answer["detail"]
        assert "10.0.0.1" not in answer["detail"]
    resp = await client.post("/api/v1/webpush/subscriptions", data=b"{",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    resp = await client.post("/api/v1/webpush/subscriptions", data=b"{}",
                             headers={"Content-Type": "text/plain"})
    assert resp.status == 415
    assert len(state.webpush) == 0


async def test_a_store_fault_answers_503_with_retry_after(
        make_router: Any, aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    client, state = await make_router(config())
    fake = await start_push(aiohttp_server)
    blocker = sqlite3.connect(tmp_path / "router.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        for method, path, body in (
                ("GET", "/api/v1/webpush/key", None),  # the key pair is made on first use
                ("POST", "/api/v1/webpush/subscriptions", fake.subscription("a", ["ops"]))):
            resp = await client.request(method, path, json=body)
            assert resp.status == 503, await resp.text()
            assert resp.headers["Retry-After"]
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert len(state.webpush) == 0
    await subscribe(client, fake, "a", ["ops"])
    assert (await client.get("/api/v1/webpush/key")).status == 200


async def test_subscribe_again_updates_and_unsubscribe_removes(
        make_router: Any, aiohttp_server: AiohttpServer, tmp_path: Path) -> None:
    client, state = await make_router(config())
    fake = await start_push(aiohttp_server)
    first = await subscribe(client, fake, "a", ["ops"])
    assert await subscribe(client, fake, "a", ["ops", "other"]) == first  # same endpoint
    assert state.webpush.recipients("other") == [str(first)]
    gauge = state.metrics.registry.get_sample_value("alert_router_webpush_subscriptions")
    assert gauge == 1
    resp = await client.delete("/api/v1/webpush/subscriptions",
                               json={"endpoint": fake.endpoint("a")})
    assert resp.status == 204
    resp = await client.delete("/api/v1/webpush/subscriptions",
                               json={"endpoint": fake.endpoint("a")})
    assert (resp.status, (await resp.json())["path"]) == (404, "endpoint")
    await client.close()
    client, state = await make_router(config())
    assert len(state.webpush) == 0


async def test_each_subscription_has_its_own_row_retries_and_fate(
        make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, state = await make_router(config())
    fake = await start_push(aiohttp_server)
    # The laptop's push service is busy, then failing, then fine; the phone is gone; the
    # tablet takes it at once.
    fake.scripts = {"laptop": [(429, {"Retry-After": "3"}), 500, 201], "phone": [410]}
    ids = {name: await subscribe(client, fake, name, ["ops"])
           for name in ("laptop", "phone", "tablet")}
    await subscribe(client, fake, "elsewhere", ["other"])
    await post_alerts(client, v2_alert("Down", severity="critical", summary="db is down"))
    await run_for(state, clock, 30)

    assert [len(fake.for_browser(n)) for n in ("laptop", "phone", "tablet", "elsewhere")] == [
        1, 0, 1, 0]
    assert [r.path.split("-")[0] for r in fake.requests].count("/push/tablet") == 1
    assert [r.path.split("-")[0] for r in fake.requests].count("/push/laptop") == 3
    push = fake.for_browser("laptop")[0]
    assert push.json()["title"] == "[FIRING:1] Down"
    assert push.headers["Urgency"] == "high"
    assert push.headers["TTL"] == "14400"
    assert fake.refused == []
    # The phone's subscription is gone for good; its row is dead, nothing else is.
    assert state.webpush.get(ids["phone"]) is None
    assert state.webpush.get(ids["laptop"]) is not None
    dead = await (await client.get("/api/v1/deliveries?state=dead")).json()
    assert [(d["channel"], d["recipient"], "gone (HTTP 410)" in d["lastError"])
            for d in dead] == [("webpush", str(ids["phone"]), True)]
    # Three notifications ended: two delivered, the phone's dead (gone).
    assert state.metrics.registry.get_sample_value(
        "alert_router_notifications_total", {"receiver": "ops", "channel": "webpush"}) == 3
    assert state.metrics.registry.get_sample_value(
        "alert_router_notifications_failed_total",
        {"receiver": "ops", "channel": "webpush", "reason": "client_error"}) == 1

    # The resolution replaces the firing state under the same topic.
    await post_alerts(client, v2_alert("Down", severity="critical", summary="db is down",
                                       ends=clock.now()))
    await run_for(state, clock, 30)
    resolved = fake.for_browser("tablet")[-1]
    assert resolved.json()["status"] == "resolved"
    assert resolved.headers["Topic"] == push.headers["Topic"]
    assert resolved.headers["Urgency"] == "normal"

    texts = [r.getMessage() + str(r.__dict__) for r in caplog.records]
    texts.append(await (await client.get("/metrics")).text())
    texts.append(str(dead) + str(await (await client.get("/api/v1/deliveries")).json()))
    texts.append(await (await client.get("/api/v2/status")).text())
    with sqlite3.connect(state.config.storage.path) as db:
        pem = db.execute("SELECT private_key FROM webpush_vapid").fetchone()[0]
    for text in texts:
        assert "CAPABILITYTOKEN" not in text
        assert "/push/" not in text
        assert pem.splitlines()[1] not in text
        for browser in fake.browsers.values():
            assert browser.keys()["auth"] not in text


async def test_a_subscription_added_later_gets_the_next_change_only(
        make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock) -> None:
    client, state = await make_router(config())
    fake = await start_push(aiohttp_server)
    await subscribe(client, fake, "a", ["ops"])
    start = clock.now()
    await post_alerts(client, v2_alert("Down", instance="1"))
    await run_until(state, clock, start + 10)
    await subscribe(client, fake, "b", ["ops"])
    await run_until(state, clock, start + 20)  # nothing changed: nothing is sent
    assert [len(fake.for_browser(n)) for n in "ab"] == [1, 0]
    await post_alerts(client, v2_alert("Down", instance="2"))
    await run_until(state, clock, start + 40)
    assert [len(fake.for_browser(n)) for n in "ab"] == [2, 1]


async def test_the_service_worker_is_served_for_the_whole_origin(make_router: Any) -> None:
    client, _ = await make_router(config("server:\n  auth:\n    bearer_token: t0ken-1234\n"))
    resp = await client.get("/sw.js")  # public: the page registers it before any login
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert resp.headers["Service-Worker-Allowed"] == "/"
    text = await resp.text()
    for needle in ('addEventListener("push"', 'addEventListener("notificationclick"',
                   "requireInteraction", "options.tag = tag", "openWindow"):
        assert needle in text
    assert (await client.get("/api/v1/webpush/key")).status == 200
    assert (await client.post("/api/v1/webpush/subscriptions", json={})).status == 401


def test_a_service_uses_one_hub_for_api_and_channels(tmp_path: Path) -> None:
    from conftest import config_from

    from router.service import build_service
    from router.storage.sqlite import SqliteStore

    state: Service = build_service(config_from(config(), tmp_path),
                                   SqliteStore(tmp_path / "x.db"))
    channel = state.runtime.channel("ops", "webpush", 0)
    assert channel is not None
    assert getattr(channel, "hub", None) is state.webpush


async def test_without_receivers_a_subscription_follows_every_pushing_receiver(
        make_router: Any, aiohttp_server: AiohttpServer) -> None:
    # What the page posts: PushSubscription.toJSON(), no receivers.
    client, _ = await make_router(config())
    fake = await start_push(aiohttp_server)
    body = fake.subscription("a", [])
    del body["receivers"]
    resp = await client.post("/api/v1/webpush/subscriptions", json=body)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["receivers"] == ["ops", "other"]
    client, _ = await make_router(
        "route: {receiver: d}\nreceivers: [{name: d}]\n"
        f"webpush: {{subject: 'mailto:a@example.com', allowed_endpoints: ['{ALLOW_LOOPBACK}']}}\n")
    resp = await client.post("/api/v1/webpush/subscriptions", json=body)
    answer = await resp.json()
    assert (resp.status, answer["path"]) == (422, "receivers")
    assert "no receiver has webpush_configs" in answer["detail"]
