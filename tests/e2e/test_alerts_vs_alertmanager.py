"""`GET /api/v2/alerts` of alert-router against a real Alertmanager 0.25: the config, alerts,
silences and queries of the groups comparison (test_alert_groups_vs_alertmanager.py), the
same answers, key order included: amtool's `alert query` and other clients read either
alike. Only `updatedAt` and silence ids (random on each side) are normalised.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from .conftest import AlertmanagerFactory, RouterFactory
from .test_alert_groups_vs_alertmanager import (
    CONFIG,
    alerts,
    answer,
    assert_answers_same,
    seed_both,
)

pytestmark = pytest.mark.timeout(120)
PATH = "/api/v2/alerts"


def normalise(body: Any, silence_names: dict[str, str]) -> Any:
    if not isinstance(body, list):
        return body
    for item in body:
        item["updatedAt"] = "<received>"
        status = item["status"]
        status["silencedBy"] = sorted(silence_names[s] for s in status["silencedBy"])
    return body


async def test_alerts_answer_as_alertmanager_does(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
    http: aiohttp.ClientSession,
) -> None:
    am_url = await start_alertmanager(CONFIG)
    router_url = (await start_router(CONFIG)).url
    names = await seed_both(http, [am_url, router_url])
    await assert_answers_same(http, [am_url, router_url], PATH, normalise, names)

    # Not vacuous: what the comparison covered.
    _, _, listed = await answer(http, router_url, [], PATH)
    assert len(listed) == len(alerts()) - 1  # the resolved one is not listed
    by_instance = {a["labels"].get("instance"): a for a in listed}
    assert by_instance["s1"]["receivers"] == [{"name": "ops"}, {"name": "ops"}]  # not deduped
    assert by_instance["h2"]["receivers"] == [{"name": "pager"}, {"name": "db"}]  # route order
    assert by_instance["w1"]["status"] == {  # time-muted: 0.25 shows it active
        "inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert "generatorURL" not in by_instance["w1"]
    assert list(by_instance["w1"]) == ["annotations", "endsAt", "fingerprint", "receivers",
                                       "startsAt", "status", "updatedAt", "labels"]
