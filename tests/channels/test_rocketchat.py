"""The Rocket.Chat channel: Alertmanager's attachment (title, link, colour, fields,
actions), the bot's headers, Rocket.Chat's answers (including `success: false` under
200 and its rate limiter) and configuration with `global.rocketchat_*`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_config_problem
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.rocketchat import (
    RocketchatAction,
    RocketchatChannel,
    RocketchatConfig,
    RocketchatField,
)
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Secret
from router.errors import ConfigError, FailureReason
from router.rendering import Renderer

from .fake_rocketchat import TOKEN, USER_ID, RocketchatFake, start_rocketchat
from .fakes import sample_alerts, sample_notification
from .sending import CTX, failure, firing_then_resolved


def _channel(fake: RocketchatFake, http: HttpClient, **kw: Any) -> RocketchatChannel:
    kw.setdefault("channel", "#ops")
    cfg = RocketchatConfig(Secret(kw.pop("token", TOKEN)), Secret(USER_ID),
                           api_url=fake.api_url, **kw)
    return RocketchatChannel(cfg, Renderer([]), http)


async def test_firing_then_resolved_as_alertmanager_sends_them(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_rocketchat(aiohttp_server, clock.now)
    channel = _channel(fake, clocked_http)
    state = await firing_then_resolved(channel, 2)
    assert state == {"message_id": "msg1"}
    first, second = fake.messages
    assert first["channel"] == "#ops"
    assert first["attachments"] == [{
        "title": "[FIRING:2] HighErrorRate (checkout critical)",
        "title_link": "http://am:9093/#/alerts?receiver=ops", "color": "red"}]
    assert second["attachments"][0]["title"] == "[RESOLVED] HighErrorRate (checkout critical)"
    assert second["attachments"][0]["color"] == "green"
    assert "emoji" not in first  # Alertmanager's empty defaults are left out


async def test_fields_actions_and_the_message_options(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_rocketchat(aiohttp_server, clock.now)
    channel = _channel(
        fake, clocked_http, text="{{ commonAnnotations.summary }}", emoji=":fire:",
        icon_url="https://example.com/am.png", image_url="https://example.com/graph.png",
        fields=(RocketchatField("Severity", "{{ commonLabels.severity }}"),
                RocketchatField("Service", "{{ commonLabels.service }}", short=False)),
        short_fields=True,
        actions=(RocketchatAction("Runbook", "https://runbooks.example.com/{{ status }}"),
                 RocketchatAction("Ack", msg="ack {{ groupLabels.alertname }}")))
    await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    (sent,) = fake.messages
    assert (sent["emoji"], sent["avatar"]) == (":fire:", "https://example.com/am.png")
    (attachment,) = sent["attachments"]
    assert attachment["text"] == "5xx above 5% on 10.0.0.0"
    assert attachment["image_url"] == "https://example.com/graph.png"
    assert attachment["fields"] == [
        {"short": True, "title": "Severity", "value": "critical"},
        {"short": False, "title": "Service", "value": "checkout"}]
    assert attachment["actions"] == [
        {"type": "button", "text": "Runbook", "url": "https://runbooks.example.com/firing",
         "is_webview": False, "msg_in_chat_window": False},
        {"type": "button", "text": "Ack", "is_webview": False, "msg": "ack HighErrorRate",
         "msg_in_chat_window": False}]


async def test_long_titles_are_cut(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_rocketchat(aiohttp_server, clock.now)
    channel = _channel(fake, clocked_http, title="{{ 'x' * 3000 }}")
    await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert len(fake.messages[0]["attachments"][0]["title"]) == 1024


@pytest.mark.parametrize(
    ("script", "kw", "reason", "retryable", "retry_after", "words"),
    [
        ([], {"token": "wrong"}, FailureReason.AUTH, False, None, "must be logged in"),
        ([], {"channel": "#nowhere"}, FailureReason.CLIENT_ERROR, False, None,
         "HTTP 400: [invalid-channel]"),
        ([{"success": False, "error": "error-action-not-allowed"}], {},
         FailureReason.CLIENT_ERROR, False, None, "HTTP 200: error-action-not-allowed"),
        ([429], {}, FailureReason.RATE_LIMITED, True, 22.0, "too many requests"),
        ([500], {}, FailureReason.SERVER_ERROR, True, None, "Internal server error"),
        ([502], {}, FailureReason.SERVER_ERROR, True, None, "HTTP 502"),
    ],
)
async def test_rocketchat_answers_are_classified(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer,
    script: list[Any], kw: dict[str, str], reason: FailureReason, retryable: bool,
    retry_after: float | None, words: str,
) -> None:
    fake = await start_rocketchat(aiohttp_server, clock.now, script)
    channel = _channel(fake, clocked_http, **kw)
    err = await failure(channel)
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert words in err.message
    assert TOKEN not in err.message
    assert USER_ID not in err.message


def test_payload_holds_no_credentials_and_a_template_failure_falls_back() -> None:
    failures: list[str] = []
    channel = RocketchatChannel(RocketchatConfig(Secret(TOKEN), Secret(USER_ID), channel="#ops",
                                                 text="{{ alerts|map('nosuch')|list }}"),
                                Renderer([], on_failure=failures.append), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["channel"] == "#ops"
    assert body["attachments"][0]["title"].startswith("[FIRING:1] HighErrorRate")
    assert failures == ["rocketchat"]
    assert TOKEN not in json.dumps(body)
    assert USER_ID not in json.dumps(body)


CONFIG = """
global:
  rocketchat_api_url: https://chat.example.com/
  rocketchat_token: hush-hush-global-token
  rocketchat_token_id: global-user
