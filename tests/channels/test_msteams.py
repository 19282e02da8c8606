"""Teams' legacy connector (`msteams_configs`) and Workflows (`msteamsv2_configs`): the
cards Alertmanager sends, the connector's 200-that-failed, limits, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_config_problem
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.msteams import MSTeamsChannel, MSTeamsConfig
from router.channels.msteamsv2 import MSTeamsV2Channel
from router.channels.teams import TeamsChannel, TeamsConfig
from router.config.load import load_config_text
from router.config.types import Secret
from router.errors import DeliveryError, FailureReason
from router.model import NotifyReason
from router.rendering import Renderer

from .fake_msteams import TOKEN, ConnectorFake, start_connector
from .fake_teams import SIG, problems, start_teams
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

# Alertmanager's msteams.default.text for one firing alert, byte for byte.
AM_TEXT_ONE_FIRING = (
    "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = HighErrorRate\n"
    "  - instance = 10.0.0.0:8080\n  - service = checkout\n  - severity = critical\n"
    "\nAnnotations:\n  - summary = 5xx above 5% on 10.0.0.0\n\nSource: \n\n\n\n\n")


def _connector(fake: ConnectorFake | None = None, http: HttpClient | None = None,
               **kw: Any) -> MSTeamsChannel:
    url = fake.url if fake else "http://127.0.0.1:1/webhookb2/x"
    return MSTeamsChannel(MSTeamsConfig(Secret(url), **kw), Renderer([]), http or HttpClient())



async def test_connector_gets_alertmanagers_message_card(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_connector(aiohttp_server)
    assert await _send(_connector(fake, http), sample_notification(sample_alerts(1))) == {}
    (card,) = fake.cards
    assert card == {"@context": "http://schema.org/extensions", "type": "MessageCard",
                    "title": "[FIRING:1] HighErrorRate (10.0.0.0:8080 checkout critical)",
                    "summary": "[FIRING:1] HighErrorRate (10.0.0.0:8080 checkout critical)",
                    "text": AM_TEXT_ONE_FIRING, "themeColor": "8C1A1A"}
    resolved = sample_notification(sample_alerts(2, ends=T0 + 30), NotifyReason.ALL_RESOLVED)
    await _send(_connector(fake, http), resolved)
    assert fake.cards[1]["themeColor"] == "2DC72D"
    assert fake.cards[1]["title"] == "[RESOLVED] HighErrorRate (checkout critical)"
    assert fake.cards[1]["text"].startswith("\n\n\n# Alerts Resolved:\n\nLabels:\n")


@pytest.mark.parametrize(
    ("script", "reason", "retryable"),
    [
        (["throttled"], FailureReason.RATE_LIMITED, True),  # 200, yet not delivered
        ([429], FailureReason.RATE_LIMITED, True),
        ([502], FailureReason.SERVER_ERROR, True),
        ([400], FailureReason.CLIENT_ERROR, False),
        ([410], FailureReason.CLIENT_ERROR, False),  # the connector was removed
    ],
)
async def test_connector_failures(http: HttpClient, aiohttp_server: AiohttpServer,
                                  script: list[int | str], reason: FailureReason,
                                  retryable: bool) -> None:
    fake = await start_connector(aiohttp_server, script)
    with pytest.raises(DeliveryError) as info:
        await _send(_connector(fake, http), sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (reason, retryable)
    assert TOKEN not in str(info.value)
    assert fake.cards == []
    await _send(_connector(fake, http), sample_notification(sample_alerts(1)))
    assert len(fake.cards) == 1  # the retry is delivered


async def test_huge_alerts_still_fit_the_connector(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_connector(aiohttp_server)
    n = sample_notification(sample_alerts(200, description="é" * 2000))
    await _send(_connector(fake, http), n)
    assert len(fake.requests[0].body) <= 28_000
    assert fake.cards[0]["text"].endswith("…")


async def test_connector_templates_and_bad_card(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_connector(aiohttp_server)
    channel = _connector(fake, http, title="{{ status|upper }}", summary="", text="")
    with pytest.raises(DeliveryError) as info:  # the connector's own rule
        await _send(channel, sample_notification(sample_alerts(1)))
    assert "Summary or Text is required." in info.value.message
    channel = _connector(fake, http, title="{{ status|upper }}", text="{{ alerts|length }}")
    await _send(channel, sample_notification(sample_alerts(3)))
    assert (fake.cards[0]["title"], fake.cards[0]["text"]) == ("FIRING", "3")


def test_workflows_card_is_alertmanagers() -> None:
    channel = MSTeamsV2Channel(TeamsConfig(Secret("http://x/?sig=1")), Renderer([]),
                               HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert problems(body) == []
    (attachment,) = body["attachments"]
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["version"], card["msteams"]) == ("1.2", {"width": "full"})
    title, text = card["body"]
    assert title == {"type": "TextBlock", "weight": "Bolder", "size": "Medium", "wrap": True,
                     "style": "heading", "color": "Attention",
                     "text": "[FIRING:1] HighErrorRate (10.0.0.0:8080 checkout critical)"}
    assert text == {"type": "TextBlock", "text": AM_TEXT_ONE_FIRING, "wrap": True}
    resolved = sample_notification(sample_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED)
    card = json.loads(channel.render(resolved))["attachments"][0]["content"]
    assert card["body"][0]["color"] == "Good"


async def test_workflows_delivery_and_limits(http: HttpClient,
                                            aiohttp_server: AiohttpServer) -> None:
    fake = await start_teams(aiohttp_server, [(429, {"Retry-After": "3"}, None)])
    channel = MSTeamsV2Channel(TeamsConfig(Secret(fake.url)), Renderer([]), http)
    n = sample_notification(sample_alerts(300, description="x" * 500))
    with pytest.raises(DeliveryError) as info:
        await _send(channel, n)
    assert (info.value.reason, info.value.retry_after) == (FailureReason.RATE_LIMITED, 3.0)
    assert SIG not in str(info.value)
    await _send(channel, n)
    assert len(fake.requests[-1].body) <= 28_000
    assert fake.cards[0]["body"][1]["text"].endswith("…")
    # teams_configs and msteamsv2_configs to one webhook share its pacing bucket.
    teams = TeamsChannel(TeamsConfig(Secret(fake.url)), Renderer([]), http)
    assert (channel.target, channel.pacing) == (teams.target, teams.pacing)


CONFIG = """
route: {{receiver: t}}
receivers:
  - name: t
    {key}:
      - {entry}
