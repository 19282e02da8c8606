"""The VictorOps channel against a stateful REST endpoint fake: one incident per group keyed
by Alertmanager's entity_id, RECOVERY when the group resolves, the key kept out of errors."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.victorops import VictoropsChannel, VictoropsConfig
from router.config.load import load_config, load_config_text
from router.config.types import Secret
from router.delivery.policy import scrubbed
from router.errors import DeliveryError, FailureReason
from router.model import NotifyReason
from router.rendering import Renderer

from .fake_victorops import API_KEY, PATH, VictoropsFake, start_victorops
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

TESTDATA = Path(__file__).resolve().parents[1] / "data" / "alertmanager" / "testdata"
ENTITY = hashlib.sha256(b'{}:{alertname="HighErrorRate"}').hexdigest()


def _channel(fake: VictoropsFake, http: HttpClient, **kw: Any) -> VictoropsChannel:
    cfg = VictoropsConfig(Secret(kw.pop("key", API_KEY)), kw.pop("routing_key", "team-db"),
                          api_url=f"{fake.url}{PATH}/", **kw)
    return VictoropsChannel(cfg, Renderer([]), http)



async def test_firing_then_resolved_resolves_the_same_incident(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_victorops(aiohttp_server)
    channel = _channel(fake, http, routing_key="{{ commonLabels.service }}",
                       custom_fields=(("runbook", "{{ commonAnnotations.runbook_url }}"),))
    state = await _send(channel, sample_notification(sample_alerts(2, runbook_url="http://rb")))
    assert state == {"entity_id": ENTITY}
    incident = fake.incidents["checkout", ENTITY]
    assert (incident["state"], incident["message_type"]) == ("triggered", "CRITICAL")
    assert incident["entity_display_name"] == "[FIRING:2] HighErrorRate (checkout critical)"
    assert incident["state_message"].startswith("http://rb\nAlerts Firing:\nLabels:\n")
    assert (incident["monitoring_tool"], incident["runbook"]) == ("Alertmanager", "http://rb")
    resolved = sample_notification(sample_alerts(2, ends=T0 + 30), NotifyReason.ALL_RESOLVED)
    await _send(channel, resolved)
    assert fake.incidents["checkout", ENTITY]["state"] == "resolved"
    assert fake.incidents["checkout", ENTITY]["events"] == 2
    assert fake.requests[-1].path == f"{PATH}/{API_KEY}/checkout"


def test_message_type_falls_back_to_critical_as_alertmanager() -> None:
    def body(message_type: str) -> dict[str, Any]:
        cfg = VictoropsConfig(Secret(API_KEY), "r", message_type=message_type)
        channel = VictoropsChannel(cfg, Renderer([]), HttpClient())
        n = sample_notification(sample_alerts(1))
        out: dict[str, Any] = json.loads(channel.render(n))["body"]
        return out

    assert body("warning")["message_type"] == "WARNING"
    assert body("{{ 'PAGE' }}")["message_type"] == "CRITICAL"
    assert body("INFO")["message_type"] == "INFO"


async def test_long_state_message_is_cut_to_the_limit(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_victorops(aiohttp_server)
    channel = _channel(fake, http)
    await _send(channel, sample_notification(sample_alerts(1, description="d" * 30000)))
    incident = fake.incidents["team-db", ENTITY]  # the fake refuses more than 20,480
    assert len(incident["state_message"]) == 20480


@pytest.mark.parametrize(
    ("script", "reason", "retryable"),
    [
        ([429], FailureReason.RATE_LIMITED, True),
        ([500], FailureReason.SERVER_ERROR, True),
        ([400], FailureReason.CLIENT_ERROR, False),
    ],
)
async def test_endpoint_errors_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[int],
    reason: FailureReason, retryable: bool,
) -> None:
    fake = await start_victorops(aiohttp_server, script)
    with pytest.raises(DeliveryError) as info:
        await _send(_channel(fake, http), sample_notification(sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (reason, retryable)


async def test_the_key_in_the_path_never_leaks(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = await start_victorops(aiohttp_server)
    # A vendor (or a proxy in front of it) echoing the path it was given.
    fake.script.append((400, {"result": "failure",
                              "message": f"Bad event for {PATH}/{API_KEY}/team-db"}))
    channel = _channel(fake, http)
    with pytest.raises(DeliveryError) as info:
        await _send(channel, sample_notification(sample_alerts(1)))
    err = scrubbed(info.value, channel)
    assert (err.reason, err.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "Bad event for" in err.message
    for text in (err.message, str(info.value), *(r.getMessage() for r in caplog.records)):
        assert API_KEY not in text
        assert "127.0.0.1" not in text
    with pytest.raises(DeliveryError) as info:  # an unknown key: refused, not retried
        await _send(_channel(fake, http, key="1f2e3d4c-0000-4b5a-9999"), sample_notification(
            sample_alerts(1)))
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "1f2e3d4c-0000-4b5a-9999" not in str(info.value)


def test_alertmanagers_files_inherit_the_global_key() -> None:
    config = load_config(TESTDATA / "conf.victorops-default-apikey.yml")
    found = {name: [(c.api_key.reveal(), c.routing_key, c.api_url)
                    for c in r.configs(VictoropsConfig)]
             for name, r in config.receivers.items()}
    url = "https://alert.victorops.com/integrations/generic/20131114/alert/"
    assert found == {"team-X-victorops": [("asd132", "team-X", url)],
                     "team-Y-victorops": [("qwe456", "team-Y", url)]}
    config = load_config(TESTDATA / "conf.victorops-default-apikey-file.yml",
                         lenient_files=True)
    files = sorted(c.api_key.file or "" for r in config.receivers.values()
                   for c in r.configs(VictoropsConfig))
    assert files == ["/global_file", "/override_file"]


def test_config_defaults_and_api_url() -> None:
    config = load_config_text("""
global: {victorops_api_url: "https://vo.internal/alert", victorops_api_key: k}
route: {receiver: vo}
receivers:
  - name: vo
    victorops_configs:
      - routing_key: db
        message_type: WARNING
        custom_fields: {team: dba}
""", "x.yml")
    (vo,) = config.receivers["vo"].configs(VictoropsConfig)
    assert (vo.api_url, vo.message_type, vo.send_resolved) == (
        "https://vo.internal/alert/", "WARNING", True)
    assert vo.custom_fields == (("team", "dba"),)
