"""The webhook channel: Alertmanager's v4 body (checked against captured 0.25 payloads)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.webhook import WebhookChannel, go_json, v4_body
from router.config.types import Secret, WebhookConfig
from router.model import Notification
from router.rendering import Renderer
from router.timefmt import GO_ZERO_TIME, parse_time

from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import check_golden, fixture_notification, start_fake


def _channel(max_alerts: int = 0, url: str = "http://127.0.0.1:1/",
             http: HttpClient | None = None) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url=Secret(url), max_alerts=max_alerts), Renderer([]),
                          http or HttpClient())


@pytest.mark.parametrize("name", FIXTURES)
def test_body_reproduces_alertmanager(name: str) -> None:
    n, captured, max_alerts = fixture_notification(name)
    ours = json.loads(_channel(max_alerts).render(n))
    # Documented differences: we add notification_reason (Alertmanager 0.32+), and times
    # carry microseconds where Alertmanager had nanoseconds.
    assert ours.pop("notification_reason") in ("first notification", "all alerts resolved")
    assert list(ours) == list(captured)
    for mine, theirs in zip(ours["alerts"], captured["alerts"], strict=True):
        assert list(mine) == list(theirs)
        for key in ("startsAt", "endsAt"):
            a, b = parse_time(mine.pop(key)), parse_time(theirs.pop(key))
            assert (a is None and b is None) or abs((a or 0) - (b or 0)) < 1e-6
        assert mine == theirs
    ours.pop("alerts")
    captured = {k: v for k, v in captured.items() if k != "alerts"}
    assert ours == captured


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_request(http: HttpClient, aiohttp_server: AiohttpServer, name: str) -> None:
    fake = await start_fake(aiohttp_server, "webhook")
    n, _, max_alerts = fixture_notification(name)
    channel = _channel(max_alerts, fake.url, http)
    assert await channel.send(channel.render(n), SendContext(5.0, {}, False)) == {}
    (req,) = fake.requests
    assert req.headers["Content-Type"] == "application/json"
    assert req.headers["User-Agent"].startswith("alert-router/")
    check_golden(name.replace(".json", ".webhook.json"), req.body)


def test_truncation_keeps_the_first_alerts_and_describes_only_them() -> None:
    n, _, _ = fixture_notification("critical-grouped-truncated.json")
    body = v4_body(n, max_alerts=1)
    assert [a["labels"]["instance"] for a in body["alerts"]] == ["10.0.0.1:8080"]
    assert body["truncatedAlerts"] == 2
    # Group-level fields come from the kept alert only (its runbook is now common).
    assert body["commonAnnotations"]["runbook_url"] == "https://runbooks.example.com/checkout-5xx"
    assert body["commonLabels"]["instance"] == "10.0.0.1:8080"
    assert v4_body(n, max_alerts=0)["truncatedAlerts"] == 0


def test_receiver_is_quote_meta_escaped_and_firing_ends_at_zero_time() -> None:
    n, _, _ = fixture_notification("default-warning-firing.json")
    n = Notification("team.a+b", n.group_key, n.group_labels, n.alerts, n.reason, n.now,
                     n.external_url)
    body = json.loads(_channel().render(n))
    assert body["receiver"] == "team\\.a\\+b"
    assert body["alerts"][0]["endsAt"] == GO_ZERO_TIME


def test_json_is_encoded_like_go() -> None:
    expected = '{"u":"a\\u003cb\\u003e\\u0026c","é":"✓"}\n'
    assert go_json({"u": "a<b>&c", "é": "✓"}) == expected.encode()


def test_template_override_renders_the_body(tmp_path: Path) -> None:
    tmpl = tmp_path / "hook.j2"
    tmpl.write_text('{"text": {{ (status ~ ": " ~ commonLabels.alertname)|toJson }}}',
                    encoding="utf-8")
    channel = WebhookChannel(
        WebhookConfig(url=Secret("http://x/"), template=str(tmpl)), Renderer([str(tmpl)]),
        HttpClient(),
    )
    n, _, _ = fixture_notification("default-warning-firing.json")
    assert json.loads(channel.render(n)) == {"text": "firing: DiskFilling"}


def test_template_failure_falls_back_to_the_v4_body(tmp_path: Path) -> None:
    tmpl = tmp_path / "hook.j2"
    tmpl.write_text("{{ alerts|map('nosuchfilter')|list }}", encoding="utf-8")
    failures: list[str] = []
    channel = WebhookChannel(WebhookConfig(url=Secret("http://x/"), template=str(tmpl)),
                             Renderer([], on_failure=failures.append), HttpClient())
    n, _, _ = fixture_notification("default-warning-firing.json")
    assert json.loads(channel.render(n))["version"] == "4"
    assert failures == ["webhook"]