"""


def test_config(tmp_path: Path) -> None:
    url_file = tmp_path / "url"
    url_file.write_text(f"https://example.webhook.office.com/webhookb2/{TOKEN}\n",
                        encoding="utf-8")
    entry = f"""webhook_url_file: {url_file}
        summary: '{{{{ status }}}}'
        send_resolved: false"""
    cfg = load_config_text(CONFIG.format(key="msteams_configs", entry=entry),
                           str(tmp_path / "c.yml"))
    (m,) = cfg.receivers["t"].configs(MSTeamsConfig)
    assert (m.title, m.summary, m.text, m.send_resolved) == (None, "{{ status }}", None, False)
    assert TOKEN not in repr(m)
    cfg = load_config_text(CONFIG.format(key="msteamsv2_configs",
                                         entry="{webhook_url: 'https://x/y?sig=z'}"), "c.yml")
    (kind, v2), = cfg.receivers["t"].integrations
    assert isinstance(v2, TeamsConfig)
    assert (kind, v2.send_resolved, v2.title) == ("msteamsv2", True, None)
    # teams_configs stays: the same keys, alert-router's own card.
    cfg = load_config_text(CONFIG.format(key="teams_configs",
                                         entry="{webhook_url: 'https://x/y?sig=z'}"), "c.yml")
    assert [k for k, _ in cfg.receivers["t"].integrations] == ["teams"]


@pytest.mark.parametrize(
    ("key", "entry", "path", "message"),
    [
        ("msteams_configs", "{title: x}", "receivers[0].msteams_configs[0]",
         'one of "webhook_url" or "webhook_url_file" is required'),
        ("msteams_configs", "{webhook_url: 'https://x', summery: x}",
         "receivers[0].msteams_configs[0].summery", 'did you mean "summary"'),
        ("msteamsv2_configs", "{webhook_url: 'https://x', text: '{{ .Alerts }}'}",
         "receivers[0].msteamsv2_configs[0].text", "looks like a Go template"),
        ("msteamsv2_configs", "{webhook_url: 'https://x', webhook_url_file: /nope}",
         "receivers[0].msteamsv2_configs[0].webhook_url_file", "mutually exclusive"),
    ],
)
def test_bad_config(key: str, entry: str, path: str, message: str) -> None:
    assert_config_problem(CONFIG.format(key=key, entry=entry), path, message)


def test_workflows_template_and_its_failure(tmp_path: Path) -> None:
    card = tmp_path / "card.j2"
    card.write_text('{"type": "AdaptiveCard", "version": "1.2", "body": [{"type": '
                    '"TextBlock", "text": {{ status|toJson }}}]}', encoding="utf-8")
    channel = MSTeamsV2Channel(TeamsConfig(Secret("http://x/"), template=str(card)),
                               Renderer([str(card)]), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["attachments"][0]["content"]["body"][0]["text"] == "firing"
    failures: list[str] = []
    card.write_text("[1]", encoding="utf-8")
    channel = MSTeamsV2Channel(TeamsConfig(Secret("http://x/"), template=str(card)),
                               Renderer([str(card)], on_failure=failures.append), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert problems(body) == []
    assert failures == ["msteamsv2"]
    failures.clear()
    broken = MSTeamsChannel(MSTeamsConfig(Secret("http://x/"), title="{{ 1 / 0 }}"),
                            Renderer([], on_failure=failures.append), HttpClient())
    fallback = json.loads(broken.render(sample_notification(sample_alerts(1))))
    assert fallback["title"].startswith("[FIRING:1]")
    assert failures == ["msteams"]
