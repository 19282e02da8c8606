"""`GET /api/v2/alerts` of alert-router against a real Alertmanager 0.25: the config, alerts,
silences and queries of the groups comparison (test_alert_groups_vs_alertmanager.py), the
same answers, key order included: amtool's `alert query` and other clients read either
alike. Only `updatedAt` and silence ids (random on each side) are normalised.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from .conftest import AlertmanagerFactory, RouterFactory, rfc3339
from .test_alert_groups_vs_alertmanager import (
    CONFIG,
    QUERIES,
    SILENCES,
    alerts,
    assert_same,
    grouped,
    post_to_both,
)

pytestmark = pytest.mark.timeout(120)


def normalise(body: Any, silence_names: dict[str, str]) -> Any:
    if not isinstance(body, list):
        return body
    for item in body:
        item["updatedAt"] = "<received>"
        status = item["status"]
        status["silencedBy"] = sorted(silence_names[s] for s in status["silencedBy"])
    return body


async def answer(http: aiohttp.ClientSession, url: str, query: list[tuple[str, str]]
                 ) -> tuple[int, str, Any]:
    async with http.get(f"{url}/api/v2/alerts", params=query) as resp:
        return resp.status, resp.content_type, json.loads(await resp.text())


async def test_alerts_answer_as_alertmanager_does(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
    http: aiohttp.ClientSession,
) -> None:
    am_url = await start_alertmanager(CONFIG)
    router_url = (await start_router(CONFIG)).url
    urls = [am_url, router_url]
    posted = alerts()
    await post_to_both(http, urls, "/api/v2/alerts", posted)
    names: dict[str, str] = {}
    for i, matchers in enumerate(SILENCES):
        body = {"matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": True}
                             for n, v, r in matchers],
                "startsAt": rfc3339(), "endsAt": rfc3339(offset=3600),
                "createdBy": "e2e", "comment": "alerts"}
        for created in await post_to_both(http, urls, "/api/v2/silences", body):
            names[created["silenceID"]] = f"silence-{i}"
    for url in urls:
        await grouped(http, url, len(posted) - 1)  # processed: states are settled

    for query in QUERIES:
        am_status, am_type, am_body = await answer(http, am_url, query)
        status, content_type, body = await answer(http, router_url, query)
        assert (status, content_type) == (am_status, am_type), query
        assert_same(normalise(am_body, names), normalise(body, names), query)

    # Not vacuous: what the comparison covered.
    _, _, listed = await answer(http, router_url, [])
    assert len(listed) == len(posted) - 1  # the resolved one is not listed
    by_instance = {a["labels"].get("instance"): a for a in listed}
    assert by_instance["s1"]["receivers"] == [{"name": "ops"}, {"name": "ops"}]  # not deduped
    assert by_instance["h2"]["receivers"] == [{"name": "pager"}, {"name": "db"}]  # route order
    assert by_instance["w1"]["status"] == {  # time-muted: 0.25 shows it active
        "inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert "generatorURL" not in by_instance["w1"]
    assert list(by_instance["w1"]) == ["annotations", "endsAt", "fingerprint", "receivers",
                                       "startsAt", "status", "updatedAt", "labels"]