route: {{receiver: team}}
receivers:
  - name: team
    rocketchat_configs:
      - {entry}
"""


def test_config_inherits_from_global_as_alertmanager_does(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n", encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""channel: '#ops'
        fields: [{{title: Severity, value: '{{{{ commonLabels.severity }}}}', short: true}}]
        actions: [{{type: button, text: Runbook, url: 'https://rb'}}]
      - token_file: {token_file}
        token_id: own-user
        api_url: http://127.0.0.1:3000
        send_resolved: true
        color: '{{{{ "yellow" }}}}'"""), "c.yml")
    first, second = cfg.receivers["team"].configs(RocketchatConfig)
    assert (first.api_url, first.channel, first.send_resolved) == (
        "https://chat.example.com/", "#ops", False)
    assert first.token.reveal() == "hush-hush-global-token"
    assert first.token_id.reveal() == "global-user"
    assert first.fields == (RocketchatField("Severity", "{{ commonLabels.severity }}", True),)
    assert first.actions == (RocketchatAction("Runbook", "https://rb"),)
    assert (second.api_url, second.send_resolved) == ("http://127.0.0.1:3000", True)
    assert (second.token.reveal(), second.token_id.reveal()) == ("from-file", "own-user")
    assert "hush-hush-global-token" not in redacted_yaml(cfg)
    assert "own-user" not in redacted_yaml(cfg)


NO_GLOBAL = """
route: {{receiver: team}}
receivers:
  - name: team
    rocketchat_configs:
      - {entry}
"""


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{token_id: u}", "receivers[0].rocketchat_configs[0]",
         "no global Rocketchat Token set either inline or in a file"),
        ("{token: t}", "receivers[0].rocketchat_configs[0]",
         "no global Rocketchat TokenID set either inline or in a file"),
        ("{token: hush-hush, token_file: /x, token_id: u}",
         "receivers[0].rocketchat_configs[0].token_file",
         "at most one of token & token_file must be configured"),
        ("{token: t, token_id: u, actions: [{type: select, text: x}]}",
         "receivers[0].rocketchat_configs[0].actions[0].type",
         'only "button" actions are supported'),
        ("{token: t, token_id: u, fields: [{title: a, valeu: b}]}",
         "receivers[0].rocketchat_configs[0].fields[0].valeu",
         'unknown key "valeu" (did you mean "value"?)'),
        ("{token: t, token_id: u, api_url: chat.example.com}",
         "receivers[0].rocketchat_configs[0].api_url", "must be an http(s) URL"),
    ],
)
def test_bad_config_names_the_path(entry: str, path: str, message: str) -> None:
    assert_config_problem(NO_GLOBAL.format(entry=entry), path, message)


def test_global_token_and_its_file_exclude_each_other() -> None:
    text = CONFIG.replace("rocketchat_token: hush-hush-global-token",
                          "rocketchat_token: hush-hush-global-token\n"
                          "  rocketchat_token_file: /x").format(entry="{channel: '#ops'}")
    with pytest.raises(ConfigError, match="at most one of rocketchat_token & "
                                          "rocketchat_token_file must be configured"):
        load_config_text(text, "c.yml")
