"""The shared HttpClient: channels get it when built, the session is bound when the app starts.

A channel compiled from the config before the event loop runs must send through the session
the app opens later, and must say so plainly (naming no URL) if it is ever asked to send
outside that window.
"""

from __future__ import annotations

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from router.channels import build_channel
from router.channels.base import SendContext
from router.channels.http import HttpClient, HttpClientNotStarted
from router.config.types import Secret, WebhookConfig
from router.rendering import Renderer

from .fakes import sample_alerts, sample_notification, start_fake

SECRET_PATH = "/hook/PATH-TOKEN-31337"


async def test_a_channel_built_before_start_sends_through_the_session_bound_later(
    aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_fake(aiohttp_server, "webhook", path=SECRET_PATH)
    http = HttpClient()
    channel = build_channel("webhook", WebhookConfig(url=Secret(fake.url)), Renderer([]), http)
    payload = channel.render(sample_notification(sample_alerts(1)))
    ctx = SendContext(5.0, {}, False)
    with pytest.raises(HttpClientNotStarted) as early:
        await channel.send(payload, ctx)
    assert "before start" in str(early.value)
    assert fake.requests == []

    async with aiohttp.ClientSession() as session:
        http.start(session)
        assert http.started
        assert await channel.send(payload, ctx) == {}
        http.stop()
    (req,) = fake.requests
    assert req.body == payload

    with pytest.raises(HttpClientNotStarted) as late:
        await channel.send(payload, ctx)
    for err in (early.value, late.value):
        assert "PATH-TOKEN" not in str(err)
        assert "127.0.0.1" not in str(err)
    assert repr(http) == "HttpClient(started=False)"


def test_rendering_needs_no_started_client() -> None:
    """`alert-router render` builds channels with a client that is never started."""
    channel = build_channel("webhook", WebhookConfig(url=Secret("http://127.0.0.1:1/h")),
                            Renderer([]), HttpClient())
    assert b'"status":"firing"' in channel.render(sample_notification(sample_alerts(2)))
