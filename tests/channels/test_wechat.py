"""The WeChat channel: Alertmanager's message, the access token's life (fetched once,
cached on the app's clock, renewed when expired or refused), WeChat's answers, secrets,
and configuration inherited from `global.wechat_api_*`."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from conftest import assert_config_problem
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.wechat import WechatChannel, WechatConfig
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Secret
from router.delivery.policy import scrubbed
from router.errors import ConfigError, DeliveryError, FailureReason
from router.rendering import Renderer

from .fake_wechat import AGENT, CORP_ID, SECRET, WechatFake, start_wechat
from .fakes import sample_alerts, sample_notification, start_fake
from .sending import CTX, failure, firing_then_resolved


def _channel(fake: WechatFake, http: HttpClient, **kw: Any) -> WechatChannel:
    kw.setdefault("to_user", "@all")
    kw.setdefault("agent_id", AGENT)
    cfg = WechatConfig(Secret(kw.pop("secret", SECRET)), kw.pop("corp_id", CORP_ID),
                       api_url=fake.api_url, **kw)
    return WechatChannel(cfg, Renderer([]), http)


async def test_firing_then_resolved_read_as_alertmanagers(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_wechat(aiohttp_server, clock.now)
    channel = _channel(fake, clocked_http)
    state = await firing_then_resolved(channel, 1)
    assert state == {"msgid": "msg1"}
    first, second = fake.messages
    assert (first["touser"], first["agentid"], first["msgtype"], first["safe"]) == (
        "@all", AGENT, "text", "0")
    alert = ("Labels:\n - alertname = HighErrorRate\n - instance = 10.0.0.0:8080\n"
             " - service = checkout\n - severity = critical\nAnnotations:\n"
             " - summary = 5xx above 5% on 10.0.0.0\nSource: \n")
    url = "http://am:9093/#/alerts?receiver=ops"
    # Alertmanager's wechat.default.message, to the character.
    assert first["text"]["content"] == (
        "[FIRING:1] HighErrorRate (10.0.0.0:8080 checkout critical)\n5xx above 5% on 10.0.0.0"
        f"\nAlerts Firing:\n{alert}\n\nAlertmanagerUrl:\n{url}")
    assert second["text"]["content"].startswith("[RESOLVED] HighErrorRate")
    assert f"\n\nAlerts Resolved:\n{alert}\nAlertmanagerUrl:\n" in second["text"]["content"]
    assert fake.token_calls == 1  # the token is cached between sends


async def test_the_token_is_renewed_before_it_expires_and_when_refused(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_wechat(aiohttp_server, clock.now)
    channel = _channel(fake, clocked_http)
    payload = channel.render(sample_notification(sample_alerts(1)))
    await channel.send(payload, CTX)
    await clock.advance(7200 - 61)
    await channel.send(payload, CTX)
    assert fake.token_calls == 1
    await clock.advance(2)  # within the last minute: renewed before WeChat refuses it
    await channel.send(payload, CTX)
    assert fake.token_calls == 2
    # WeChat drops a token early (another client fetched a new one, a secret reset).
    old = list(fake.tokens)
    fake.tokens.clear()
    with pytest.raises(DeliveryError) as info:
        await channel.send(payload, CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.SERVER_ERROR, True)
    assert "errcode 40014: invalid access_token" in info.value.message
    await channel.send(payload, CTX)  # the retry fetches a new token
    assert (fake.token_calls, len(fake.messages)) == (3, 4)
    assert not [t for t in old if t in str(info.value)]


@pytest.mark.parametrize(
    ("kw", "reason", "retryable", "words"),
    [
        ({"secret": "wrong-secret-value"}, FailureReason.AUTH, False,
         "wechat gettoken failed: HTTP 200 errcode 40001: invalid credential"),
        ({"corp_id": "ww-nobody"}, FailureReason.AUTH, False, "errcode 40013: invalid corpid"),
        ({"agent_id": "42"}, FailureReason.AUTH, False, "errcode 40056: invalid agentid"),
        ({"to_user": ""}, FailureReason.CLIENT_ERROR, False, "errcode 40035"),
    ],
)
async def test_wechat_refusals_are_permanent(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer,
    kw: dict[str, str], reason: FailureReason, retryable: bool, words: str,
) -> None:
    fake = await start_wechat(aiohttp_server, clock.now)
    channel = _channel(fake, clocked_http, **kw)
    err = scrubbed(await failure(channel), channel)
    assert (err.reason, err.retryable) == (reason, retryable)
    assert words in err.message
    assert SECRET not in err.message
    assert "wrong-secret-value" not in err.message
    assert "ACCESS-TOKEN" not in err.message


@pytest.mark.parametrize(
    ("script", "reason", "retry_after"),
    [
        ([{"errcode": 45009, "errmsg": "api freq out of limit"}], FailureReason.RATE_LIMITED,
         None),
        ([{"errcode": -1, "errmsg": "system busy"}], FailureReason.SERVER_ERROR, None),
        ([502], FailureReason.SERVER_ERROR, None),
    ],
)
async def test_busy_and_rate_limits_are_retried(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer,
    script: list[Any], reason: FailureReason, retry_after: float | None,
) -> None:
    fake = await start_wechat(aiohttp_server, clock.now, script)
    channel = _channel(fake, clocked_http)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert (info.value.reason, info.value.retryable, info.value.retry_after) == (
        reason, True, retry_after)


async def test_markdown_and_the_content_limits(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_wechat(aiohttp_server, clock.now)
    text = _channel(fake, clocked_http, message="{{ '告警' * 2000 }}")
    markdown = _channel(fake, clocked_http, message_type="markdown",
                        message="**{{ status }}** {{ 'x' * 5000 }}", to_party="2|3",
                        to_user="", to_tag="ops")
    n = sample_notification(sample_alerts(1))
    await text.send(text.render(n), CTX)
    await markdown.send(markdown.render(n), CTX)
    short, md = fake.messages
    assert len(short["text"]["content"].encode()) <= 2048
    assert set(short["text"]["content"]) == {"告", "警"}
    assert (md["msgtype"], md["toparty"], md["totag"]) == ("markdown", "2|3", "ops")
    assert "touser" not in md
    assert md["markdown"]["content"].startswith("**firing** xxx")
    assert len(md["markdown"]["content"].encode()) == 4096


async def test_no_secret_in_payload_or_logs(
    clocked_http: HttpClient, clock: FakeClock, aiohttp_server: AiohttpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = await start_wechat(aiohttp_server, clock.now, [500])
    channel = _channel(fake, clocked_http)
    payload = channel.render(sample_notification(sample_alerts(1)))
    assert SECRET.encode() not in payload
    with pytest.raises(DeliveryError) as info:
        await channel.send(payload, CTX)
    token = next(iter(fake.tokens))
    texts = [str(info.value), *(r.getMessage() for r in caplog.records)]
    assert not [t for t in texts if SECRET in t or token in t]


CONFIG = """
global:
  wechat_api_url: {url}
  wechat_api_secret: hush-hush-global-secret
  wechat_api_corp_id: ww-global
