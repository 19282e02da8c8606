"""Every channel of rules/example.yml, end to end, pointed at loopback fakes.

The example's receivers are used as written except for their endpoints (a loopback HTTP
fake and a real aiosmtpd server) and a route tree that sends one alert to all of them;
`more-integrations` is checked by tests/channels instead (see point_at_fakes).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from channels.fake_email import SmtpFake, start_smtp, stop_smtp
from conftest import quiet, wait_until
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

EXAMPLE = Path(__file__).resolve().parents[2] / "rules" / "example.yml"

# One answer every vendor takes as success (Slack Web API, PagerDuty, Twilio, Telegram...).
SUCCESS = {"ok": True, "ts": "1700000000.000100", "channel": "C0123", "status": "success",
           "dedup_key": "k", "sid": "SM0123", "result": {"message_id": 7}}


class CatchAll:
    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, await request.read()))
        if request.path == "/slack/hook":
            return web.Response(text="ok")  # Slack incoming webhooks answer a bare "ok"
        return web.json_response(SUCCESS)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpFake]:
    fake = await start_smtp()
    yield fake
    await stop_smtp(fake)


def point_at_fakes(config: dict[str, Any], http: str, smtp_port: int) -> dict[str, Any]:
    """Rewrite only the endpoints (and the route tree) of the example config."""
    endpoints: dict[str, Callable[[dict[str, Any]], object]] = {
        "slack_configs": lambda c: c.update(
            {"app_url": f"{http}/slack/api/"} if "token" in c
            else {"api_url": f"{http}/slack/hook"}),
        "webhook_configs": lambda c: c.update({"url": f"{http}/webhook"}),
        "pagerduty_configs": lambda c: c.update({"url": f"{http}/pagerduty"}),
        "sms_configs": lambda c: c.update({"api_url": f"{http}/twilio"}),
        "teams_configs": lambda c: c.update({"webhook_url": f"{http}/teams"}),
        "discord_configs": lambda c: c.update({"webhook_url": f"{http}/discord"}),
        "telegram_configs": lambda c: c.update({"api_url": f"{http}/telegram"}),
        # The fake offers no STARTTLS, so no AUTH either (aiosmtpd needs TLS for it).
        "email_configs": lambda c: (
            c.update({"smarthost": f"127.0.0.1:{smtp_port}", "require_tls": False}),
            c.pop("auth_username", None), c.pop("auth_password", None)),
    }
    # The tour's `more-integrations` receiver (Opsgenie, SNS, Jira, WeChat, ...) is left
    # out: each of those channels is delivered to its own stateful vendor fake by
    # tests/channels (test_contract.py and the channel's file), which this catch-all
    # server could not stand in for (Jira and WeChat read before they write).
    config["receivers"] = [r for r in config["receivers"] if r["name"] != "more-integrations"]
    names = []
    for receiver in config["receivers"]:
        names.append(receiver["name"])
        for key, rewrite in endpoints.items():
            for entry in receiver.get(key, []):
                rewrite(entry)
    config["route"] = {
        "receiver": "blackhole", "group_by": ["..."], "group_wait": "0s",
        "routes": [{"receiver": name, "continue": True} for name in names],
    }
    config.pop("server", None)
    config.pop("templates", None)
    return config


async def test_every_channel_of_the_example_delivers(
    make_router: Any, aiohttp_server: AiohttpServer, smtp: SmtpFake, clock: FakeClock,
    notifications: list[str],
) -> None:
    fake = CatchAll()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", fake.handle)
    server = await aiohttp_server(app)
    config = point_at_fakes(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")),
                            str(server.make_url("")).rstrip("/"), smtp.port)
    client, state = await make_router(yaml.safe_dump(config))

    alert = {"labels": {"alertname": "PaymentsDown", "severity": "critical",
                        "team": "payments", "instance": "pay-1"},
             "annotations": {"summary": "Payments API answers 5xx",
                             "runbook_url": "https://runbooks.example.com/payments"}}
    resp = await client.post("/api/v2/alerts", json=[alert])
    assert resp.status == 200
    await clock.advance(0.1)

    expected = ["/slack/hook", "/slack/api/chat.postMessage", "/webhook", "/pagerduty",
                "/teams", "/discord", "/telegram/bot"]
    await wait_until(
        lambda: all(any(p.startswith(e) for p in fake.paths()) for e in expected)
        and len(smtp.received) == 1 and any("/twilio/" in p for p in fake.paths()),
        "a delivery to every channel of the example",
    )
    await quiet(state)
    for prefix in [*expected, "/twilio/2010-04-01/Accounts/"]:
        hits = [p for p in fake.paths() if p.startswith(prefix)]
        assert hits, prefix
    # Each channel saw the alert (no secret needed to read it back from the fakes).
    for path, body in fake.requests:
        text = body.decode()
        assert "PaymentsDown" in text or "Payments" in text, path
    assert "PaymentsDown" in str(smtp.received[0].message["Subject"])
    pd = next(json.loads(b) for p, b in fake.requests if p == "/pagerduty")
    assert pd["event_action"] == "trigger"
    assert any("[FIRING:1]" in line for line in notifications)  # the audit-log receiver
    dead = await (await client.get("/api/v1/deliveries?state=dead")).json()
    assert [(d["channel"], d["lastError"]) for d in dead] == []
