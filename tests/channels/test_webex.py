"""The Webex channel: Alertmanager's message as markdown, the byte limit, Webex's answers,
configuration with Alertmanager's checks and `global.webex_api_url`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import assert_config_problem
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.webex import WebexChannel, WebexConfig
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Authorization, HttpConfig, Secret
from router.errors import DeliveryError, FailureReason
from router.rendering import Renderer

from .fake_webex import MAX_BYTES, ROOM, TOKEN, WebexFake, start_webex
from .fakes import sample_alerts, sample_notification
from .sending import CTX, failure, firing_then_resolved

AUTH = HttpConfig(authorization=Authorization("Bearer", Secret(TOKEN)))


def _channel(fake: WebexFake, http: HttpClient, **kw: Any) -> WebexChannel:
    kw.setdefault("http_config", AUTH)
    return WebexChannel(WebexConfig(kw.pop("room_id", ROOM), api_url=fake.url, **kw),
                        Renderer([]), http)


async def test_firing_then_resolved_read_as_alertmanagers(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_webex(aiohttp_server)
    channel = _channel(fake, http)
    state = await firing_then_resolved(channel, 1, description="disk full")
    assert state == {"message_id": fake.messages[0]["id"]}
    alert = ("Labels:\n - alertname = HighErrorRate\n - instance = 10.0.0.0:8080\n"
             " - service = checkout\n - severity = critical\nAnnotations:\n"
             " - description = disk full\n - summary = 5xx above 5% on 10.0.0.0\nSource: \n")
    # Alertmanager's webex.default.message, to the character.
    assert fake.messages[0]["markdown"] == (
        f"disk full 5xx above 5% on 10.0.0.0\n\nAlerts Firing:\n{alert}\n\n\n")
    assert fake.messages[1]["markdown"].startswith("5xx above 5% on 10.0.0.0\n\n\nAlerts "
                                                   "Resolved:\nLabels:")


async def test_long_messages_are_cut_to_webex_bytes(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_webex(aiohttp_server)
    channel = _channel(fake, http, message="{{ '€' * 5000 }}")
    await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    (message,) = fake.messages
    assert len(message["markdown"].encode()) <= MAX_BYTES
    assert set(message["markdown"]) == {"€"}


@pytest.mark.parametrize(
    ("script", "room", "reason", "retryable", "retry_after", "words"),
    [
        ([], "unknown-room", FailureReason.CLIENT_ERROR, False, None,
         "HTTP 404: Could not find a room with provided ID. (trackingId ROUTER_0123-4567)"),
        ([403], ROOM, FailureReason.AUTH, False, None, "not a member"),
        ([(429, {"Retry-After": "12"})], ROOM, FailureReason.RATE_LIMITED, True, 12.0,
         "Too Many Requests"),
        ([500], ROOM, FailureReason.SERVER_ERROR, True, None, "Internal Server Error"),
        ([(503, {"Retry-After": "3"})], ROOM, FailureReason.RATE_LIMITED, True, 3.0,
         "Service Unavailable"),
    ],
)
async def test_webex_answers_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[Any], room: str,
    reason: FailureReason, retryable: bool, retry_after: float | None, words: str,
) -> None:
    fake = await start_webex(aiohttp_server, script)
    channel = _channel(fake, http, room_id=room)
    err = await failure(channel)
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert words in err.message
    assert TOKEN not in err.message


async def test_a_wrong_token_is_an_auth_failure(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_webex(aiohttp_server)
    wrong = HttpConfig(authorization=Authorization("Bearer", Secret("not-the-token")))
    channel = _channel(fake, http, http_config=wrong)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, False)
    assert fake.messages == []


def test_the_stored_payload_holds_no_token() -> None:
    channel = WebexChannel(WebexConfig("{{ commonLabels.service }}-room", AUTH), Renderer([]),
                           HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["roomId"] == "checkout-room"  # room_id is a template, as in Alertmanager
    assert TOKEN not in json.dumps(body)


CONFIG = """
global:
  webex_api_url: https://webex.example.com/v1/messages
  http_config:
    authorization: {{credentials: global-token}}
route: {{receiver: team}}
receivers:
  - name: team
    webex_configs:
      - {entry}
"""


def test_config_inherits_the_global_url_and_hides_the_token() -> None:
    cfg = load_config_text(CONFIG.format(entry="""room_id: abc
        http_config: {authorization: {credentials: hush-hush-bot-token}}
        message: '{{ status }}'
      - room_id: def
        api_url: http://127.0.0.1:8080/v1/messages
        send_resolved: false
        http_config: {bearer_token: other-token}"""), "c.yml")
    first, second = cfg.receivers["team"].configs(WebexConfig)
    assert (first.room_id, first.api_url, first.send_resolved, first.message) == (
        "abc", "https://webex.example.com/v1/messages", True, "{{ status }}")
    assert (second.api_url, second.send_resolved) == ("http://127.0.0.1:8080/v1/messages",
                                                      False)
    assert first.http_config.auth is not None
    assert first.http_config.auth.credentials == Secret("hush-hush-bot-token")
    assert "hush-hush-bot-token" not in redacted_yaml(cfg)
    assert "hush-hush-bot-token" not in repr(cfg)


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{http_config: {authorization: {credentials: t}}}", "receivers[0].webex_configs[0]"
         ".room_id", "missing room_id on webex_config"),
        # The global http_config does not count, as in Alertmanager.
        ("{room_id: abc}", "receivers[0].webex_configs[0]",
         "missing webex_configs.http_config.authorization"),
        ("{room_id: abc, http_config: {follow_redirects: false}}",
         "receivers[0].webex_configs[0].http_config",
         "missing webex_configs.http_config.authorization"),
        ("{room_id: abc, http_config: {bearer_token: t}, api_url: webexapis.com}",
         "receivers[0].webex_configs[0].api_url", "must be an http(s) URL"),
        ("{room_id: abc, http_config: {bearer_token: t}, mesage: x}",
         "receivers[0].webex_configs[0].mesage", 'unknown key "mesage" (did you mean '
         '"message"?)'),
    ],
)
def test_bad_config_names_the_path(entry: str, path: str, message: str) -> None:
    assert_config_problem(CONFIG.format(entry=entry), path, message)
