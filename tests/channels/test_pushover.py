"""The Pushover channel against a stateful messages/receipts fake: emergency pushes while
firing, their retries cancelled on resolution, Pushover's limits and errors, config."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.pushover import PushoverChannel, PushoverConfig
from router.config.load import load_config, load_config_text
from router.config.types import Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fake_pushover import TOKEN, USER, PushoverFake, start_pushover
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

TESTDATA = Path(__file__).resolve().parents[1] / "data" / "alertmanager" / "testdata"


def _channel(fake: PushoverFake, http: HttpClient, **kw: Any) -> PushoverChannel:
    cfg = PushoverConfig(Secret(kw.pop("user", USER)), Secret(kw.pop("token", TOKEN)),
                         api_url=f"{fake.url}/1/messages.json", **kw)
    return PushoverChannel(cfg, Renderer([]), http)



def _resolved() -> Notification:
    return sample_notification(sample_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED)


async def test_emergency_while_firing_cancelled_once_resolved(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_pushover(aiohttp_server)
    channel = _channel(fake, http)
    state = await _send(channel, sample_notification(sample_alerts(2)))
    (firing,) = fake.messages
    assert (firing["priority"], firing["retry"], firing["expire"]) == ("2", "60", "3600")
    assert firing["title"] == "[FIRING:2] HighErrorRate (checkout critical)"
    assert firing["url"] == "http://am:9093/#/alerts?receiver=ops"
    assert firing["message"].startswith("Alerts Firing:\nLabels:\n - alertname = ")
    receipt = state["receipt"]
    assert fake.receipts[receipt]["cancelled"] is False  # the phone keeps ringing
    state = {**state, **await _send(channel, _resolved(), state)}
    resolved = fake.messages[-1]
    assert (resolved["priority"], "retry" in resolved) == ("0", False)
    assert resolved["title"].startswith("[RESOLVED] HighErrorRate")
    assert fake.receipts[receipt]["cancelled"] is True
    assert fake.requests[-1].path == f"/1/receipts/{receipt}/cancel.json"
    # Nothing is left to cancel: a second resolution does not try again.
    before = len(fake.requests)
    await _send(channel, _resolved(), state)
    assert len(fake.requests) == before + 1


async def test_a_newer_emergency_of_the_group_cancels_the_older_one(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_pushover(aiohttp_server)
    channel = _channel(fake, http)
    first = await _send(channel, sample_notification(sample_alerts(1)))
    second = await _send(channel, sample_notification(sample_alerts(2)), first)
    assert second["receipt"] != first["receipt"]
    assert fake.receipts[first["receipt"]]["cancelled"] is True
    assert fake.receipts[second["receipt"]]["cancelled"] is False


async def test_an_expired_receipt_does_not_fail_the_resolution(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_pushover(aiohttp_server)
    assert await _send(_channel(fake, http), _resolved(), {"receipt": "gone"}) == {
        "receipt": ""}
    assert fake.messages[-1]["priority"] == "0"


async def test_texts_are_fitted_to_pushovers_limits(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_pushover(aiohttp_server)
    alert = make_alert({"alertname": "A" * 400}, {"summary": "s" * 3000}, T0, None, "", T0)
    channel = _channel(fake, http, title="{{ commonLabels.alertname }}",
                       url="http://x/{{ 'u' * 600 }}", url_title="{{ 't' * 200 }}",
                       priority="1", ttl=600.0, monospace=True)
    await _send(channel, sample_notification([alert]))
    (sent,) = fake.messages  # the fake refuses anything over a limit
    assert [len(sent[k]) for k in ("title", "message", "url", "url_title")] == [
        250, 1024, 512, 100]
    assert (sent["priority"], sent["ttl"], sent["monospace"]) == ("1", "600", "1")


def test_html_mode_escapes_interpolated_values() -> None:
    cfg = PushoverConfig(Secret(USER), Secret(TOKEN), html=True,
                         message="<b>{{ commonLabels.alertname }}</b>")
    alert = make_alert({"alertname": "<i>x</i>"}, {}, T0, None, "", T0)
    params = json.loads(PushoverChannel(cfg, Renderer([]), HttpClient()).render(
        sample_notification([alert])))
    assert params["message"] == "<b>&lt;i&gt;x&lt;/i&gt;</b>"
    assert params["html"] == "1"
    assert TOKEN not in json.dumps(params)
    assert USER not in json.dumps(params)


@pytest.mark.parametrize(
    ("kw", "script", "reason", "retryable", "words"),
    [
        ({"token": "a" * 30}, [], FailureReason.AUTH, False, "application token is invalid"),
        ({"user": "u" * 30}, [], FailureReason.AUTH, False, "user identifier is not valid"),
        ({}, [429], FailureReason.RATE_LIMITED, True, "monthly message limit"),
        ({}, [500], FailureReason.SERVER_ERROR, True, "internal error"),
        ({"retry": 5.0}, [], FailureReason.CLIENT_ERROR, False, "retry is invalid"),
    ],
)
async def test_api_errors_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, kw: dict[str, Any], script: list[int],
    reason: FailureReason, retryable: bool, words: str,
) -> None:
    fake = await start_pushover(aiohttp_server, script)
    channel = _channel(fake, http, **kw)
    with pytest.raises(DeliveryError) as info:
        await _send(channel, sample_notification(sample_alerts(1)))
    err = info.value
    assert (err.reason, err.retryable) == (reason, retryable)
    assert words.replace("not valid", "not a valid") in err.message
    for secret in (TOKEN, USER, kw.get("token", TOKEN), kw.get("user", USER)):
        assert secret not in str(err) + repr(err)
    sent = dict(urllib.parse.parse_qsl(fake.requests[0].text))
    assert sent["token"] == kw.get("token", TOKEN)  # credentials travel in the form only
    assert "token" not in fake.requests[0].query


def test_alertmanagers_good_file_and_defaults() -> None:
    config = load_config(TESTDATA / "conf.good.yml")
    (po,) = config.receivers["pushover-receiver"].configs(PushoverConfig)
    assert (po.token.reveal(), po.user_key.reveal()) == ("mysecret", "key")
    assert (po.retry, po.expire, po.ttl, po.priority, po.send_resolved) == (
        60.0, 3600.0, 0.0, None, True)
    assert "mysecret" not in repr(po)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{token: t, user_key: u, expire: 4h}", "must be at most 3h"),
        ("{token: t, user_key: u, html: true, monospace: true}",
         "at most one of monospace & html must be configured"),
        ("{token: t, user_key: u, priority: urgent}", '"urgent" is not a Pushover priority'),
        ("{user_key: u}", "one of token or token_file must be configured"),
        ("{token: t, user_key: u, user_key_file: /x}", "mutually exclusive"),
    ],
)
def test_bad_config(entry: str, message: str) -> None:
    text = f"route: {{receiver: p}}\nreceivers:\n  - name: p\n    pushover_configs: [{entry}]\n"
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "x.yml")
    assert any(message in p.message for p in info.value.problems), info.value.problems
