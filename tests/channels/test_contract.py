"""Every registered HTTP channel against the same scripted vendor answers.

Checks the classification the retry policy acts on and that no secret leaks into an
error message or a log record.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from router.channels import CHANNELS, build_channel
from router.channels.base import DeliveryError, FailureReason, SendContext, classify_http
from router.config_types import BasicAuth, HttpConfig, Secret, SlackConfig, WebhookConfig
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fakes import closed_port_url, start_fake

SLACK_TOKEN = "xoxb-SECRET-slack-token-1234"
HOOK_PATH_TOKEN = "SECRETPATHTOKEN9876"
BEARER = "SECRET-bearer-5555"
PASSWORD = "SECRET-password-7777"
URL_TOKEN = "SECRETURLTOKEN4242"
SECRETS = (SLACK_TOKEN, HOOK_PATH_TOKEN, BEARER, PASSWORD, URL_TOKEN)


@dataclass(frozen=True)
class Setup:
    kind: str  # registry key
    fake: str  # fake kind
    path: str
    config: Callable[[str], Any]  # fake URL -> channel config


SETUPS = {
    "slack-webhook": Setup(
        "slack", "slack-webhook", f"/services/T0/B0/{HOOK_PATH_TOKEN}",
        lambda url: SlackConfig(api_url=Secret(url)),
    ),
    "slack-api": Setup(
        "slack", "slack-api", "/api/",
        lambda url: SlackConfig(token=Secret(SLACK_TOKEN), channel="#ops", app_url=url),
    ),
    "webhook-bearer": Setup(
        "webhook", "webhook", f"/hook/{URL_TOKEN}",
        lambda url: WebhookConfig(url=Secret(url),
                                  http_config=HttpConfig(bearer_token=Secret(BEARER))),
    ),
    "webhook-basic": Setup(
        "webhook", "webhook", f"/hook/{URL_TOKEN}",
        lambda url: WebhookConfig(url=Secret(url), http_config=HttpConfig(
            basic_auth=BasicAuth("am", Secret(PASSWORD)))),
    ),
}

# (script, reason, retryable, retry_after); reason None means success.
CASES: dict[str, tuple[list[Any], FailureReason | None, bool, float | None]] = {
    "ok": ([200], None, False, None),
    "500": ([500], FailureReason.SERVER_ERROR, True, None),
    "502": ([502], FailureReason.SERVER_ERROR, True, None),
    "503": ([503], FailureReason.SERVER_ERROR, True, None),
    "429": ([(429, {"Retry-After": "7"})], FailureReason.RATE_LIMITED, True, 7.0),
    "503-retry-after": ([(503, {"Retry-After": "3"})], FailureReason.RATE_LIMITED, True, 3.0),
    "400": ([400], FailureReason.CLIENT_ERROR, False, None),
    "404": ([404], FailureReason.CLIENT_ERROR, False, None),
    "401": ([401], FailureReason.AUTH, False, None),
    "403": ([403], FailureReason.AUTH, False, None),
    "timeout": ([200], FailureReason.TIMEOUT, True, None),
    "refused": ([], FailureReason.NETWORK, True, None),
}


def test_registry_lists_the_channels() -> None:
    assert set(CHANNELS) == {"slack", "webhook", "log"}
    with pytest.raises(ValueError, match="unknown channel type 'pager'"):
        build_channel("pager", SlackConfig(), Renderer([]))


def _notification() -> Notification:
    alert = make_alert({"alertname": "HighErrorRate", "instance": "a:1"},
                       {"summary": "5xx above 5%"}, 1_700_000_000.0, None, "", 1_700_000_000.0)
    return Notification("ops", "{}:{}", {}, (alert,), NotifyReason.FIRST, 1_700_000_060.0,
                        "http://am:9093")


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("setup_name", list(SETUPS))
async def test_contract(
    aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture, setup_name: str, case: str
) -> None:
    setup = SETUPS[setup_name]
    script, reason, retryable, retry_after = CASES[case]
    fake = await start_fake(aiohttp_server, setup.fake, script, path=setup.path,
                            delay=2.0 if case == "timeout" else 0.0)
    url = closed_port_url(setup.path) if case == "refused" else fake.url
    channel = build_channel(setup.kind, setup.config(url), Renderer([]))
    payload = channel.render(_notification())
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        ctx = SendContext(session=session, timeout=0.2, state={}, all_resolved=False)
        if reason is None:
            state = await channel.send(payload, ctx)
            assert len(fake.requests) == 1
            if setup_name == "slack-api":
                assert state["channel"] == "C0123ABCD"
                assert state["ts"]
            return
        with pytest.raises(DeliveryError) as info:
            await channel.send(payload, ctx)
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)
    texts = [str(err), repr(err), err.message]
    texts += [r.getMessage() for r in caplog.records] + [str(r.__dict__) for r in caplog.records]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
        assert "127.0.0.1" not in text  # no URL at all: it may embed a token
    # Nothing chained either: aiohttp's own exceptions quote the URL.
    assert err.__cause__ is None
    assert err.__context__ is None or err.__suppress_context__


@pytest.mark.parametrize("setup_name", list(SETUPS))
async def test_secrets_are_sent_in_headers_not_in_payloads(
    aiohttp_server: AiohttpServer, setup_name: str
) -> None:
    setup = SETUPS[setup_name]
    fake = await start_fake(aiohttp_server, setup.fake, path=setup.path)
    channel = build_channel(setup.kind, setup.config(fake.url), Renderer([]))
    payload = channel.render(_notification())
    for secret in SECRETS:
        assert secret.encode() not in payload
    async with aiohttp.ClientSession() as session:
        await channel.send(payload, SendContext(session, 5.0, {}, False))
    (req,) = fake.requests
    assert req.method == "POST"
    auth = req.headers.get("Authorization", "")
    if setup_name == "slack-api":
        assert auth == f"Bearer {SLACK_TOKEN}"
        assert req.path == "/api/chat.postMessage"
    elif setup_name == "webhook-bearer":
        assert auth == f"Bearer {BEARER}"
    elif setup_name == "webhook-basic":
        assert auth == "Basic " + base64.b64encode(f"am:{PASSWORD}".encode()).decode()
    else:
        assert auth == ""


def test_retry_after_accepts_http_dates_and_bodies_are_cut() -> None:
    now = 1_700_000_000.0
    err = classify_http(429, {"retry-after": "Tue, 14 Nov 2023 22:13:40 GMT"}, "", now=now)
    assert err is not None
    assert err.retry_after == 20.0
    assert classify_http(204, {}, "") is None
    long = classify_http(400, {}, "x" * 1000)
    assert long is not None
    assert len(long.message) < 220
    assert long.message.startswith("HTTP 400: xxx")
