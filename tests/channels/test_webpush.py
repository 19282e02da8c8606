"""Web Push channel against the loopback push service: what a browser decrypts, the RFC 8030
headers, pruning only on 404/410, the 401/403 alarm, the SSRF allowlist, the size cap."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from pytest_aiohttp import AiohttpServer

from router.channels.base import FanOut, SendContext
from router.channels.http import HttpClient
from router.channels.webpush import WebPushConfig, WebPushHub, build, payload
from router.channels.webpush.config import compile_pattern, endpoint_allowed, subject_problem
from router.channels.webpush.hub import parse_subscription
from router.config.types import DEFAULT_PUSH_ENDPOINTS, WebPushSettings
from router.errors import DeliveryError, FailureReason, InputError
from router.metrics import Metrics
from router.model import Notification, NotifyReason, PushSubscription, make_alert
from router.rendering import Renderer
from router.storage.sqlite import SqliteStore

from .fake_webpush import ALLOW_LOOPBACK, MAX_BODY, PushFake, start_push
from .fakes import T0, sample_alerts, sample_notification

SUBJECT = "mailto:oncall@example.com"
SETTINGS = WebPushSettings(subject=SUBJECT, allowed_endpoints=(ALLOW_LOOPBACK,))
CTX = SendContext(timeout=5.0, state={}, all_resolved=False)


class Env:
    def __init__(self, store: SqliteStore, http: HttpClient) -> None:
        self.metrics = Metrics(CollectorRegistry())
        self.hub = WebPushHub(store, FakeClock(), self.metrics)
        self.channel = build(WebPushConfig(), Renderer([]), http, hub=self.hub,
                             settings=SETTINGS)

    async def subscribe(self, fake: PushFake, name: str) -> PushSubscription:
        body = fake.subscription(name, ["ops"])
        return await self.hub.subscribe(parse_subscription(body, SETTINGS.allowed_endpoints,
                                                           ["ops"], T0))

    async def send(self, sub: PushSubscription, n: Notification) -> dict[str, str]:
        assert isinstance(self.channel, FanOut)
        return await self.channel.for_recipient(str(sub.id)).send(self.channel.render(n), CTX)

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
def env(store: SqliteStore, http: HttpClient) -> Env:
    return Env(store, http)


async def test_the_browser_decrypts_the_notification(env: Env, aiohttp_server: AiohttpServer
                                                     ) -> None:
    fake = await start_push(aiohttp_server)
    sub = await env.subscribe(fake, "laptop")
    n = sample_notification(sample_alerts(2))
    assert await env.send(sub, n) == {}
    assert fake.refused == []
    (push,) = fake.pushes
    doc = push.json()
    assert doc == {
        "v": 1, "title": "[FIRING:2] HighErrorRate",
        "body": "5xx above 5% on 10.0.0.0\n5xx above 5% on 10.0.0.1",
        "severity": "critical", "status": "firing", "group_key": n.group_key,
        "tag": payload.tag_of("ops", n.group_key), "receiver": "ops",
        "url": "http://am:9093/#/alerts?filter=%7Balertname%3D%22HighErrorRate%22%7D",
        "alerts": 2, "firing": 2, "sent_at": "2026-11-24T22:43:51Z",
    }
    # RFC 8030: kept 4 h for a critical group, high urgency, the group's topic.
    assert push.headers["TTL"] == "14400"
    assert push.headers["Urgency"] == "high"
    assert push.headers["Topic"] == doc["tag"]
    assert push.claims["aud"] == fake.origin
    assert push.claims["sub"] == SUBJECT
    assert push.body_size <= MAX_BODY


async def test_a_resolved_warning_is_normal_urgency_with_its_own_ttl(
        env: Env, aiohttp_server: AiohttpServer) -> None:
    fake = await start_push(aiohttp_server)
    sub = await env.subscribe(fake, "laptop")
    alert = make_alert({"alertname": "DiskFilling", "severity": "warning"}, {}, T0, T0 + 30,
                       "", T0)
    n = Notification("ops", "{}:{}", {}, (alert,), NotifyReason.ALL_RESOLVED, T0 + 60, "")
    await env.send(sub, n)
    (push,) = fake.pushes
    assert (push.headers["TTL"], push.headers["Urgency"]) == ("3600", "normal")
    assert push.json()["status"] == "resolved"
    assert push.json()["title"] == "[RESOLVED] DiskFilling"
    # a group of one opens that alert's page in the router's own UI
    assert push.json()["url"] == f"/#/alert/{alert.fingerprint}"


async def test_each_push_service_gets_its_own_audience(env: Env, aiohttp_server: AiohttpServer
                                                       ) -> None:
    # pywebpush#79: a claims dict reused across services sends the first one's `aud`.
    first, second = await start_push(aiohttp_server), await start_push(aiohttp_server)
    a, b = await env.subscribe(first, "a"), await env.subscribe(second, "b")
    n = sample_notification(sample_alerts(1))
    await env.send(a, n)
    await env.send(b, n)
    assert [p.claims["aud"] for p in first.pushes + second.pushes] == [first.origin,
                                                                       second.origin]


async def test_a_huge_group_still_fits_one_record(env: Env, aiohttp_server: AiohttpServer
                                                  ) -> None:
    fake = await start_push(aiohttp_server)
    sub = await env.subscribe(fake, "phone")
    alerts = sample_alerts(300, description="é\"\\" * 20_000)
    alerts = [make_alert({**a.labels, "team": "x" * 16_000}, {"summary": "ü" * 30_000}, T0,
                         None, "", T0) for a in alerts]
    n = Notification("ops", "{}:" + "k" * 50_000, {"team": "x" * 16_000}, tuple(alerts),
                     NotifyReason.FIRST, T0 + 60, "http://am:9093")
    rendered = env.channel.render(n)
    assert len(rendered) <= payload.MAX_PLAINTEXT
    await env.send(sub, n)
    (push,) = fake.pushes
    assert push.body_size <= MAX_BODY
    doc = push.json()
    assert doc["title"] == "[FIRING:300] HighErrorRate"
    assert doc["alerts"] == 300
    assert doc["tag"] == payload.tag_of("ops", n.group_key)


@pytest.mark.parametrize(("status", "reason", "retryable", "pruned"), [
    (404, FailureReason.CLIENT_ERROR, False, True),
    (410, FailureReason.CLIENT_ERROR, False, True),
    (413, FailureReason.CLIENT_ERROR, False, False),
    (400, FailureReason.CLIENT_ERROR, False, False),
    (429, FailureReason.RATE_LIMITED, True, False),
    (500, FailureReason.SERVER_ERROR, True, False),
    (503, FailureReason.SERVER_ERROR, True, False),
    (401, FailureReason.AUTH, False, False),
    (403, FailureReason.AUTH, False, False),
])
async def test_only_404_and_410_prune_the_subscription(
        env: Env, store: SqliteStore, aiohttp_server: AiohttpServer, status: int,
        reason: FailureReason, retryable: bool, pruned: bool) -> None:
    fake = await start_push(aiohttp_server, [(status, {"Retry-After": "7"} if status == 429
                                              else {})])
    sub = await env.subscribe(fake, "laptop")
    with pytest.raises(DeliveryError) as info:
        await env.send(sub, sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (reason, retryable)
    assert (env.hub.get(sub.id) is None) == pruned
    assert [s.id for s in await store.webpush_subscriptions()] == ([] if pruned else [sub.id])
    assert env.sample("alert_router_webpush_pruned_total", status=str(status)) == int(pruned)
    assert env.sample("alert_router_webpush_subscriptions") == int(not pruned)
    if status == 429:
        assert info.value.retry_after == 7.0


async def test_credentials_refused_raise_one_alarm_and_count_every_time(
        env: Env, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture) -> None:
    fake = await start_push(aiohttp_server, [403, 403, 401])
    sub = await env.subscribe(fake, "laptop")
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        with pytest.raises(DeliveryError):
            await env.send(sub, sample_notification(sample_alerts(1)))
    alarms = [r for r in caplog.records if "VAPID" in r.getMessage()]
    assert [(r.levelno, r.__dict__["status"], r.__dict__["subject"]) for r in alarms] == [
        (logging.ERROR, 403, SUBJECT), (logging.ERROR, 401, SUBJECT)]
    assert env.sample("alert_router_webpush_auth_failures_total") == 3
    assert env.hub.get(sub.id) is not None  # an operator's problem, not the browser's
    _no_secret(fake, [r.getMessage() + str(r.__dict__) for r in caplog.records])


async def test_a_subscription_outside_the_allowlist_is_never_pushed(
        store: SqliteStore, http: HttpClient, aiohttp_server: AiohttpServer) -> None:
    fake = await start_push(aiohttp_server)
    env = Env(store, http)
    sub = await env.subscribe(fake, "laptop")
    # The allowlist shrank by a reload: the stored subscription is refused at send time.
    env.channel = build(WebPushConfig(), Renderer([]), http, hub=env.hub,
                        settings=WebPushSettings(subject=SUBJECT))
    with pytest.raises(DeliveryError, match="no longer allows") as info:
        await env.send(sub, sample_notification(sample_alerts(1)))
    assert not info.value.retryable
    assert fake.requests == []


async def test_a_removed_subscription_fails_its_rows_for_good(
        env: Env, aiohttp_server: AiohttpServer) -> None:
    fake = await start_push(aiohttp_server)
    sub = await env.subscribe(fake, "laptop")
    assert await env.hub.unsubscribe(fake.endpoint("laptop"))
    with pytest.raises(DeliveryError, match="no longer exists") as info:
        await env.send(sub, sample_notification(sample_alerts(1)))
    assert not info.value.retryable


def _no_secret(fake: PushFake, texts: list[str]) -> None:
    for text in texts:
        assert "CAPABILITYTOKEN" not in text
        assert "/push/" not in text
        for browser in fake.browsers.values():
            assert browser.keys()["auth"] not in text


# --- what a browser posts -------------------------------------------------------------


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/abc:CAPABILITYTOKEN",
        "keys": {"p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1"
                           "XbjhazAkj7I99e8QcYP7DkM",
                 "auth": "tBHItJI5svbpez7KI4CCXg"},
        "receivers": ["ops"],
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(("body", "path", "message"), [
    ([], "$", "expected an object"),
    (_body(endpoint=None), "endpoint", "expected the subscription's endpoint URL"),
    (_body(endpoint="http://169.254.169.254/latest/meta-data"), "endpoint",
     "not on an allowed push service"),
    (_body(endpoint="https://fcm.googleapis.com.evil.example/x"), "endpoint", "not on an"),
    (_body(endpoint="https://user:pw@fcm.googleapis.com/x"), "endpoint", "not on an"),
    (_body(endpoint="https://fcm.googleapis.com/" + "x" * 3000), "endpoint", "longer than"),
    (_body(keys={"p256dh": "AAAA", "auth": "tBHItJI5svbpez7KI4CCXg"}), "keys.p256dh",
     "expected 65 bytes"),
    (_body(keys={"p256dh": "B" + "A" * 86, "auth": "tBHItJI5svbpez7KI4CCXg"}), "keys.p256dh",
     "not a P-256 public key"),
    (_body(keys={"p256dh": _body()["keys"]["p256dh"], "auth": "!!"}), "keys.auth",
     "not base64url"),
    (_body(keys={**_body()["keys"], "extra": 1}), "keys.extra", "unknown key"),
    (_body(receivers=[]), "receivers", "non-empty list"),
    (_body(receivers=["ops", "nobody"]), "receivers[1]", "not a receiver"),
    (_body(topics=["x"]), "topics", "unknown key"),
])
def test_bad_subscriptions_are_refused_with_the_path(body: Any, path: str, message: str
                                                     ) -> None:
    with pytest.raises(InputError) as info:
        parse_subscription(body, DEFAULT_PUSH_ENDPOINTS, ["ops"], T0)
    assert (info.value.path, message in info.value.message) == (path, True)
    assert "CAPABILITYTOKEN" not in info.value.message


def test_a_good_subscription_keeps_its_fields_and_hides_them_in_repr() -> None:
    sub = parse_subscription(_body(receivers=["ops", "ops"], expirationTime=None),
                             DEFAULT_PUSH_ENDPOINTS, ["ops"], T0)
    assert sub.receivers == ("ops",)
    assert "CAPABILITY" not in repr(sub)
    assert sub.auth not in repr(sub)


@pytest.mark.parametrize(("endpoint", "allowed"), [
    ("https://fcm.googleapis.com/fcm/send/x", True),
    ("https://updates.push.services.mozilla.com/wpush/v2/x", True),
    ("https://web.push.apple.com/QGx", True),
    ("https://wns2-par02p.notify.windows.com/w/?token=x", True),
    ("http://fcm.googleapis.com/fcm/send/x", False),  # https only for host patterns
    ("https://fcm.googleapis.com:8443/x", False),
    ("https://googleapis.com/x", False),  # *.host is a subdomain
    ("https://evilgoogleapis.com/x", False),
    ("https://fcm.googleapis.com/x#frag", False),
    ("file:///etc/passwd", False),
    ("https://[::1]/x", False),
    ("not a url", False),
])
def test_the_default_allowlist_is_the_public_push_services(endpoint: str, allowed: bool
                                                           ) -> None:
    assert endpoint_allowed(endpoint, DEFAULT_PUSH_ENDPOINTS) is allowed


def test_origin_patterns() -> None:
    assert endpoint_allowed("http://127.0.0.1:8099/push/a", ("http://127.0.0.1:*",))
    assert not endpoint_allowed("http://127.0.0.1:8099/push/a", ("http://127.0.0.1:8098",))
    assert not endpoint_allowed("https://127.0.0.1:8099/push/a", ("http://127.0.0.1:*",))
    assert compile_pattern("ftp://x.example") is None
    assert compile_pattern("https://x.example:99999999") is None


@pytest.mark.parametrize(("subject", "ok"), [
    ("mailto:oncall@example.com", True), ("https://status.example.com/contact", True),
    ("mailto:root@localhost", False), ("mailto:a@host.local", False),
    ("https://localhost/", False), ("ops@example.com", False), ("http://example.com", False),
])
def test_subject_must_be_a_contact_push_services_accept(subject: str, ok: bool) -> None:
    assert (subject_problem(subject) is None) is ok


def test_fit_cuts_fields_in_order_and_keeps_json() -> None:
    doc = {"v": 1, "title": "t" * 10, "body": "b" * 5000, "group_key": "g", "url": "u",
           "receiver": "r"}
    data = payload.fit(dict(doc))
    assert len(data) <= payload.MAX_PLAINTEXT
    out = json.loads(data)
    assert out["title"] == doc["title"]
    assert out["body"].endswith("…")


def test_the_webpush_section_loads_and_shows_back(tmp_path: Any) -> None:
    from router.config.load import load_config_text
    from router.config.redact import redacted_yaml

    text = """
route: {receiver: ops}
receivers:
  - name: ops
    webpush_configs: [{ttl: 30m, send_resolved: false}]
webpush:
  subject: https://status.example.com/contact
  allowed_endpoints: ["*.googleapis.com", "http://127.0.0.1:*"]
  ttl: {critical: 8h, info: 10m}
"""
    config = load_config_text(text, str(tmp_path / "a.yml"))
    assert config.webpush.ttl_for("critical") == 8 * 3600
    assert config.webpush.ttl_for("warning") == 3600  # the default kept
    assert config.webpush.ttl_for("nonsense") == 3600
    assert config.webpush.allowed_endpoints == ("*.googleapis.com", "http://127.0.0.1:*")
    (entry,) = config.receivers["ops"].configs(WebPushConfig)
    assert (entry.ttl, entry.send_resolved) == (1800.0, False)
    again = load_config_text(redacted_yaml(config), str(tmp_path / "b.yml"))
    assert again.webpush == config.webpush
    assert again.receivers["ops"] == config.receivers["ops"]
