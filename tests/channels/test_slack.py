"""The Slack channel: Block Kit rendering, webhook and Web API modes, edit-in-place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.slack import SlackChannel
from router.config.types import Secret, SlackConfig
from router.errors import DeliveryError, FailureReason
from router.model import Alert, Notification, NotifyReason, make_alert, sort_alerts
from router.rendering import Renderer

from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import check_golden, fixture_notification, start_fake

T0 = 1_795_560_171.0
TOKEN = "xoxb-test-token"


def _alerts(count: int, *, name: str = "HighErrorRate", ends: float | None = None) -> list[Alert]:
    return [
        make_alert({"alertname": name, "instance": f"10.0.0.{i}:8080", "severity": "critical",
                    "service": "checkout"},
                   {"summary": f"5xx above 5% on 10.0.0.{i}"}, T0, ends, "", T0)
        for i in range(count)
    ]


def _notification(alerts: list[Alert], reason: NotifyReason = NotifyReason.FIRST) -> Notification:
    return Notification("ops", '{}:{alertname="HighErrorRate"}', {"alertname": "HighErrorRate"},
                        sort_alerts(alerts), reason, T0 + 60, "http://am:9093")


def _render(cfg: SlackConfig, n: Notification) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(SlackChannel(cfg, Renderer([]), HttpClient()).render(n))
    return body


HOOK = SlackConfig(api_url=Secret("http://127.0.0.1:1/services/x"))


def _ctx(state: dict[str, str] | None = None,
         all_resolved: bool = False) -> SendContext:
    return SendContext(5.0, state or {}, all_resolved)


def test_firing_message_reads_well() -> None:
    body = _render(HOOK, _notification(_alerts(2)))
    assert body["text"] == "[FIRING:2] HighErrorRate (checkout critical)"
    header, context, first, second = body["blocks"]
    assert header == {"type": "header",
                      "text": {"type": "plain_text", "emoji": True,
                               "text": "🔥 FIRING: HighErrorRate (2)"}}
    assert context["elements"][0]["text"].startswith("`service=checkout` · first notification")
    text = first["text"]["text"]
    assert text.startswith("🔥 *5xx above 5% on 10.0.0.0*\n*Severity:* critical")
    assert "`instance=10.0.0.0:8080`" in text  # what sets this alert apart
    assert "alertname=" not in text
    assert "severity=" not in text
    assert "|🔕 Silence>" in text
    assert "/#/silences/new?filter=%7Balertname%3D" in text
    assert second["text"]["text"].startswith("🔥 *5xx above 5% on 10.0.0.1*")


def test_resolved_header_and_optional_fields() -> None:
    cfg = SlackConfig(api_url=Secret("http://x/"), channel="#ops", username="am",
                      icon_emoji=":fire:")
    body = _render(cfg, _notification(_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED))
    assert list(body)[:3] == ["channel", "username", "icon_emoji"]
    assert (body["channel"], body["username"], body["icon_emoji"]) == ("#ops", "am", ":fire:")
    assert body["blocks"][0]["text"]["text"] == "✅ RESOLVED: HighErrorRate (1)"
    assert body["text"].startswith("[RESOLVED] HighErrorRate")


def test_more_line_past_max_alerts() -> None:
    cfg = SlackConfig(api_url=Secret("http://x/"), max_alerts=20)
    blocks = _render(cfg, _notification(_alerts(60)))["blocks"]
    assert [b["type"] for b in blocks].count("section") == 20
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"][0]["text"].startswith(
        "+40 more alerts not shown (40 firing, 0 resolved)")


def test_block_limit_holds_without_max_alerts() -> None:
    cfg = SlackConfig(api_url=Secret("http://x/"), max_alerts=0)
    blocks = _render(cfg, _notification(_alerts(80)))["blocks"]
    assert len(blocks) == 50
    assert blocks[-1]["elements"][0]["text"].startswith("+33 more alerts")


def test_header_and_sections_respect_slack_limits() -> None:
    alerts = [make_alert({"alertname": "X" * 400, "instance": "a"}, {"description": "d" * 5000},
                         T0, None, "", T0)]
    n = Notification("ops", "{}:{}", {}, tuple(alerts), NotifyReason.FIRST, T0, "http://am")
    body = _render(HOOK, n)
    header = body["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert len(body["blocks"][2]["text"]["text"]) == 3000
    assert body["text"]


def test_title_and_text_templates_override() -> None:
    cfg = SlackConfig(api_url=Secret("http://x/"),
                      title="{{ status|title }} {{ groupLabels|toJson }}",
                      text="{{ alerts|length }} alerts for {{ receiver }}")
    body = _render(cfg, _notification(_alerts(3)))
    assert body["blocks"][0]["text"]["text"] == 'Firing {"alertname": "HighErrorRate"}'
    assert body["text"] == "3 alerts for ops"


def test_body_template_override_still_gets_text(tmp_path: Path) -> None:
    tmpl = tmp_path / "slack-body.j2"
    tmpl.write_text('{"blocks": [{"type": "section", "text": {"type": "mrkdwn", '
                    '"text": {{ commonLabels.service|toJson }}}}]}', encoding="utf-8")
    cfg = SlackConfig(api_url=Secret("http://x/"), template=str(tmpl))
    body = _render(cfg, _notification(_alerts(1)))
    assert body["blocks"][0]["text"]["text"] == "checkout"
    assert body["text"].startswith("[FIRING:1] HighErrorRate")


async def test_webhook_mode_succeeds_on_ok(http: HttpClient, aiohttp_server: AiohttpServer) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    channel = SlackChannel(SlackConfig(api_url=Secret(fake.url)), Renderer([]), http)
    payload = channel.render(_notification(_alerts(1)))
    assert await channel.send(payload, _ctx()) == {}
    (req,) = fake.requests
    assert req.body == payload
    assert req.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("answer", "reason", "fragment"),
    [((200, {}, "not ok"), FailureReason.CLIENT_ERROR, "not ok"),
     (400, FailureReason.CLIENT_ERROR, "invalid_payload"),
     (410, FailureReason.CLIENT_ERROR, "channel_is_archived")],
)
async def test_webhook_mode_failures_are_permanent(
    http: HttpClient, aiohttp_server: AiohttpServer, answer: Any, reason: FailureReason,
    fragment: str
) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook", [answer])
    channel = SlackChannel(SlackConfig(api_url=Secret(fake.url)), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(_notification(_alerts(1))), _ctx())
    assert (info.value.reason, info.value.retryable) == (reason, False)
    assert fragment in info.value.message


@pytest.mark.parametrize(
    ("error", "headers", "reason", "retryable", "retry_after"),
    [("channel_not_found", {}, FailureReason.CLIENT_ERROR, False, None),
     ("invalid_auth", {}, FailureReason.AUTH, False, None),
     ("token_revoked", {}, FailureReason.AUTH, False, None),
     ("ratelimited", {"Retry-After": "30"}, FailureReason.RATE_LIMITED, True, 30.0)],
)
async def test_api_mode_ok_false_is_a_failure(
    http: HttpClient, aiohttp_server: AiohttpServer, error: str, headers: dict[str, str],
    reason: FailureReason, retryable: bool, retry_after: float | None,
) -> None:
    fake = await start_fake(aiohttp_server, "slack-api",
                            [(200, headers, {"ok": False, "error": error})])
    channel = SlackChannel(SlackConfig(token=Secret(TOKEN), channel="#ops", app_url=fake.url),
                           Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(_notification(_alerts(1))), _ctx())
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert error in err.message


async def test_api_mode_resolve_updates_the_firing_message(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake(aiohttp_server, "slack-api")
    channel = SlackChannel(SlackConfig(token=Secret(TOKEN), channel="#ops", app_url=fake.url),
                           Renderer([]), http)
    firing = channel.render(_notification(_alerts(2)))
    resolved = channel.render(_notification(_alerts(2, ends=T0 + 30), NotifyReason.ALL_RESOLVED))
    state = await channel.send(firing, _ctx())
    assert state == {"ts": "1700000000.000100", "channel": "C0123ABCD"}
    again = await channel.send(resolved, _ctx(state, all_resolved=True))
    assert again == state
    post, update = fake.requests
    assert post.path == "/api/chat.postMessage"
    assert post.json()["channel"] == "#ops"
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert update.path == "/api/chat.update"
    sent = update.json()
    assert (sent["channel"], sent["ts"]) == ("C0123ABCD", "1700000000.000100")
    assert sent["blocks"][0]["text"]["text"] == "✅ RESOLVED: HighErrorRate (2)"
    assert sent["text"]


async def test_api_mode_posts_anew_when_the_message_is_gone(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake(aiohttp_server, "slack-api",
                            [{"ok": False, "error": "message_not_found"}])
    channel = SlackChannel(SlackConfig(token=Secret(TOKEN), channel="#ops", app_url=fake.url),
                           Renderer([]), http)
    payload = channel.render(_notification(_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED))
    old = {"ts": "1600000000.000001", "channel": "C0123ABCD"}
    state = await channel.send(payload, _ctx(old, all_resolved=True))
    assert [r.path for r in fake.requests] == ["/api/chat.update", "/api/chat.postMessage"]
    assert state == {"ts": "1700000000.000100", "channel": "C0123ABCD"}


async def test_api_mode_firing_again_posts_a_new_message(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake(aiohttp_server, "slack-api")
    channel = SlackChannel(SlackConfig(token=Secret(TOKEN), channel="#ops", app_url=fake.url),
                           Renderer([]), http)
    old = {"ts": "1600000000.000001", "channel": "C0123ABCD"}
    await channel.send(channel.render(_notification(_alerts(1))), _ctx(old))
    assert [r.path for r in fake.requests] == ["/api/chat.postMessage"]


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_request(http: HttpClient, aiohttp_server: AiohttpServer, name: str) -> None:
    fake = await start_fake(aiohttp_server, "slack-webhook")
    n, _, max_alerts = fixture_notification(name)
    cfg = SlackConfig(api_url=Secret(fake.url), max_alerts=max_alerts)
    channel = SlackChannel(cfg, Renderer([]), http)
    await channel.send(channel.render(n), _ctx())
    (req,) = fake.requests
    check_golden(name.replace(".json", ".slack.json"), req.body)


def test_alertmanager_attachment_keys_are_sent() -> None:
    from router.config.load import load_config_text

    config = load_config_text("""
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: http://127.0.0.1:1/services/x
        title_link: "https://grafana.example.com/d/{{ commonLabels.service }}"
        pretext: "{{ status | upper }}"
        footer: alert-router
        image_url: https://img.example.com/graph.png
        thumb_url: https://img.example.com/thumb.png
        callback_id: cb-1
        icon_url: https://img.example.com/icon.png
        link_names: true
        mrkdwn_in: [pretext, text]
        short_fields: true
        fields:
          - {title: Severity, value: "{{ commonLabels.severity }}"}
          - {title: Service, value: "{{ commonLabels.service }}", short: false}
        actions:
          - {type: button, text: Runbook, url: "https://runbooks.example.com/x"}
          - {type: button, text: Ack, name: ack, value: "{{ groupKey }}",
             confirm: {text: "Sure?", ok_text: "OK"}}
