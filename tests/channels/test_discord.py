"""The Discord channel: embeds within Discord's limits, 429 `retry_after`, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.discord import DISCORD_PACING, GREEN, RED, DiscordChannel, DiscordConfig
from router.channels.http import HttpClient
from router.config.load import load_config_text
from router.config.types import Pacing, Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fake_discord import TOKEN, DiscordFake, problems, start_discord
from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import T0, check_golden, fixture_notification, sample_alerts, sample_notification


def _channel(fake: DiscordFake | None = None, http: HttpClient | None = None,
             **kw: Any) -> DiscordChannel:
    url = fake.url if fake else "http://127.0.0.1:1/api/webhooks/1/x"
    return DiscordChannel(DiscordConfig(Secret(url), **kw), Renderer([]), http or HttpClient())


def _render(n: Notification, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(_channel(**kw).render(n))
    return body


async def _send(channel: DiscordChannel, n: Notification) -> dict[str, str]:
    return await channel.send(channel.render(n), SendContext(5.0, {}, False))


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_request(http: HttpClient, aiohttp_server: AiohttpServer, name: str) -> None:
    fake = await start_discord(aiohttp_server)
    n, _, _ = fixture_notification(name)
    assert await _send(_channel(fake, http), n) == {}
    (req,) = fake.requests
    assert req.headers["Content-Type"] == "application/json"
    check_golden(name.replace(".json", ".discord.json"), req.body)
    assert len(fake.messages) == 1  # the fake accepted it: within every limit


def test_message_reads_well_at_3am() -> None:
    n, _, _ = fixture_notification("critical-grouped-truncated.json")
    body = _render(n)
    assert body["content"] == "[FIRING:3] HighErrorRate (prod-eu checkout critical)"
    (embed,) = body["embeds"]
    assert embed["title"] == "🔥 FIRING · CRITICAL · HighErrorRate (3)"
    assert embed["color"] == RED
    assert embed["description"].startswith("`cluster=prod-eu` `service=checkout` first")
    first = embed["fields"][0]
    assert first["name"] == "🔥 Checkout 5xx rate above 5%"
    assert "**CRITICAL** · HighErrorRate · since <t:1795560171:f> (<t:1795560171:R>)" in (
        first["value"])
    assert "`instance=10.0.0.1:8080`" in first["value"]
    assert "[📖 Runbook](https://runbooks.example.com/checkout-5xx)" in first["value"]
    assert body["allowed_mentions"] == {"parse": []}


def test_mixed_group_gets_a_red_and_a_green_embed() -> None:
    recovered = make_alert({"alertname": "HighErrorRate", "instance": "z",
                            "severity": "warning"}, {}, T0, T0 + 10, "", T0)
    alerts = [*sample_alerts(2), recovered]
    red, green = _render(sample_notification(alerts))["embeds"]
    assert (red["color"], green["color"]) == (RED, GREEN)
    assert len(red["fields"]) == 2
    assert green["title"] == "✅ RESOLVED · WARNING · HighErrorRate (1)"
    assert "url" not in green  # Discord would merge embeds sharing a URL


async def test_large_groups_stay_within_discord_limits(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    n = sample_notification(sample_alerts(300))
    body = _render(n)
    assert problems(body) == []
    fields = sum(len(e["fields"]) for e in body["embeds"])
    footer = body["embeds"][-1]["footer"]["text"]
    assert footer == f"+{300 - fields} more alerts not shown ({300 - fields} firing, 0 resolved)"
    # Resolved fields are short: more than 25 fit in 6,000 characters, so a second embed.
    resolved = _render(
        sample_notification(sample_alerts(300, ends=T0 + 1), NotifyReason.ALL_RESOLVED))
    assert problems(resolved) == []
    first, second = resolved["embeds"][:2]
    assert len(first["fields"]) == 25
    assert second["title"] == "✅ RESOLVED · CRITICAL · HighErrorRate (300) (continued)"
    fake = await start_discord(aiohttp_server)
    await _send(_channel(fake, http), n)
    assert len(fake.messages) == 1


def test_huge_texts_are_cut_to_field_limits() -> None:
    n = sample_notification(sample_alerts(3, description="d" * 5000, summary="s" * 400))
    body = _render(n, title="t" * 400, message="m" * 3000)
    assert problems(body) == []
    embed = body["embeds"][0]
    assert len(embed["title"]) == 256
    assert len(embed["fields"][0]["name"]) == 256
    assert len(embed["fields"][0]["value"]) == 1024
    assert len(body["content"]) == 2000


def test_username_avatar_and_templates() -> None:
    body = _render(sample_notification(sample_alerts(1)), username="Alertmanager",
                   avatar_url="https://example.com/a.png",
                   title="{{ status|upper }} {{ groupLabels.alertname }}",
                   message="{{ alerts|length }} alert(s) for {{ receiver }}")
    assert list(body)[:2] == ["username", "avatar_url"]
    assert body["embeds"][0]["title"] == "FIRING HighErrorRate"
    assert body["content"] == "1 alert(s) for ops"


def test_template_failure_falls_back_to_plain_content(tmp_path: Path) -> None:
    tmpl = tmp_path / "discord.json.j2"
    tmpl.write_text("{{ alerts|map('nosuchfilter')|list }}", encoding="utf-8")
    failures: list[str] = []
    channel = DiscordChannel(DiscordConfig(Secret("http://x/"), template=str(tmpl)),
                             Renderer([str(tmpl)], on_failure=failures.append), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["content"].startswith("[FIRING:1] HighErrorRate")
    assert "embeds" not in body
    assert failures == ["discord"]


@pytest.mark.parametrize(
    ("script", "retry_after"),
    [
        ([429], 1.5),  # JSON retry_after wins over the whole-second header
        ([(429, {"Retry-After": "4"}, {"message": "Cloudflare"})], 4.0),
        ([(429, {}, {"message": "rate limited", "retry_after": 0.25, "global": True})], 0.25),
    ],
)
async def test_rate_limits_honour_body_or_header(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[Any], retry_after: float
) -> None:
    fake = await start_discord(aiohttp_server, script)
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), sample_notification(sample_alerts(1)))
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (
        FailureReason.RATE_LIMITED, True, retry_after)
    assert TOKEN not in str(err)


async def test_unknown_webhook_and_bad_token_are_permanent(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_discord(aiohttp_server, [404])
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "Unknown Webhook" in info.value.message
    wrong = DiscordChannel(DiscordConfig(Secret(fake.url.replace(TOKEN, "nope"))),
                           Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await _send(wrong, sample_notification(sample_alerts(1)))
    assert info.value.reason is FailureReason.AUTH


def test_pacing_and_target() -> None:
    channel = _channel()
    assert channel.pacing == DISCORD_PACING == Pacing(rate=0.5, burst=5)
    assert channel.target.startswith("discord:")
    assert "webhooks" not in channel.target  # a digest, not the URL and its token
    assert _channel().target == channel.target


CONFIG = """
route: {{receiver: d}}
receivers:
  - name: d
    discord_configs:
      - {entry}
