"""OpsGenie and VictorOps requests of alert-router against a real Alertmanager 0.25's.

Both get the same alert, fire and resolve it, and post to the same recording endpoint: the
alias / entity_id (what keeps an open alert open across a migration), the authorization,
the paths, and the texts of Alertmanager's default templates must be the same.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import AlertmanagerFactory, FakeFactory, RouterFactory, rfc3339, wait_until

pytestmark = pytest.mark.timeout(120)

OG_KEY = "0c8f3a52-4b0e-4d7c-9f4e-2b1a3c5d7e9f"
VO_KEY = "7d1b6a0e-1111-2222-3333-444455556666"
ALERT = {"labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical",
                    "team": "dba"},
         "annotations": {"summary": "Disk / is 97% full", "runbook_url": "http://rb/disk"},
         "generatorURL": "http://prometheus:9090/graph?g0.expr=disk"}


def config(base: str) -> dict[str, Any]:
    return {
        "route": {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{
            "name": "oncall",
            "opsgenie_configs": [{"api_key": OG_KEY, "api_url": f"{base}/og/",
                                  "tags": "prod,disk", "priority": "P2",
                                  "update_alerts": True,
                                  "responders": [{"name": "db,web", "type": "teams"},
                                                 {"username": "dba@example.com",
                                                  "type": "user"}]}],
            "victorops_configs": [{"api_key": VO_KEY, "api_url": f"{base}/vo/",
                                   "routing_key": "dba"}],
        }],
    }


def _texts(body: dict[str, Any]) -> dict[str, Any]:
    """The fields compared: text values without the trailing blanks Go leaves in."""
    out = {k: v.strip() if isinstance(v, str) else v for k, v in body.items()}
    if "source" in out:  # the Alertmanager view: each side's own external URL
        out["source"] = out["source"].split("/#/", 1)[1]
    return out


async def test_opsgenie_and_victorops_requests_equal_alertmanagers(
    fake_receiver: FakeFactory, start_router: RouterFactory,
    start_alertmanager: AlertmanagerFactory, http: aiohttp.ClientSession,
) -> None:
    vendor = await fake_receiver()
    am_url = await start_alertmanager(config(vendor.url("/am").rstrip("/")))
    router = await start_router(config(vendor.url("/router").rstrip("/")))
    for ends in (None, rfc3339(offset=-1)):
        alert = {**ALERT, "startsAt": rfc3339(offset=-60)}
        if ends:
            alert["endsAt"] = ends
        for base in (am_url, router.url):
            async with http.post(f"{base}/api/v2/alerts", json=[alert]) as resp:
                assert resp.status in (200, 202), await resp.text()

        def sent(side: str, count: int = 2 if ends else 1) -> bool:
            # OpsGenie: create + 2 updates while firing, then close; VictorOps: 1 each.
            want = 6 if count == 2 else 4
            return len([r for r in vendor.requests if r.path.startswith(f"/{side}/")]) >= want

        await wait_until(lambda: sent("am") and sent("router"), within=40,
                         what=f"both sides' requests\n{router.logs()}")

    def of(side: str) -> list[Any]:
        # Each integration's requests in order; the two integrations send concurrently.
        mine = [r for r in vendor.requests if r.path.startswith(f"/{side}/")]
        return sorted(mine, key=lambda r: "/vo/" in r.path)

    am, ours = of("am"), of("router")
    assert [(r.method, r.path.removeprefix("/am")) for r in am] == [
        (r.method, r.path.removeprefix("/router")) for r in ours]
    for theirs, mine in zip(am, ours, strict=True):
        assert _texts(mine.body) == _texts(theirs.body), mine.path
        if "/og/" in mine.path:
            assert mine.headers["Authorization"] == theirs.headers["Authorization"]
    paths = [r.path.removeprefix("/router") for r in ours]
    alias = next(r.body["alias"] for r in ours if r.path.endswith("/v2/alerts"))
    assert f"/og/v2/alerts/{alias}/close" in paths
    assert f"/vo/{VO_KEY}/dba" in paths
    assert [r.body["message_type"] for r in ours if "/vo/" in r.path] == [
        "CRITICAL", "RECOVERY"]