""", "c.yml")
    (cfg,) = config.receivers["r"].configs(SlackConfig)
    body = _render(cfg, _notification(_alerts(2)))
    assert body["blocks"]  # Block Kit stays: the attachment comes beside it
    assert (body["icon_url"], body["link_names"]) == ("https://img.example.com/icon.png", True)
    (att,) = body["attachments"]
    assert att["title"] == "🔥 FIRING: HighErrorRate (2)"
    assert att["title_link"] == "https://grafana.example.com/d/checkout"
    assert att["color"] == "danger"  # Alertmanager's default while firing
    assert (att["pretext"], att["footer"], att["callback_id"]) == (
        "FIRING", "alert-router", "cb-1")
    assert (att["image_url"], att["thumb_url"]) == ("https://img.example.com/graph.png",
                                                    "https://img.example.com/thumb.png")
    assert att["mrkdwn_in"] == ["pretext", "text"]
    assert att["fields"] == [{"title": "Severity", "value": "critical", "short": True},
                             {"title": "Service", "value": "checkout", "short": False}]
    link, ack = att["actions"]
    assert link == {"type": "button", "text": "Runbook", "url": "https://runbooks.example.com/x"}
    assert ack["name"] == "ack"
    assert ack["value"] == '{}:{alertname="HighErrorRate"}'
    assert ack["confirm"] == {"text": "Sure?", "ok_text": "OK"}


def test_slack_attachment_keys_are_checked_as_alertmanager() -> None:
    from router.config.load import load_config_text
    from router.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_config_text("""
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: http://127.0.0.1:1/services/x
        fields: [{title: t}]
        actions: [{type: button, text: x}, {text: y, url: "http://u"}]
""", "c.yml")
    messages = [p.message for p in info.value.problems]
    assert messages == ["missing value in Slack field configuration",
                        "missing name or url in Slack action configuration",
                        "missing type in Slack action configuration"]
