"""The Teams channel: Adaptive Cards under the 28 KB limit, Workflows answers, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.teams import MAX_BODY_BYTES, TEAMS_PACING, TeamsChannel, TeamsConfig
from router.config.load import load_config_text
from router.config.types import Pacing, Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason
from router.rendering import Renderer

from .fake_teams import SIG, TeamsFake, problems, start_teams
from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import T0, check_golden, fixture_notification, sample_alerts, sample_notification


def _channel(fake: TeamsFake | None = None, http: HttpClient | None = None,
             **kw: Any) -> TeamsChannel:
    url = fake.url if fake else "http://127.0.0.1:1/invoke?sig=x"
    return TeamsChannel(TeamsConfig(Secret(url), **kw), Renderer([]), http or HttpClient())


def _card(n: Notification, **kw: Any) -> dict[str, Any]:
    body = json.loads(_channel(**kw).render(n))
    assert problems(body) == []
    card: dict[str, Any] = body["attachments"][0]["content"]
    return card


async def _send(channel: TeamsChannel, n: Notification) -> dict[str, str]:
    return await channel.send(channel.render(n), SendContext(5.0, {}, False))


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_request(http: HttpClient, aiohttp_server: AiohttpServer, name: str) -> None:
    fake = await start_teams(aiohttp_server)
    n, _, _ = fixture_notification(name)
    assert await _send(_channel(fake, http), n) == {}
    (req,) = fake.requests
    assert req.query["sig"] == SIG
    check_golden(name.replace(".json", ".teams.json"), req.body)
    assert len(fake.cards) == 1  # accepted with 202


def test_card_reads_well_at_3am() -> None:
    n, _, _ = fixture_notification("critical-grouped-truncated.json")
    card = _card(n)
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, context, first, *_ = card["body"]
    assert title["text"] == "🔥 FIRING · CRITICAL · HighErrorRate (3)"
    assert title["color"] == "Attention"
    assert context["text"] == "cluster=prod-eu · service=checkout · first notification"
    headline, description, facts, links = first["items"]
    assert headline["text"] == "🔥 Checkout 5xx rate above 5%"
    assert description["text"] == "Error rate is 7.2% over 5m"
    assert {f["title"]: f["value"] for f in facts["facts"]} == {
        "Severity": "critical", "Alert": "HighErrorRate", "instance": "10.0.0.1:8080",
        "Since": "2026-11-24 22:42:51 UTC"}
    assert links["text"].startswith("[📖 Runbook](https://runbooks.example.com/checkout-5xx)")
    assert card["actions"][0]["url"] == "http://vm:19093/#/alerts?receiver=critical"


def test_resolved_card_is_green() -> None:
    card = _card(sample_notification(sample_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED))
    assert card["body"][0]["text"] == "✅ RESOLVED · CRITICAL · HighErrorRate (1)"
    assert card["body"][0]["color"] == "Good"
    facts = card["body"][2]["items"][-2]["facts"]
    assert facts[-1] == {"title": "Resolved", "value": "2026-11-24 22:43:21 UTC"}


async def test_500_alerts_fit_under_28kb_with_more_line(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    n = sample_notification(sample_alerts(500, description="Error rate is 7.2% over 5m ✓"))
    payload = _channel().render(n)
    assert len(payload) <= MAX_BODY_BYTES
    card = json.loads(payload)["attachments"][0]["content"]
    shown = sum(1 for b in card["body"] if b["type"] == "Container")
    assert 10 < shown < 500
    assert card["body"][-1]["text"] == (
        f"+{500 - shown} more alerts not shown ({500 - shown} firing, 0 resolved)")
    fake = await start_teams(aiohttp_server)
    await _send(_channel(fake, http), n)
    assert len(fake.cards) == 1


def test_huge_annotations_and_text_template_stay_under_the_limit() -> None:
    n = sample_notification(sample_alerts(3, description="é" * 40_000))
    assert len(_channel().render(n)) <= MAX_BODY_BYTES
    long_text = _channel(text="{% for a in alerts %}{{ '\"' * 20000 }}{% endfor %}").render(n)
    assert len(long_text) <= MAX_BODY_BYTES


def test_title_and_text_templates_override() -> None:
    card = _card(sample_notification(sample_alerts(2)), title="{{ status|upper }}: {{ receiver }}",
                 text="{% for a in alerts %}- {{ a.labels.instance }}\n{% endfor %}")
    assert card["body"][0]["text"] == "FIRING: ops"
    assert card["body"][2]["text"] == "- 10.0.0.0:8080\n- 10.0.0.1:8080"
    assert len(card["body"]) == 3


def test_card_template_and_fallback(tmp_path: Path) -> None:
    good = tmp_path / "card.j2"
    good.write_text('{"type": "AdaptiveCard", "version": "1.4", "body": '
                    '[{"type": "TextBlock", "text": {{ status|toJson }}}]}', encoding="utf-8")
    channel = TeamsChannel(TeamsConfig(Secret("http://x/"), template=str(good)),
                           Renderer([str(good)]), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["attachments"][0]["content"]["body"][0]["text"] == "firing"
    bad = tmp_path / "bad.j2"
    bad.write_text("[1, 2]", encoding="utf-8")
    failures: list[str] = []
    channel = TeamsChannel(TeamsConfig(Secret("http://x/"), template=str(bad)),
                           Renderer([str(bad)], on_failure=failures.append), HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert problems(body) == []
    assert body["attachments"][0]["content"]["body"][0]["text"].startswith("[FIRING:1]")
    assert failures == ["teams"]


@pytest.mark.parametrize(
    ("script", "reason", "retryable", "retry_after"),
    [
        ([400], FailureReason.CLIENT_ERROR, False, None),
        ([(429, {"Retry-After": "12"}, None)], FailureReason.RATE_LIMITED, True, 12.0),
        ([502], FailureReason.SERVER_ERROR, True, None),
    ],
)
async def test_workflow_errors(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[Any], reason: FailureReason,
    retryable: bool,
    retry_after: float | None,
) -> None:
    fake = await start_teams(aiohttp_server, script)
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), sample_notification(sample_alerts(1)))
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert SIG not in str(err)


async def test_bad_signature_is_auth(http: HttpClient, aiohttp_server: AiohttpServer) -> None:
    fake = await start_teams(aiohttp_server)
    wrong = TeamsChannel(TeamsConfig(Secret(fake.url.replace(SIG, "forged"))), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await _send(wrong, sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, False)


def test_pacing_and_target() -> None:
    channel = _channel()
    assert channel.pacing == TEAMS_PACING == Pacing(rate=4.0, burst=4)
    assert channel.target.startswith("teams:")
    assert "sig" not in channel.target
    other = TeamsChannel(TeamsConfig(Secret("http://127.0.0.1:1/invoke?sig=y")), Renderer([]),
                         HttpClient())
    assert other.target != channel.target


CONFIG = """
route: {{receiver: t}}
receivers:
  - name: t
    teams_configs:
      - {entry}
