"""The Mattermost channel against a stateful incoming-webhook fake: Alertmanager's attachment,
configured attachments and priorities, Mattermost's limits and errors, global inheritance."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.mattermost import (
    MattermostAttachment,
    MattermostChannel,
    MattermostConfig,
    MattermostField,
    MattermostPriority,
)
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Secret
from router.delivery.policy import scrubbed
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason
from router.rendering import Renderer

from .fake_mattermost import HOOK, MattermostFake, start_mattermost
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send


def _channel(fake: MattermostFake | None, http: HttpClient | None = None,
             **kw: Any) -> MattermostChannel:
    url = f"{fake.url}/hooks/{kw.pop('hook', HOOK)}" if fake else "http://127.0.0.1:1/hooks/x"
    return MattermostChannel(MattermostConfig(Secret(url), **kw), Renderer([]),
                             http or HttpClient())



def _render(n: Notification, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_channel(None, **kw).render(n))
    return body


async def test_alertmanagers_default_post(http: HttpClient,
                                          aiohttp_server: AiohttpServer) -> None:
    fake = await start_mattermost(aiohttp_server)
    channel = _channel(fake, http)
    await _send(channel, sample_notification(sample_alerts(2)))
    await _send(channel, sample_notification(sample_alerts(2, ends=T0 + 30),
                                             NotifyReason.ALL_RESOLVED))
    firing, resolved = fake.posts
    assert (firing["username"], firing["channel"]) == ("Alertmanager", "town-square")
    (attachment,) = firing["attachments"]
    assert attachment["color"] == "danger"
    assert attachment["title"] == "[FIRING:2] HighErrorRate (checkout critical)"
    assert attachment["title_link"] == "http://am:9093/#/alerts?receiver=ops"
    assert attachment["fallback"] == f"{attachment['title']} | {attachment['title_link']}"
    assert attachment["text"].startswith("# Alerts Firing:\n\nLabels:\n  - alertname = ")
    assert resolved["attachments"][0]["color"] == "good"
    assert resolved["attachments"][0]["text"].startswith("# Alerts Resolved:")


def test_configured_attachments_fields_and_props() -> None:
    listed = MattermostAttachment(title="{{ commonLabels.service }}", color="#ff0000",
                                  fields=(MattermostField("sev", "{{ commonLabels.severity }}",
                                                          True),))
    body = _render(sample_notification(sample_alerts(1)), channel="{{ 'ops' }}",
                   attachment=MattermostAttachment(text="{{ alerts|length }} alert"),
                   icon_emoji=":fire:",
                   attachments=(listed,))
    assert (body["channel"], body["text"], body["icon_emoji"]) == ("ops", "1 alert", ":fire:")
    assert body["attachments"] == [{"color": "#ff0000", "title": "checkout", "fields": [
        {"title": "sev", "value": "critical", "short": True}]}]


@pytest.mark.parametrize(
    ("priority", "expected"),
    [
        (MattermostPriority("Urgent", True, True),
         {"priority": "urgent", "requested_ack": True, "persistent_notifications": True}),
        (MattermostPriority("important", True, True),
         {"priority": "important", "requested_ack": True}),
        (MattermostPriority("standard", True, False), {"priority": "standard"}),
        (MattermostPriority("{{ 'loud' }}", False, False), {"priority": "standard"}),
    ],
)
def test_priority_is_normalised_as_alertmanager(priority: MattermostPriority,
                                                expected: dict[str, Any]) -> None:
    body = _render(sample_notification(sample_alerts(1)), priority=priority)
    assert body["priority"] == expected


async def test_long_text_is_cut_to_mattermosts_limit(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_mattermost(aiohttp_server)
    channel = _channel(fake, http, attachments=(MattermostAttachment(title="t"),))
    await _send(channel, sample_notification(sample_alerts(80, description="d" * 400)))
    (post,) = fake.posts  # the fake refuses a text over 16,383 characters
    assert len(post["text"]) == 16383
    assert post["text"].endswith("…")


@pytest.mark.parametrize(
    ("locked", "hook", "script", "reason", "retryable", "words"),
    [
        (True, HOOK, [], FailureReason.AUTH, False, "not permitted to post"),
        (False, "unknownhook", [], FailureReason.CLIENT_ERROR, False, "Invalid webhook."),
        (False, HOOK, [429], FailureReason.RATE_LIMITED, True, "Too many requests."),
        (False, HOOK, [500], FailureReason.SERVER_ERROR, True, "Internal error."),
    ],
)
async def test_webhook_errors_are_classified_and_name_no_hook(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture,
    locked: bool, hook: str, script: list[int], reason: FailureReason, retryable: bool,
    words: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = await start_mattermost(aiohttp_server, script)
    fake.locked = locked
    channel = _channel(fake, http, hook=hook, channel="elsewhere")
    with pytest.raises(DeliveryError) as info:
        await _send(channel, sample_notification(sample_alerts(1)))
    err = scrubbed(info.value, channel)
    assert (err.reason, err.retryable) == (reason, retryable)
    assert words in err.message
    for text in (err.message, *(r.getMessage() for r in caplog.records)):
        assert hook not in text
        assert "127.0.0.1" not in text


def test_global_webhook_url_is_inherited_and_redacted() -> None:
    config = load_config_text("""
global: {mattermost_webhook_url: "https://mm.example.com/hooks/globalsecrethook"}
route: {receiver: mm}
receivers:
  - name: mm
    mattermost_configs:
      - channel: ops
      - webhook_url: https://mm.example.com/hooks/ownsecrethook
        send_resolved: false
""", "x.yml")
    first, second = config.receivers["mm"].configs(MattermostConfig)
    assert first.webhook_url.reveal().endswith("/globalsecrethook")
    assert (second.webhook_url.reveal().endswith("/ownsecrethook"), second.send_resolved) == (
        True, False)
    shown = redacted_yaml(config)
    assert "secrethook" not in shown + repr(first) + repr(second)
    assert "mattermost_webhook_url: <secret>" in shown


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("global: {mattermost_webhook_url: mm.example.com/hooks/x}",
         "unsupported scheme or missing host in URL <secret>"),
        ("global: {mattermost_webhook_url: 'https://a/hooks/x', "
         "mattermost_webhook_url_file: /x}",
         "at most one of mattermost_webhook_url & mattermost_webhook_url_file"),
    ],
)
def test_bad_global_webhook_url(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(f"{text}\nroute: {{receiver: r}}\nreceivers: [{{name: r}}]\n", "x.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems
    assert "hooks/x" not in str(info.value.problems)
