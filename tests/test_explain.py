"""`alert-router explain`: the decision trace of one alert, asked of a running router."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from conftest import quiet
from fakeclock import FakeClock

from router.cli import main

CONFIG = """
route:
  receiver: audit
  group_by: [alertname]
  group_wait: 0s
receivers:
  - name: audit
    log_configs: [{}]
"""


async def test_explain_prints_what_happened_and_why(
    make_router: Any, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, state = await make_router(CONFIG)
    server: TestServer = client.server
    resp = await client.post("/api/v2/alerts", json=[
        {"labels": {"alertname": "DiskFull", "instance": "db-1"}}])
    assert resp.status == 200
    await clock.advance(0.1)
    await quiet(state)
    config = tmp_path / "config.yml"  # written by make_router
    url = str(server.make_url("")).rstrip("/")
    capsys.readouterr()
    # The CLI blocks on HTTP: run it off the loop that serves the router.
    code = await asyncio.to_thread(
        main, ["explain", "--config", str(config), "--url", url,
               "alertname=DiskFull", "instance=db-1"])
    out = capsys.readouterr().out
    kinds = [line.split()[1] for line in out.splitlines() if line.startswith("20")]
    assert code == 0
    assert "state: firing" in out
    assert kinds == ["received", "routed", "queued", "notified"]
    assert "channel=log[0]" in out
    assert "reason=first notification" in out

    code = await asyncio.to_thread(
        main, ["explain", "--config", str(config), "--url", url, "alertname=Unknown"])
    assert code == 1
    assert "has no trace of this alert" in capsys.readouterr().out


async def test_explain_finds_an_alert_by_fingerprint_or_by_some_of_its_labels(
    make_router: Any, clock: FakeClock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, state = await make_router(CONFIG)
    server: TestServer = client.server
    resp = await client.post("/api/v2/alerts", json=[
        {"labels": {"alertname": "DiskFull", "instance": "db-1", "team": "storage"}},
        {"labels": {"alertname": "DiskFull", "instance": "db-2", "team": "storage"}}])
    assert resp.status == 200
    await clock.advance(0.1)
    await quiet(state)
    config = str(tmp_path / "config.yml")
    url = str(server.make_url("")).rstrip("/")
    alerts = {a["labels"]["instance"]: a["fingerprint"]
              for a in await (await client.get("/api/v1/alerts")).json()}
    capsys.readouterr()

    async def explain(*words: str) -> tuple[int, str]:
        code = await asyncio.to_thread(main, ["explain", "--config", config, "--url", url,
                                              *words])
        return code, capsys.readouterr().out

    # A partial label set that names one alert.
    code, out = await explain("instance=db-2")
    assert code == 0
    assert out.startswith(f"alert {alerts['db-2']} {{alertname='DiskFull', "
                          "instance='db-2', team='storage'}")
    assert "state: firing" in out

    # By fingerprint, as the API and the logs show it.
    code, out = await explain(alerts["db-1"])
    assert code == 0
    assert out.startswith(f"alert {alerts['db-1']} {{alertname='DiskFull', instance='db-1'")
    assert " received " in out

    # Ambiguous: the candidates are listed, nothing is guessed.
    code, out = await explain("alertname=DiskFull")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == ("2 alerts carry {alertname='DiskFull'}; name one by fingerprint or "
                        "add labels:")
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(alerts.values())
