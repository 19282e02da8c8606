"""The Telegram channel: escaped HTML messages, the 4,096 limit, Bot API answers, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.telegram import TELEGRAM_PACING, TelegramChannel, TelegramConfig, cut_html
from router.config.load import load_config_text
from router.config.types import Pacing, Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fake_telegram import CHAT, TOKEN, TelegramFake, parse_html, start_telegram, units
from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import T0, check_golden, fixture_notification, sample_alerts, sample_notification


def _channel(fake: TelegramFake | None = None, http: HttpClient | None = None,
             **kw: Any) -> TelegramChannel:
    api_url = fake.api_url if fake else "http://127.0.0.1:1"
    return TelegramChannel(TelegramConfig(Secret(TOKEN), CHAT, api_url=api_url, **kw),
                           Renderer([]), http or HttpClient())


def _render(n: Notification, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_channel(**kw).render(n))
    return body


async def _send(channel: TelegramChannel, n: Notification) -> dict[str, str]:
    return await channel.send(channel.render(n), SendContext(5.0, {}, False))


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_request(http: HttpClient, aiohttp_server: AiohttpServer, name: str) -> None:
    fake = await start_telegram(aiohttp_server)
    n, _, _ = fixture_notification(name)
    assert await _send(_channel(fake, http), n) == {"message_id": "1"}
    (req,) = fake.requests
    assert req.path == f"/bot{TOKEN}/sendMessage"
    check_golden(name.replace(".json", ".telegram.json"), req.body)
    # Telegram parsed the HTML (the fake checks tags and escaping as Telegram does).
    assert fake.messages[0]["visible"].startswith(("🔥 FIRING", "✅ RESOLVED"))


def test_message_reads_well_at_3am() -> None:
    n, _, _ = fixture_notification("critical-single-firing.json")
    text = _render(n)["text"]
    first, second = text.split("\n")[:2]
    assert first == "🔥 <b>FIRING · CRITICAL</b> · HighErrorRate (1)"
    assert "<code>cluster=prod-eu</code>" in second
    assert "since 2026-11-24 22:42:51 UTC" in text
    grouped, _, _ = fixture_notification("critical-grouped-truncated.json")
    runbook = '<a href="https://runbooks.example.com/checkout-5xx">📖 Runbook</a>'
    assert runbook in _render(grouped)["text"]
    resolved = _render(
        sample_notification(sample_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED))
    assert resolved["text"].startswith("✅ <b>RESOLVED · CRITICAL</b> · HighErrorRate (1)")


async def test_every_interpolated_value_is_escaped(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    hostile = '<script>alert("x")</script> & <b>'
    alert = make_alert({"alertname": "A<b>", "severity": "<i>", "instance": hostile},
                       {"summary": hostile, "description": "</code>&amp;",
                        "runbook_url": 'http://rb/?a=1&b="2"'}, T0, None, "", T0)
    n = sample_notification([alert])
    text = _render(n)["text"]
    assert "<script>" not in text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    assert 'href="http://rb/?a=1&amp;b=&#34;2&#34;"' in text
    fake = await start_telegram(aiohttp_server)
    await _send(_channel(fake, http), n)
    assert hostile in fake.messages[0]["visible"]  # shown as typed, not interpreted


def test_custom_message_is_escaped_except_its_own_tags() -> None:
    alert = make_alert({"alertname": "<x>"}, {}, T0, None, "", T0)
    body = _render(sample_notification([alert]),
                   message='<b>{{ status }}</b> {{ alerts[0].labels.alertname }} '
                           '{{ "<i>ok</i>"|safeHtml }}')
    assert body["text"] == "<b>firing</b> &lt;x&gt; <i>ok</i>"
    assert body["parse_mode"] == "HTML"


async def test_long_groups_are_cut_with_more_line(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    n = sample_notification(sample_alerts(200, description="d" * 300))
    text = _render(n)["text"]
    assert units(text) <= 4096
    assert "more alerts not shown (" in text
    parse_html(text)  # still balanced HTML
    fake = await start_telegram(aiohttp_server)
    await _send(_channel(fake, http), n)
    assert len(fake.messages) == 1


def test_one_huge_alert_is_cut_inside_balanced_html() -> None:
    n = sample_notification(sample_alerts(2, description="<&>" * 3000))
    text = _render(n)["text"]
    assert units(text) <= 4096
    assert parse_html(text).count("🔥") >= 2  # header and the first alert
    assert "+1 more alert not shown (1 firing, 0 resolved)" in text


def test_cut_html_never_splits_tags_or_entities() -> None:
    html = "<b>" + "a&amp;" * 50 + "</b><a href=\"http://x\">" + "z" * 50 + "</a>"
    for limit in range(5, 200, 7):
        cut = cut_html(html, limit)
        assert units(cut) <= limit
        parse_html(cut)
    assert cut_html("short", 10) == "short"


def test_options_thread_and_silent_delivery() -> None:
    n = sample_notification(sample_alerts(1))
    body = _render(n, message_thread_id=7, disable_notifications=True)
    assert body["message_thread_id"] == 7
    assert body["disable_notification"] is True
    assert body["link_preview_options"] == {"is_disabled": True}
    assert TOKEN not in json.dumps(body)
    plain = _render(n, parse_mode="", message="{{ status }} <raw>")
    assert plain["text"] == "firing <raw>"
    assert "parse_mode" not in plain


def test_template_failure_falls_back_to_plain_text() -> None:
    failures: list[str] = []
    channel = TelegramChannel(
        TelegramConfig(Secret(TOKEN), CHAT, message="{{ alerts|map('nosuchfilter')|list }}"),
        Renderer([], on_failure=failures.append), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["text"].startswith("[FIRING:1] HighErrorRate")
    assert "parse_mode" not in body  # the plain text may hold anything
    assert failures == ["telegram"]


def test_pacing_and_target_per_chat() -> None:
    a, b = _channel(), _channel()
    other = TelegramChannel(TelegramConfig(Secret(TOKEN), 42), Renderer([]), HttpClient())
    assert a.pacing == TELEGRAM_PACING == Pacing(rate=1.0, burst=1)
    assert a.target == b.target != other.target
    assert TOKEN not in a.target
    assert a.target.startswith("telegram:")
    paced = TelegramChannel(TelegramConfig(Secret(TOKEN), 1, pacing=Pacing(0.3, 2)),
                            Renderer([]), HttpClient())
    assert paced.pacing == Pacing(0.3, 2)


@pytest.mark.parametrize(
    ("script", "reason", "retryable", "retry_after", "words"),
    [
        ([400], FailureReason.CLIENT_ERROR, False, None, "chat not found"),
        ([401], FailureReason.AUTH, False, None, "Unauthorized"),
        ([403], FailureReason.AUTH, False, None, "bot was kicked"),
        ([429], FailureReason.RATE_LIMITED, True, 5.0, "retry after 5"),
        ([500], FailureReason.SERVER_ERROR, True, None, "Internal Server Error"),
    ],
)
async def test_bot_api_errors(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[int], reason: FailureReason,
    retryable: bool,
    retry_after: float | None, words: str,
) -> None:
    fake = await start_telegram(aiohttp_server, list(script))
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), sample_notification(sample_alerts(1)))
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert words in err.message
    assert TOKEN not in str(err)
    assert TOKEN not in repr(err)


async def test_wrong_token_and_migrated_group(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_telegram(aiohttp_server)
    wrong = TelegramChannel(TelegramConfig(Secret("1:wrong"), CHAT, api_url=fake.api_url),
                            Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await _send(wrong, sample_notification(sample_alerts(1)))
    assert info.value.reason is FailureReason.AUTH
    fake.migrated[-555] = CHAT
    moved = TelegramChannel(TelegramConfig(Secret(TOKEN), -555, api_url=fake.api_url),
                            Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await _send(moved, sample_notification(sample_alerts(1)))
    assert info.value.reason is FailureReason.CLIENT_ERROR
    assert f"now chat_id {CHAT}: update chat_id" in info.value.message


CONFIG = """
route: {{receiver: tg}}
receivers:
  - name: tg
    telegram_configs:
      - {entry}
