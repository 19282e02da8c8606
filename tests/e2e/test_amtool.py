"""The real amtool (Debian's prometheus-alertmanager 0.25) against a running alert-router.

config show, silence add / query / update / expire / import and alert query work unchanged,
and what the fake Slack receives shows the alerts muted while silenced and back once the
silence ends.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from .conftest import FakeFactory, RouterFactory, rfc3339, wait_until

AMTOOL = shutil.which("amtool")
if AMTOOL is None and os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
    raise RuntimeError("amtool is required in CI (apt-get install prometheus-alertmanager)")
pytestmark = [
    pytest.mark.skipif(AMTOOL is None, reason="amtool not installed (prometheus-alertmanager)"),
    pytest.mark.timeout(120),
]

SLACK = {
    "/api/chat.postMessage": {"ok": True, "ts": "1700000000.000100", "channel": "C1"},
    "/api/chat.update": {"ok": True},
}


async def amtool(url: str, *args: str) -> str:
    """Run amtool without blocking the loop that serves the fake Slack."""
    assert AMTOOL is not None
    proc = await asyncio.create_subprocess_exec(
        AMTOOL, f"--alertmanager.url={url}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, f"amtool {' '.join(args)}: {err.decode()}"
    return out.decode()


def posted_alertnames(fake: Any) -> list[str]:
    names = []
    for rec in fake.at("/api/chat.postMessage"):
        text = json.dumps(rec.body)
        names += [n for n in ("Muted", "Loud") if f"FIRING: {n}" in text]
    return names


async def test_amtool_silences_mute_and_unmute_what_slack_receives(
    fake_receiver: FakeFactory, start_router: RouterFactory, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    slack = await fake_receiver(json_by_path=SLACK)
    router = await start_router({
        "route": {"receiver": "team", "group_by": ["..."], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "team", "slack_configs": [{
            "token": "xoxb-test", "channel": "#ops", "app_url": slack.url("/api/"),
            "send_resolved": True}]}],
    })
    url = router.url
    # config show prints status' config.original: the loaded config, its secrets redacted.
    config = await amtool(url, "config", "show")
    assert "receiver: team" in config
    assert "token: <secret>" in config
    assert "xoxb-test" not in config
    sid = (await amtool(url, "silence", "add", "alertname=Muted", "--comment=deploying",
                        "--author=alice", "--duration=1h")).strip()
    assert len(sid) == 36

    alerts = [{"labels": {"alertname": name, "instance": "web-1"}, "startsAt": rfc3339()}
              for name in ("Muted", "Loud")]
    async with http.post(f"{url}/api/v2/alerts", json=alerts) as resp:
        assert resp.status == 200
    await wait_until(lambda: "Loud" in posted_alertnames(slack), within=15,
                     what=f"Loud notified\n{router.logs()}")
    await asyncio.sleep(2.5)  # two more group intervals: the silenced alert stays quiet
    assert posted_alertnames(slack) == ["Loud"]

    query = await amtool(url, "silence", "query")
    assert sid in query
    assert 'alertname="Muted"' in query
    assert "alice" in query
    assert (await amtool(url, "silence", "query", "-q", "alertname=Muted")).split() == [sid]
    assert (await amtool(url, "silence", "query", "-q", "alertname=Other")).split() == []
    shown = await amtool(url, "alert", "query")
    assert "Loud" in shown
    assert "Muted" not in shown
    assert "suppressed" in await amtool(url, "alert", "query", "--silenced", "alertname=Muted")

    # A comment change keeps the id (Alertmanager updates such a silence in place).
    updated = await amtool(url, "silence", "update", sid, "--comment=still deploying")
    assert sid in updated
    assert "still deploying" in updated
    exported = await amtool(url, "silence", "query", "-o", "json")
    assert json.loads(exported)[0]["comment"] == "still deploying"

    await amtool(url, "silence", "expire", sid)
    assert (await amtool(url, "silence", "query", "-q")).split() == []
    await wait_until(lambda: posted_alertnames(slack) == ["Loud", "Muted"], within=15,
                     what=f"Muted notified once its silence expired\n{router.logs()}")

    # import re-creates the exported silence (a new id: an expired one is never edited)...
    path = tmp_path / "silences.json"
    path.write_text(exported, encoding="utf-8")
    await amtool(url, "silence", "import", str(path))
    [new_id] = (await amtool(url, "silence", "query", "-q")).split()
    assert new_id != sid
    # ...and it mutes again: a resolution of the muted alert is not announced, while Loud's
    # resolution, posted with it, is (the update of Loud's message).
    async with http.post(f"{url}/api/v2/alerts", json=[
        {**alert, "endsAt": rfc3339(offset=-1)} for alert in alerts
    ]) as resp:
        assert resp.status == 200
    await wait_until(lambda: bool(slack.at("/api/chat.update")), within=15,
                     what=f"Loud's resolution\n{router.logs()}")
    await asyncio.sleep(2.5)
    [update] = slack.at("/api/chat.update")
    updated = json.dumps(update.body, ensure_ascii=False)
    assert "RESOLVED: Loud" in updated
    assert "Muted" not in updated
    async with http.get(f"{url}/api/v1/alerts") as resp:
        assert resp.status == 200