route: {{receiver: team}}
receivers:
  - name: team
    wechat_configs:
      - {entry}
"""


def test_config_inherits_from_global_as_alertmanager_does() -> None:
    url = "https://wechat.example.com/cgi"
    cfg = load_config_text(CONFIG.format(url=url, entry="""to_user: '@all'
        agent_id: '1000002'
      - api_secret: own-secret
        corp_id: ww-own
        api_url: http://127.0.0.1:1/cgi-bin/
        message_type: markdown
        send_resolved: true"""), "c.yml")
    first, second = cfg.receivers["team"].configs(WechatConfig)
    assert (first.corp_id, first.api_url, first.message_type, first.send_resolved) == (
        "ww-global", "https://wechat.example.com/cgi/", "text", False)
    assert first.api_secret.reveal() == "hush-hush-global-secret"
    assert (second.corp_id, second.api_url, second.message_type) == (
        "ww-own", "http://127.0.0.1:1/cgi-bin/", "markdown")
    assert second.api_secret.reveal() == "own-secret"
    shown = redacted_yaml(cfg)
    assert "hush-hush-global-secret" not in shown
    assert "own-secret" not in shown


NO_GLOBAL = """
route: {{receiver: team}}
receivers:
  - name: team
    wechat_configs:
      - {entry}
"""


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{corp_id: c}", "receivers[0].wechat_configs[0]",
         "no global Wechat Api Secret set either inline or in a file"),
        ("{api_secret: s}", "receivers[0].wechat_configs[0]", "no global Wechat CorpID set"),
        ("{api_secret: s, corp_id: c, message_type: html}",
         "receivers[0].wechat_configs[0].message_type",
         'weChat message type "html" does not match valid options ^(text|markdown)$'),
        ("{api_secret: hush-hush, api_secret_file: /x, corp_id: c}",
         "receivers[0].wechat_configs[0].api_secret_file",
         "at most one of api_secret & api_secret_file must be configured"),
        ("{api_secret: s, corp_id: c, to_usr: a}", "receivers[0].wechat_configs[0].to_usr",
         'unknown key "to_usr" (did you mean "to_user"?)'),
    ],
)
def test_bad_config_names_the_path(entry: str, path: str, message: str) -> None:
    assert_config_problem(NO_GLOBAL.format(entry=entry), path, message)


def test_global_secret_file_and_exclusivity(tmp_path: Any) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n", encoding="utf-8")
    text = f"""
global: {{wechat_api_secret_file: {secret}, wechat_api_corp_id: c}}
route: {{receiver: team}}
receivers: [{{name: team, wechat_configs: [{{to_user: a}}]}}]
"""
    (cfg,) = load_config_text(text, "c.yml").receivers["team"].configs(WechatConfig)
    assert cfg.api_secret.reveal() == "from-file"
    both = text.replace("{wechat_api_secret_file", "{wechat_api_secret: x, wechat_api_secret_file")
    with pytest.raises(ConfigError, match="at most one of wechat_api_secret & "
                                          "wechat_api_secret_file must be configured"):
        load_config_text(both, "c.yml")
    assert json.dumps(str(cfg.api_secret)) == '"Secret(<redacted>)"'


async def test_a_short_secret_or_token_never_garbles_the_answer(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    # Found against a real Alertmanager: a secret "s" hidden in the answer before it was
    # read turned "access_token" into "acce<secret><secret>_token".
    fake = await start_fake(aiohttp_server, "webhook", [
        {"errcode": 0, "access_token": "token", "expires_in": 7200},
        {"errcode": 0, "errmsg": "ok", "msgid": "m1"}], path="/cgi-bin/")
    channel = WechatChannel(WechatConfig(Secret("s"), "c", api_url=fake.url, to_user="u"),
                            Renderer([]), http)
    state = await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert state == {"msgid": "m1"}
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/cgi-bin/gettoken"), ("POST", "/cgi-bin/message/send")]
    assert fake.requests[1].query == {"access_token": "token"}
