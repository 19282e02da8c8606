"""incident.io: Alertmanager's message to an alert source, firing then resolved, limits,
auth, errors and config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_config_problem
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.incidentio import IncidentioChannel, IncidentioConfig
from router.config.load import load_config_text
from router.config.types import Authorization, HttpConfig, Secret
from router.errors import DeliveryError, FailureReason
from router.model import NotifyReason
from router.rendering import Renderer

from .fake_incidentio import SOURCE_ID, TOKEN, IncidentioFake, start_incidentio
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

GROUP_KEY = '{}:{alertname="HighErrorRate"}'


def _channel(fake: IncidentioFake, http: HttpClient, **kw: Any) -> IncidentioChannel:
    kw.setdefault("alert_source_token", Secret(TOKEN))
    return IncidentioChannel(IncidentioConfig(Secret(fake.url), **kw), Renderer([]), http)



async def test_group_fires_then_resolves(http: HttpClient,
                                         aiohttp_server: AiohttpServer) -> None:
    fake = await start_incidentio(aiohttp_server)
    channel = _channel(fake, http, max_alerts=2)
    await _send(channel, sample_notification(sample_alerts(3)))
    body = fake.requests[0].json()
    assert list(body) == ["receiver", "status", "alerts", "notification_reason",
                          "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
                          "version", "groupKey", "truncatedAlerts"]
    assert (body["version"], body["groupKey"], body["truncatedAlerts"]) == ("1", GROUP_KEY, 1)
    assert fake.groups == {GROUP_KEY: "firing"}
    assert sorted(fake.alerts[GROUP_KEY].values()) == ["firing", "firing"]
    await _send(channel, sample_notification(sample_alerts(2, ends=T0 + 30),
                                             NotifyReason.ALL_RESOLVED))
    assert fake.groups == {GROUP_KEY: "resolved"}
    assert set(fake.alerts[GROUP_KEY].values()) == {"resolved"}


async def test_authorization_from_http_config(http: HttpClient,
                                              aiohttp_server: AiohttpServer) -> None:
    fake = await start_incidentio(aiohttp_server)
    channel = _channel(fake, http, alert_source_token=None, http_config=HttpConfig(
        authorization=Authorization("Bearer", Secret(TOKEN))))
    await _send(channel, sample_notification(sample_alerts(1)))
    assert fake.groups == {GROUP_KEY: "firing"}


async def test_over_512kb_only_the_first_alert_goes(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_incidentio(aiohttp_server)
    n = sample_notification(sample_alerts(40, description="d" * 20_000))
    await _send(_channel(fake, http), n)
    body = fake.requests[0].json()
    assert len(fake.requests[0].body) <= 512 * 1024
    assert len(body["alerts"]) == 1
    assert body["truncatedAlerts"] == 0
    assert fake.groups == {GROUP_KEY: "firing"}


@pytest.mark.parametrize(
    ("script", "token", "reason", "retryable", "needle"),
    [
        ([429], TOKEN, FailureReason.RATE_LIMITED, True, "scripted 429"),
        ([500], TOKEN, FailureReason.SERVER_ERROR, True, "scripted 500"),
        ([422], TOKEN, FailureReason.CLIENT_ERROR, False, "scripted 422"),
        ([], "inc_wrong", FailureReason.AUTH, False, "Invalid API key"),
    ],
)
async def test_failures(http: HttpClient, aiohttp_server: AiohttpServer, script: list[int],
                        token: str, reason: FailureReason, retryable: bool,
                        needle: str) -> None:
    fake = await start_incidentio(aiohttp_server, script)
    channel = _channel(fake, http, alert_source_token=Secret(token))
    with pytest.raises(DeliveryError) as info:
        await _send(channel, sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (reason, retryable)
    assert info.value.message.startswith("incident.io: HTTP ")
    assert needle in info.value.message
    for secret in (TOKEN, SOURCE_ID, token):
        assert secret not in str(info.value)


def test_body_is_alertmanagers_message() -> None:
    channel = IncidentioChannel(IncidentioConfig(Secret("http://x/")), Renderer([]),
                                HttpClient())
    body = json.loads(channel.render(sample_notification(sample_alerts(1))))
    assert body["alerts"][0]["labels"]["alertname"] == "HighErrorRate"
    assert body["receiver"] == "ops"
    assert body["status"] == "firing"


CONFIG = """
route: {{receiver: i}}
receivers:
  - name: i
    incidentio_configs:
      - {entry}
"""


def test_config(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n", encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""url: https://api.incident.io/v2/alert_events/alertmanager/{SOURCE_ID}
        alert_source_token_file: {token}
        max_alerts: 5
        timeout: 10s"""), str(tmp_path / "c.yml"))
    (i,) = cfg.receivers["i"].configs(IncidentioConfig)
    assert (i.max_alerts, i.send_resolved, i.timeout) == (5, True, 10.0)
    assert i.alert_source_token is not None
    assert i.alert_source_token.reveal() == TOKEN
    assert TOKEN not in repr(i)
    assert SOURCE_ID not in repr(i)
    # Alertmanager's default `timeout: 0s` means none (the delivery timeout applies).
    cfg = load_config_text(CONFIG.format(entry="{url: 'https://x', alert_source_token: t, "
                                               "timeout: 0s}"), "c.yml")
    assert cfg.receivers["i"].configs(IncidentioConfig)[0].timeout is None


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{alert_source_token: t}", "receivers[0].incidentio_configs[0]",
         'one of "url" or "url_file" is required'),
        ("{url: 'https://x', url_file: /nope, alert_source_token: t}",
         "receivers[0].incidentio_configs[0].url_file", "mutually exclusive"),
        ("{url: 'https://x', alert_source_token: t, http_config: {authorization: "
         "{credentials: c}}}", "receivers[0].incidentio_configs[0]",
         "cannot specify alert_source_token or alert_source_token_file when using "
         "http_config.authorization"),
        ("{url: 'https://x', http_config: {follow_redirects: false}}",
         "receivers[0].incidentio_configs[0]",
         "at least one of alert_source_token, alert_source_token_file or "
         "http_config.authorization must be configured"),
        ("{url: 'https://x', alert_source_token: t, max_alerts: -1}",
         "receivers[0].incidentio_configs[0].max_alerts", "must be >= 0"),
    ],
)
def test_bad_config(entry: str, path: str, message: str) -> None:
    assert_config_problem(CONFIG.format(entry=entry), path, message)


def test_status_shows_no_secret(tmp_path: Path) -> None:
    from router.config.redact import redacted_yaml

    cfg = load_config_text(CONFIG.format(
        entry=f"{{url: 'https://api.incident.io/v2/alert_events/alertmanager/{SOURCE_ID}', "
              f"alert_source_token: {TOKEN}}}"), "c.yml")
    shown = redacted_yaml(cfg)
    assert "alert_source_token: <secret>" in shown
    assert TOKEN not in shown
    assert SOURCE_ID not in shown
