"""The real Alertmanager in front of alert-router: its webhook (with bearer auth) feeds a
Slack Web API receiver that posts one message per group and edits it in place on resolve.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import (
    AlertmanagerFactory,
    FakeFactory,
    FakeReceiver,
    RouterFactory,
    need,
    rfc3339,
    wait_until,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-ingest-token"
SLACK_TOKEN = "xoxb-e2e-test"
SLACK_TS = "1700000000.000100"
POST, UPDATE = "/api/chat.postMessage", "/api/chat.update"
ALERTNAME = "E2EDiskFull"

pytestmark = pytest.mark.timeout(120)


def test_contrib_alertmanager_config_passes_amtool() -> None:
    amtool = need("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(REPO_ROOT / "contrib" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def router_config(slack_api: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "slack",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "slack",
                "slack_configs": [
                    {
                        "token": SLACK_TOKEN,
                        "channel": "#alerts",
                        "app_url": slack_api,
                        "send_resolved": True,
                    }
                ],
            }
        ],
        "server": {"auth": {"bearer_tokens": [TOKEN]}},
    }


def alertmanager_config(router_url: str) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "alert-router",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            # Short, so Alertmanager re-sends the unchanged group during the test and
            # alert-router has to deduplicate it.
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "alert-router",
                "webhook_configs": [
                    {
                        "url": f"{router_url}/api/v1/alertmanager",
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": TOKEN}},
                    }
                ],
            }
        ],
    }


def am_alert(instance: str, *, ends_at: str | None = None) -> dict[str, Any]:
    alert: dict[str, Any] = {
        "labels": {"alertname": ALERTNAME, "instance": instance, "severity": "warning"},
        "annotations": {"summary": f"disk on {instance} is full"},
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at
    return alert


async def alerts_received(http: aiohttp.ClientSession, router_url: str) -> float:
    """alert_router_alerts_received_total summed over its labels (a read: it needs the token)."""
    async with http.get(f"{router_url}/metrics",
                        headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200, await resp.text()
        text = await resp.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("alert_router_alerts_received_total")
    )


def text_of(body: Any) -> str:
    return json.dumps(body, ensure_ascii=False)


async def test_alertmanager_webhook_to_slack_post_then_update_on_resolve(
    fake_receiver: FakeFactory,
    start_router: RouterFactory,
    start_alertmanager: AlertmanagerFactory,
    http: aiohttp.ClientSession,
) -> None:
    slack: FakeReceiver = await fake_receiver(
        json_by_path={
            POST: {"ok": True, "ts": SLACK_TS, "channel": "C123"},
            UPDATE: {"ok": True, "ts": SLACK_TS, "channel": "C123"},
        }
    )
    router = await start_router(router_config(slack.url("/api/")), name="router")
    am_url = await start_alertmanager(alertmanager_config(router.url))

    # alert-router's ingest is authenticated: Alertmanager's bearer token is what lets it in.
    async with http.post(f"{router.url}/api/v1/alertmanager", json={}) as resp:
        assert resp.status == 401

    async with http.post(
        f"{am_url}/api/v2/alerts", json=[am_alert("db-1"), am_alert("db-2")]
    ) as resp:
        assert resp.status == 200, await resp.text()

    await wait_until(
        lambda: bool(slack.at(POST)), within=30, what=f"chat.postMessage\n{router.logs()}"
    )
    # Alertmanager re-sends the unchanged group every 2s; none of it may post again.
    await asyncio.sleep(5.0)
    posts = slack.at(POST)
    assert len(posts) == 1, [text_of(p.body) for p in posts]
    post = posts[0]
    assert post.headers.get("Authorization") == f"Bearer {SLACK_TOKEN}"
    assert post.body["channel"] == "#alerts"
    assert post.body["text"]
    assert "db-1" in text_of(post.body)
    assert "db-2" in text_of(post.body)
    assert not slack.at(UPDATE)
    # Proof that Alertmanager did re-send the group (2 alerts per webhook) meanwhile.
    assert await alerts_received(http, router.url) >= 4

    resolved_at = rfc3339(offset=-1)
    async with http.post(
        f"{am_url}/api/v2/alerts",
        json=[am_alert("db-1", ends_at=resolved_at), am_alert("db-2", ends_at=resolved_at)],
    ) as resp:
        assert resp.status == 200, await resp.text()

    await wait_until(
        lambda: bool(slack.at(UPDATE)), within=30, what=f"chat.update\n{router.logs()}"
    )
    await asyncio.sleep(3.0)
    updates = slack.at(UPDATE)
    assert len(updates) == 1, [text_of(u.body) for u in updates]
    update = updates[0]
    assert update.body["ts"] == SLACK_TS
    # Slack's chat.update wants the channel id chat.postMessage answered with.
    assert update.body["channel"] in ("C123", "#alerts")
    assert "resolved" in text_of(update.body).lower()
    assert len(slack.at(POST)) == 1, "the resolve must edit the message, not post a new one"
