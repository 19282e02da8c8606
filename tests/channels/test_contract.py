"""Every registered HTTP channel against the same scripted vendor answers.

Checks the classification the retry policy acts on and that no secret leaks into an
error message or a log record.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

import router.channels
from router.channels import CHANNELS, build_channel
from router.channels.base import SendContext
from router.channels.http import HttpClient, classify_http
from router.config.types import SlackConfig
from router.errors import DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .contract import Setup
from .fakes import closed_port_url, start_fake

# Each channel contributes its setups in tests/channels/contract_<kind>.py: a dict
# `SETUPS` of Setup values and a tuple `SECRETS` that must never leak.
SETUPS: dict[str, Setup] = {}
SECRETS: tuple[str, ...] = ()
for _module in sorted(Path(__file__).parent.glob("contract_*.py")):
    _mod = importlib.import_module(f"{__package__}.{_module.stem}")
    SETUPS.update(_mod.SETUPS)
    SECRETS += tuple(_mod.SECRETS)

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
    here = Path(router.channels.__file__).parent
    modules = {p.stem for p in here.glob("*.py")}
    modules |= {p.parent.name for p in here.glob("*/__init__.py")}
    # Shared helpers, not channels: transport (http, proxy, tls, oauth2) and Slack's
    # Alertmanager attachment keys.
    helpers = {"__init__", "base", "http", "proxy", "tls", "oauth2", "slack_attachment"}
    assert set(CHANNELS) == modules - helpers
    # Every HTTP channel takes part in the contract below (log has no vendor).
    assert {setup.kind for setup in SETUPS.values()} >= set(CHANNELS) - {"log", "email"}
    with pytest.raises(ValueError, match="unknown channel type 'pager'"):
        build_channel("pager", SlackConfig(), Renderer([]), HttpClient())


def _notification() -> Notification:
    alert = make_alert({"alertname": "HighErrorRate", "instance": "a:1"},
                       {"summary": "5xx above 5%"}, 1_700_000_000.0, None, "", 1_700_000_000.0)
    return Notification("ops", "{}:{}", {}, (alert,), NotifyReason.FIRST, 1_700_000_060.0,
                        "http://am:9093")


async def _channel(setup: Setup, url: str, http: HttpClient) -> Any:
    if setup.make is not None:
        return await setup.make(url, http)
    return build_channel(setup.kind, setup.config(url), Renderer([]), http)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("setup_name", list(SETUPS))
async def test_contract(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture,
    setup_name: str, case: str,
) -> None:
    setup = SETUPS[setup_name]
    script, reason, retryable, retry_after = CASES[case]
    fake = await start_fake(aiohttp_server, setup.fake, script, path=setup.path,
                            delay=2.0 if case == "timeout" else 0.0)
    url = closed_port_url(setup.path) if case == "refused" else fake.url
    channel = await _channel(setup, url, http)
    payload = channel.render(_notification())
    caplog.set_level(logging.DEBUG)
    ctx = SendContext(timeout=0.2, state={}, all_resolved=False)
    if reason is None:
        state = await channel.send(payload, ctx)
        assert len(fake.requests) == setup.requests
        setup.check_state(state)
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
    http: HttpClient, aiohttp_server: AiohttpServer, setup_name: str
) -> None:
    setup = SETUPS[setup_name]
    fake = await start_fake(aiohttp_server, setup.fake, path=setup.path)
    channel = await _channel(setup, fake.url, http)
    payload = channel.render(_notification())
    for secret in SECRETS:
        assert secret.encode() not in payload
    await channel.send(payload, SendContext(5.0, {}, False))
    assert len(fake.requests) == setup.requests
    req = fake.requests[-1]
    assert req.method == "POST"
    setup.check_request(req)


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