"""


def test_config_parsing(tmp_path: Path) -> None:
    url_file = tmp_path / "hook"
    url_file.write_text("https://discord.com/api/webhooks/1/" + TOKEN, encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""webhook_url_file: {url_file}
        username: Alertmanager
        avatar_url: https://example.com/a.png
        title: '{{{{ status }}}}'
        message: '{{{{ receiver }}}}'
        send_resolved: false"""), str(tmp_path / "c.yml"))
    (d,) = cfg.receivers["d"].configs(DiscordConfig)
    assert (d.username, d.avatar_url, d.send_resolved) == (
        "Alertmanager", "https://example.com/a.png", False)
    assert (d.title, d.message) == ("{{ status }}", "{{ receiver }}")
    assert d.webhook_url.reveal().endswith(TOKEN)
    assert TOKEN not in repr(d)
    (plain,) = load_config_text(CONFIG.format(entry="{webhook_url: 'https://d/x'}"),
                                "x.yml").receivers["d"].configs(DiscordConfig)
    assert (plain.send_resolved, plain.pacing) == (True, None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{webhook_url: 'https://d/x', avatar_url: 'a.png'}", "must be an http(s) URL"),
        ("{webhook_url: 'https://d/x', embeds: 3}", 'unknown key "embeds"'),
        ("{webhook_url: 'https://d/x', message: '{% if %}'}", "template syntax error"),
    ],
)
def test_bad_config(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(CONFIG.format(entry=entry), "x.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems
