"""The OpsGenie channel against a stateful Alert API fake: one alert per group keyed by
Alertmanager's alias, closed when the group resolves, OpsGenie's limits, its errors, config."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.opsgenie import OpsgenieChannel, OpsgenieConfig, OpsgenieResponder
from router.config.load import load_config, load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Secret
from router.errors import DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fake_opsgenie import API_KEY, OpsgenieFake, start_opsgenie
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

TESTDATA = Path(__file__).resolve().parents[1] / "data" / "alertmanager" / "testdata"
ALIAS = hashlib.sha256(b'{}:{alertname="HighErrorRate"}').hexdigest()


def _channel(fake: OpsgenieFake, http: HttpClient, **kw: Any) -> OpsgenieChannel:
    cfg = OpsgenieConfig(Secret(kw.pop("key", API_KEY)), api_url=fake.url + "/", **kw)
    return OpsgenieChannel(cfg, Renderer([]), http)



def _firing(count: int = 2) -> Notification:
    return sample_notification(sample_alerts(count))


def _resolved() -> Notification:
    return sample_notification(sample_alerts(2, ends=T0 + 30), NotifyReason.ALL_RESOLVED)


async def test_firing_then_resolved_closes_the_same_alert(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_opsgenie(aiohttp_server)
    channel = _channel(fake, http, responders=(OpsgenieResponder(name="db,web", type="teams"),),
                       tags="{{ commonLabels.service }},prod", priority="P2")
    await _send(channel, _firing())
    await _send(channel, _firing(3))  # a repeat: OpsGenie de-duplicates by alias
    alert = fake.alerts[ALIAS]
    assert (alert["status"], alert["count"]) == ("open", 2)
    assert alert["message"] == "[FIRING:2] HighErrorRate (checkout critical)"
    # As first created (two alerts): OpsGenie keeps the text of the open alert.
    assert alert["description"].startswith("Alerts Firing:\nLabels:\n - alertname = High")
    assert "10.0.0.2:8080" not in alert["description"]
    assert alert["details"] == {"alertname": "HighErrorRate", "service": "checkout",
                                "severity": "critical"}
    assert alert["source"] == "http://am:9093/#/alerts?receiver=ops"
    assert alert["responders"] == [{"name": "db", "type": "team"},
                                   {"name": "web", "type": "team"}]
    assert (alert["tags"], alert["priority"]) == (["checkout", "prod"], "P2")
    await _send(channel, _resolved())
    assert fake.alerts[ALIAS]["status"] == "closed"
    close = fake.requests[-1]
    assert (close.path, close.query) == (f"/v2/alerts/{ALIAS}/close",
                                         {"identifierType": "alias"})
    assert fake.failed_requests == []


async def test_update_alerts_refreshes_message_and_description(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_opsgenie(aiohttp_server)
    channel = _channel(fake, http, update_alerts=True)
    await _send(channel, _firing(1))
    await _send(channel, _firing(3))
    alert = fake.alerts[ALIAS]
    assert alert["message"] == "[FIRING:3] HighErrorRate (checkout critical)"
    assert "10.0.0.2:8080" in alert["description"]
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests[-3:]] == [
        ("POST", "alerts"), ("PUT", "message"), ("PUT", "description")]


async def test_fields_are_fitted_to_opsgenies_limits(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_opsgenie(aiohttp_server)
    huge = make_alert({"alertname": "A" * 300, "x": "y" * 9000}, {"summary": "s" * 20000},
                      T0, None, "", T0)
    tags = ",".join(f"tag{i}-" + "t" * 60 for i in range(30))
    channel = _channel(fake, http, tags=tags, actions=tags, source="{{ 'x' * 500 }}",
                       details=(("big", "{{ 'd' * 9000 }}"),), priority="{{ 'P9' }}")
    await _send(channel, sample_notification([huge]))
    (alert,) = fake.alerts.values()  # the fake refuses anything over a limit
    assert len(alert["message"]) == 130
    assert alert["message"].endswith("…")
    assert (len(alert["tags"]), len(alert["actions"])) == (20, 10)
    assert "priority" not in alert  # P9 would be refused: the integration's default


@pytest.mark.parametrize(
    ("script", "reason", "retryable", "retry_after", "words"),
    [
        ([429], FailureReason.RATE_LIMITED, True, None, "too many requests"),
        ([500], FailureReason.SERVER_ERROR, True, None, "Internal Server Error"),
        ([503], FailureReason.SERVER_ERROR, True, None, "HTTP 503"),
        ([403], FailureReason.AUTH, False, None, "not authorized"),
    ],
)
async def test_api_errors_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[Any], reason: FailureReason,
    retryable: bool, retry_after: float | None, words: str,
) -> None:
    fake = await start_opsgenie(aiohttp_server, script)
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), _firing())
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    assert words.lower() in err.message.lower()
    assert API_KEY not in str(err) + repr(err)


async def test_wrong_key_and_invalid_body_are_permanent(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_opsgenie(aiohttp_server)
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http, key="wrong-key"), _firing())
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, False)
    assert "Could not authenticate" in info.value.message
    channel = _channel(fake, http)
    payload = json.loads(channel.render(_firing()))
    payload["body"]["responders"] = [{"name": "x", "type": "squad"}]  # as a bad template
    with pytest.raises(DeliveryError) as info:
        await channel.send(json.dumps(payload).encode(), SendContext(5.0, {}, False))
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "responders: invalid responder" in info.value.message


def test_template_failure_still_opens_an_alert() -> None:
    failures: list[str] = []
    channel = OpsgenieChannel(OpsgenieConfig(Secret(API_KEY), message="{{ 1 / 0 }}"),
                              Renderer([], on_failure=failures.append), HttpClient())
    request = json.loads(channel.render(_firing()))
    assert (request["action"], request["alias"]) == ("create", ALIAS)
    assert request["body"]["message"].startswith("[FIRING:2] HighErrorRate")
    assert failures == ["opsgenie"]


def test_alertmanagers_files_inherit_the_global_key_and_url() -> None:
    config = load_config(TESTDATA / "conf.opsgenie-default-apikey.yml")
    (team,) = config.receivers["team-X-opsgenie"].configs(OpsgenieConfig)
    (esc,) = config.receivers["escalation-Y-opsgenie"].configs(OpsgenieConfig)
    assert (team.api_key.reveal(), esc.api_key.reveal()) == ("asd132", "qwe456")
    assert team.responders == (OpsgenieResponder(name="team-X", type="team"),)
    assert team.api_url == "https://api.opsgenie.com/"
    config = load_config(TESTDATA / "conf.opsgenie-default-apikey-file.yml",
                         lenient_files=True)
    keys = [c.api_key.file for r in config.receivers.values()
            for c in r.configs(OpsgenieConfig)]
    assert sorted(k or "" for k in keys) == ["/global_file", "/override_file"]


def test_config_keys_defaults_and_redaction() -> None:
    text = """
global: {opsgenie_api_url: "https://api.eu.opsgenie.com", opsgenie_api_key: gk-secret}
route: {receiver: og}
receivers:
  - name: og
    opsgenie_configs:
      - {}
      - api_key: own-secret
        api_url: https://og.internal/base
        responders: [{username: "{{ commonLabels.owner }}", type: User}]
        details: {team: "{{ commonLabels.team }}"}
        update_alerts: true
        send_resolved: false
"""
    config = load_config_text(text, "x.yml")
    first, second = config.receivers["og"].configs(OpsgenieConfig)
    assert (first.api_url, first.api_key.reveal(), first.send_resolved) == (
        "https://api.eu.opsgenie.com/", "gk-secret", True)
    assert (second.api_url, second.update_alerts, second.send_resolved) == (
        "https://og.internal/base/", True, False)
    assert second.responders[0].type == "user"
    assert "secret" not in repr(first) + repr(second)
    shown = redacted_yaml(config)
    assert "gk-secret" not in shown
    assert "own-secret" not in shown
    assert "api_key: <secret>" in shown
