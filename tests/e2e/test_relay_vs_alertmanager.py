"""The relay topology with a real Alertmanager 0.25 in front of alert-router, and amtool
against both.

Relay: Alertmanager's webhook feeds alert-router, which reconciles against Alertmanager's
API. An alert silenced in Alertmanager and then resolved there is never announced over
the webhook (Alertmanager #226); alert-router must resolve it within one reconcile
interval, while the other alert stays firing.

amtool: the same commands against Alertmanager and alert-router exit alike and, for a
silence the server refuses, print the same error.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from typing import Any

import aiohttp
import pytest

from .conftest import AlertmanagerFactory, RouterFactory, free_port, rfc3339

AMTOOL = shutil.which("amtool")
if AMTOOL is None and os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
    raise RuntimeError("amtool is required in CI (apt-get install prometheus-alertmanager)")
pytestmark = pytest.mark.timeout(120)

INTERVAL = 2.0  # reconcile interval, seconds


async def names_at(http: aiohttp.ClientSession, url: str) -> list[str]:
    async with http.get(f"{url}/api/v2/alerts") as resp:
        assert resp.status == 200
        return sorted(a["labels"]["alertname"] for a in await resp.json())


async def test_a_silenced_alert_resolved_upstream_resolves_here_within_one_interval(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
    http: aiohttp.ClientSession,
) -> None:
    port = free_port()
    am = await start_alertmanager({
        "route": {"receiver": "relay", "group_by": ["alertname"], "group_wait": "0s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "relay", "webhook_configs": [{
            "url": f"http://127.0.0.1:{port}/api/v1/alertmanager", "send_resolved": True}]}],
    })
    router = await start_router({
        "route": {"receiver": "team", "group_by": ["alertname"]},
        "receivers": [{"name": "team"}],
        "sources": {"alertmanager": {"reconcile": {
            "url": am, "interval": f"{INTERVAL:g}s", "startup_grace": "0s"}}},
    }, port=port)
    alerts = [{"labels": {"alertname": name}, "startsAt": rfc3339(offset=-10),
               "endsAt": rfc3339(offset=3600)} for name in ("Muted", "Loud")]
    async with http.post(f"{am}/api/v2/alerts", json=alerts) as resp:
        assert resp.status == 200
    here: list[str] = []

    async def refresh() -> None:
        here[:] = await names_at(http, router.url)

    deadline = time.monotonic() + 20
    while here != ["Loud", "Muted"]:
        assert time.monotonic() < deadline, f"not relayed: {here}\n{router.logs()}"
        await asyncio.sleep(0.1)
        await refresh()
    silence = {"matchers": [{"name": "alertname", "value": "Muted", "isRegex": False}],
               "startsAt": rfc3339(), "endsAt": rfc3339(offset=3600),
               "createdBy": "e2e", "comment": "muted upstream"}
    async with http.post(f"{am}/api/v2/silences", json=silence) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(f"{am}/api/v2/alerts", json=[
            {**alerts[0], "endsAt": rfc3339(offset=-1)}]) as resp:
        assert resp.status == 200
    assert await names_at(http, am) == ["Loud"]
    resolved_upstream = time.monotonic()
    while here != ["Loud"]:
        # One interval, plus the poll's own time: generous for a loaded CI machine.
        assert time.monotonic() - resolved_upstream < INTERVAL + 3, (
            f"still firing here: {here}\n{router.logs()}")
        await asyncio.sleep(0.1)
        await refresh()
    async with http.get(f"{router.url}/metrics") as resp:
        metrics = await resp.text()
    assert "alert_router_reconcile_resolved_total 1.0" in metrics


async def amtool(url: str, *args: str) -> tuple[int, str, str]:
    assert AMTOOL is not None
    proc = await asyncio.create_subprocess_exec(
        AMTOOL, f"--alertmanager.url={url}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    # amtool warns when the server's version differs from its own: not part of the answer.
    lines = err.decode().splitlines(keepends=True)
    return proc.returncode, out.decode(), "".join(
        line for line in lines if not line.startswith("Warning: amtool version"))


SILENCE_REFUSALS: list[list[str]] = [
    ['foo=""'],
    ['foo=~".*"', 'bar!="x"'],
    ["foo=a", "--end=2000-01-01T00:00:00Z"],
    ["1a=b"],
]


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
async def test_amtool_alert_add_and_silence_add_answer_as_with_alertmanager(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
) -> None:
    config: dict[str, Any] = {"route": {"receiver": "r"}, "receivers": [{"name": "r"}]}
    am = await start_alertmanager(config)
    router = (await start_router(config)).url
    for url in (am, router):
        code, _, err = await amtool(url, "alert", "add", "alertname=Added", "severity=page")
        assert code == 0, f"{url}: {err}"  # a 202 made amtool exit 1
        code, out, err = await amtool(url, "alert", "query", "-o", "simple")
        assert "Added" in out, f"{url}: {out} {err}"
    for args in SILENCE_REFUSALS:
        theirs = await amtool(am, "silence", "add", "--comment=c", "--author=a", *args)
        ours = await amtool(router, "silence", "add", "--comment=c", "--author=a", *args)
        assert ours[0] == theirs[0], (args, theirs, ours)
        assert ours[2] == theirs[2], args


BAD_REGEXES = ["(", "[a", "a**", "x{2,1}", "*", "(?<n>a)", "(a)\\1", "\\pX"]


async def test_a_bad_regex_in_a_silence_is_refused_in_alertmanagers_words(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
) -> None:
    """POST /api/v2/silences with an invalid regex matcher (amtool would refuse it
    client-side; Grafana and scripts post it): both 400, and after the path of the field
    (which the web UI shows beside it) the router says what Alertmanager says."""
    config: dict[str, Any] = {"route": {"receiver": "r"}, "receivers": [{"name": "r"}]}
    am = await start_alertmanager(config)
    router = (await start_router(config)).url
    async with aiohttp.ClientSession() as http:
        for pattern in BAD_REGEXES:
            body = {"matchers": [{"name": "job", "value": "x", "isRegex": False},
                                 {"name": "a", "value": pattern, "isRegex": True}],
                    "startsAt": rfc3339(), "endsAt": rfc3339(offset=3600),
                    "createdBy": "a", "comment": "c"}
            answers = []
            for url in (am, router):
                async with http.post(f"{url}/api/v2/silences", json=body) as resp:
                    answers.append((resp.status, await resp.json()))
            (am_status, am_text), (status, text) = answers
            assert status == am_status == 400, pattern
            prefix = "silence invalid: invalid label matcher 1: "
            assert am_text.startswith(prefix), am_text
            assert text == "matchers[1].value: " + am_text.removeprefix(prefix), pattern
        # A good regex is taken by both.
        for url in (am, router):
            async with http.post(f"{url}/api/v2/silences", json={**body, "matchers": [
                    {"name": "a", "value": "x|y", "isRegex": True}]}) as resp:
                assert resp.status == 200, await resp.text()