"""


def test_config_parsing(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""bot_token_file: {token_file}
        chat_id: -100123
        message_thread_id: 9
        disable_notifications: true
        send_resolved: false
        pacing: {{rate: 20, per: 1m, burst: 3}}"""), str(tmp_path / "c.yml"))
    (tg,) = cfg.receivers["tg"].configs(TelegramConfig)
    assert (tg.chat_id, tg.message_thread_id, tg.parse_mode) == (-100123, 9, "HTML")
    assert (tg.disable_notifications, tg.send_resolved) == (True, False)
    assert tg.api_url == "https://api.telegram.org"
    assert tg.bot_token.reveal() == TOKEN
    assert tg.pacing == Pacing(rate=20 / 60, burst=3)
    assert TOKEN not in repr(tg)
    defaults = load_config_text(CONFIG.format(entry="{bot_token: x, chat_id: 5}"), "x.yml")
    (d,) = defaults.receivers["tg"].configs(TelegramConfig)
    assert (d.send_resolved, d.disable_notifications, d.message_thread_id) == (True, False, None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{bot_token: x, chat_id: '@ops'}", 'expected an integer, got "@ops"'),
        ("{bot_token: x, chat_id: 1, parse_mode: HTML5}", "must be one of 'HTML'"),
        ("{bot_token: x, chat_id: 1, parse_mode: MarkdownV2}", 'needs a "message" template'),
        ("{bot_token: x, chat_id: 1, api_url: 'api.telegram.org'}", "must be an http(s) URL"),
        ("{bot_token: x, chat_id: 1, message: '{{ .Status }}'}", "looks like a Go template"),
    ],
)
def test_bad_config(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(CONFIG.format(entry=entry), "x.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems
