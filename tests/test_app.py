"""The composition root seen from outside: reload, readiness, metrics, template fallback and
secrets that never leak (into /metrics, logs, the database file or the config's repr).
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from channels.fakes import Fake, load_fixture, start_fake
from conftest import config_from, quiet, retry_scheduled, wait_until
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from router.app import create_app
from router.storage.sqlite import SqliteStore
from router.timefmt import parse_time
from router.web import ops as http_ops
from router.web.keys import SERVICE

START = parse_time("2026-11-24T22:42:52Z") or 0.0
SLACK_TOKEN = "xoxb-SECRET-slack-token-4242"
WEBHOOK_BEARER = "WEBHOOK-BEARER-secret-7777"
WEBHOOK_PATH_SECRET = "hooksecret-9999"
INGEST_TOKEN = "INGEST-token-secret-5555"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def slack_config(url: str, *, receiver: str = "default", extra: str = "") -> str:
    return f"""
route:
  receiver: {receiver}
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: {receiver}
    slack_configs:
      - api_url: {url}
        send_resolved: true
{extra}
"""


async def post_fixture(client: Any, name: str, **headers: str) -> None:
    resp = await client.post("/api/v1/alertmanager",
                             data=json.dumps(load_fixture(name)["body"]),
                             headers={"Content-Type": "application/json", **headers})
    assert resp.status == 202, await resp.text()


async def metrics_text(client: Any, **headers: str) -> str:
    resp = await client.get("/metrics", headers=headers)
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text: str = await resp.text()
    return text


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: Any) -> Series:
    """GET /metrics parsed: (sample name, label set) -> value."""
    out: Series = {}
    for family in text_string_to_metric_families(await metrics_text(client)):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


SLACK = {"receiver": "default", "channel": "slack"}


def database_files(directory: Path) -> dict[str, str]:
    """The SQLite file and its WAL/SHM companions, as text (bytes kept 1:1)."""
    return {db.name: db.read_bytes().decode("latin-1") for db in directory.glob("router.db*")}


# --- metrics -----------------------------------------------------------------------


async def test_label_sets_exist_before_the_first_alert(
    make_router: Any, aiohttp_server: Any
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    client, _ = await make_router(slack_config(fake.url))
    series = await scrape(client)
    expected = [
        key("alert_router_notifications_total", **SLACK),
        key("alert_router_notification_requests_total", **SLACK),
        key("alert_router_notifications_failed_total", reason="rate_limited", **SLACK),
        key("alert_router_notifications_failed_total", reason="timeout", **SLACK),
        key("alert_router_notification_requests_failed_total", reason="timeout", **SLACK),
        key("alert_router_end_to_end_latency_seconds_count", **SLACK),
        key("alert_router_send_latency_seconds_count", **SLACK),
        key("alert_router_template_failures_total", channel="slack"),
        key("alert_router_outbox_depth", **SLACK),
        key("alert_router_outbox_oldest_age_seconds", **SLACK),
        key("alert_router_notifications_paced_total", **SLACK),
        key("alert_router_alerts_received_total", source="alertmanager", status="firing"),
        key("alert_router_alerts", state="active"),
    ]
    for k in expected:
        assert series.get(k) == 0.0, k
    assert series[key("alert_router_config_last_reload_successful")] == 1.0


async def test_end_to_end_latency_is_observed_after_a_delivery(
    make_router: Any, aiohttp_server: Any, clock: FakeClock
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    client, state = await make_router(slack_config(fake.url))
    await post_fixture(client, "default-warning-firing.json")
    await clock.advance(1)
    await wait_until(lambda: len(fake.requests) == 1, "the Slack message")
    await quiet(state)
    series = await scrape(client)
    assert series[key("alert_router_end_to_end_latency_seconds_count", **SLACK)] == 1.0
    # Ingested at START, delivered after group_wait on the fake clock.
    assert series[key("alert_router_end_to_end_latency_seconds_sum", **SLACK)] == 1.0
    assert series[key("alert_router_end_to_end_latency_seconds_bucket", le="0.5",
                      **SLACK)] == 0.0
    assert series[key("alert_router_end_to_end_latency_seconds_bucket", le="1.0",
                      **SLACK)] == 1.0
    assert series[key("alert_router_notifications_total", **SLACK)] == 1.0
    assert series[key("alert_router_alerts_received_total", source="alertmanager",
                      status="firing")] == 1.0
    assert series[key("alert_router_alerts", state="active")] == 1.0


# --- readiness ---------------------------------------------------------------------


class GatedStore:
    """A real store whose restore step waits for the test to open a gate."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.restoring = asyncio.Event()

    async def load_alerts(self) -> list[Any]:
        self.restoring.set()
        await self.gate.wait()
        return await self.inner.load_alerts()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_ready_only_after_start_up_and_not_after_shutdown(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    cfg = config_from(slack_config("http://127.0.0.1:9/hook"), tmp_path)
    store = GatedStore(SqliteStore(tmp_path / "router.db"))
    gated: Any = store
    app = create_app(cfg, clock=clock, registry=CollectorRegistry(), store=gated)

    async def ready_status() -> tuple[int, dict[str, Any] | str]:
        resp = await http_ops.ready(make_mocked_request("GET", "/-/ready", app=app))
        assert isinstance(resp.body, bytes)
        text = resp.body.decode()
        return resp.status, json.loads(text) if resp.status != 200 else text

    status, body = await ready_status()
    assert status == 503
    assert isinstance(body, dict)
    assert body["error"] == "not_ready"
    starting = asyncio.create_task(aiohttp_client(app))
    async with asyncio.timeout(5):
        await store.restoring.wait()
    assert (await ready_status())[0] == 503  # still restoring
    store.gate.set()
    client = await asyncio.wait_for(starting, 5)
    resp = await client.get("/-/ready")
    assert resp.status == 200
    assert await resp.text() == "OK\n"
    assert (await client.get("/-/healthy")).status == 200
    await client.close()
    assert (await ready_status())[0] == 503
    assert not app[SERVICE].ready


# --- reload ------------------------------------------------------------------------


async def test_reload_refuses_a_bad_config_and_applies_a_good_one(
    make_router: Any, aiohttp_server: Any, clock: FakeClock, tmp_path: Path
) -> None:
    first = await start_fake(aiohttp_server, "slack-webhook")
    second = await start_fake(aiohttp_server, "slack-webhook")
    path = tmp_path / "router.yml"
    path.write_text(slack_config(first.url), encoding="utf-8")
    client, state = await make_router(path.read_text(encoding="utf-8"),
                                      config_path=str(path),
                                      overrides={"storage": str(tmp_path / "router.db")})

    path.write_text(slack_config(first.url) + "bogus_section: 1\n", encoding="utf-8")
    resp = await client.post("/-/reload")
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == "invalid_config"
    assert "bogus_section" in answer["detail"]
    assert (await scrape(client))[key("alert_router_config_last_reload_successful")] == 0.0
    # The old config keeps running.
    await post_fixture(client, "default-warning-firing.json")
    await clock.advance(1)
    await wait_until(lambda: len(first.requests) == 1, "delivery on the old config")

    path.write_text(slack_config(second.url, receiver="team"), encoding="utf-8")
    resp = await client.post("/-/reload")
    assert resp.status == 200
    assert await resp.json() == {"status": "reloaded"}
    series = await scrape(client)
    assert series[key("alert_router_config_last_reload_successful")] == 1.0
    assert series[key("alert_router_notifications_total", receiver="team",
                      channel="slack")] == 0.0
    assert list(state.config.receivers) == ["team"]
    await post_fixture(client, "critical-single-firing.json")
    await clock.advance(1)
    await wait_until(lambda: len(second.requests) == 2, "deliveries on the new config")
    await quiet(state)
    # The held alert is re-routed under the new tree too (a new receiver: notified anew).
    headers = sorted(r.json()["blocks"][0]["text"]["text"] for r in second.requests)
    assert headers == ["🔥 FIRING: DiskFilling (1)", "🔥 FIRING: HighErrorRate (1)"]
    assert len(first.requests) == 1


async def test_reload_without_a_config_file_is_refused(
    make_router: Any, aiohttp_server: Any
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    client, _ = await make_router(slack_config(fake.url))
    resp = await client.post("/-/reload")
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_config"
    assert (await scrape(client))[key("alert_router_config_last_reload_successful")] == 0.0


# --- templates ---------------------------------------------------------------------


async def test_template_failing_at_run_time_sends_plain_text(
    make_router: Any, aiohttp_server: Any, clock: FakeClock, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    # Compiles at load; divides by zero only when rendered.
    (tmp_path / "broken.j2").write_text('{"text": "{{ alerts | length // 0 }}"}\n',
                                        encoding="utf-8")
    text = slack_config(fake.url).replace("send_resolved: true",
                                          "send_resolved: true\n        template: broken.j2")
    client, state = await make_router(text)
    await post_fixture(client, "default-warning-firing.json")
    await clock.advance(1)
    await wait_until(lambda: len(fake.requests) == 1, "the fallback message")
    await quiet(state)
    sent = fake.requests[0].json()
    assert "blocks" not in sent
    assert sent["text"].splitlines()[0] == "[FIRING:1] DiskFilling (receiver default)"
    assert "Disk will fill in 4h" in sent["text"]
    series = await scrape(client)
    assert series[key("alert_router_template_failures_total", channel="slack")] == 1.0
    assert series[key("alert_router_notifications_total", **SLACK)] == 1.0
    assert any("template rendering failed" in r.getMessage() for r in caplog.records)


# --- secrets -----------------------------------------------------------------------


async def test_no_secret_in_metrics_logs_database_or_repr(
    make_router: Any, aiohttp_server: Any, clock: FakeClock, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    api: Fake = await start_fake(aiohttp_server, "slack-api", [(429, {"Retry-After": "1"})])
    hook: Fake = await start_fake(aiohttp_server, "webhook", [401, 500],
                                  path=f"/{WEBHOOK_PATH_SECRET}/hook")
    client, state = await make_router(f"""
route:
  receiver: team
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: team
    slack_configs:
      - token: {SLACK_TOKEN}
        channel: "#ops"
        app_url: {api.url}
        send_resolved: true
    webhook_configs:
      - url: {hook.url}
        http_config:
          bearer_token: {WEBHOOK_BEARER}
server:
  auth:
    bearer_tokens: [{INGEST_TOKEN}]
""")
    await post_fixture(client, "default-warning-firing.json",
                       Authorization=f"Bearer {INGEST_TOKEN}")
    bad = await client.post("/api/v2/alerts", data="[]",
                            headers={"Content-Type": "application/json",
                                     "Authorization": f"Bearer {INGEST_TOKEN}x"})
    assert bad.status == 401
    await clock.advance(1)
    await wait_until(lambda: len(api.requests) == 1 and len(hook.requests) == 1,
                     "the first attempts")
    await retry_scheduled(state)
    await clock.advance(1)
    await wait_until(lambda: len(api.requests) == 2, "the Slack retry")
    await quiet(state)
    # The vendors did get the secrets: they are in use, just never exposed.
    assert api.requests[0].headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert hook.requests[0].headers["Authorization"] == f"Bearer {WEBHOOK_BEARER}"
    reader = {"Authorization": f"Bearer {INGEST_TOKEN}"}
    dead = await (await client.get("/api/v1/deliveries?state=dead", headers=reader)).text()
    assert "401" in dead  # the webhook's auth failure is dead-lettered

    secrets = (SLACK_TOKEN, WEBHOOK_BEARER, WEBHOOK_PATH_SECRET, INGEST_TOKEN)
    exposed = {
        "/metrics": await metrics_text(client, **reader),
        "deliveries": dead,
        "logs": caplog.text + "\n".join(str(r.__dict__) for r in caplog.records),
        "repr(config)": repr(state.config),
    }
    await state.store.close()  # flush the WAL so the file bytes are complete
    exposed.update(database_files(tmp_path))
    assert "router.db" in exposed
    for where, text in exposed.items():
        for secret in secrets:
            assert secret not in text, f"{secret} leaked into {where}"