"""


def test_config_parsing(tmp_path: Path) -> None:
    url_file = tmp_path / "teams-url"
    url_file.write_text(f"https://prod.example/invoke?sig={SIG}\n", encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""webhook_url_file: {url_file}
        title: '{{{{ status }}}}'
        send_resolved: false
        timeout: 5s"""), str(tmp_path / "c.yml"))
    (t,) = cfg.receivers["t"].configs(TeamsConfig)
    assert (t.title, t.text, t.send_resolved, t.timeout) == ("{{ status }}", None, False, 5.0)
    assert t.webhook_url.reveal().endswith(SIG)
    assert SIG not in repr(t)
    (plain,) = load_config_text(CONFIG.format(entry="{webhook_url: 'https://t/x'}"),
                                "x.yml").receivers["t"].configs(TeamsConfig)
    assert (plain.send_resolved, plain.pacing) == (True, None)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{webhook_url: 'https://t/x', webhook_url_file: /nope}", "mutually exclusive"),
        ("{webhook_url: 'https://t/x', titel: x}", 'unknown key "titel" (did you mean "title"?)'),
        ("{webhook_url: 'https://t/x', pacing: {rate: 0}}", "must be greater than 0"),
    ],
)
def test_bad_config(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(CONFIG.format(entry=entry), "x.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems
