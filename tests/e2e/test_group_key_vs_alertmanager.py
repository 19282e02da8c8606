"""The group key of each route, `match_re` and nested routes included, is the string a real
Alertmanager 0.25 sends as the webhook's `groupKey`, so PagerDuty's dedup_key (its SHA-256)
is the same and a migration does not open duplicate incidents.
"""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp
import pytest

from router.channels.pagerduty.events import dedup_key

from .conftest import AlertmanagerFactory, FakeFactory, RouterFactory, wait_until

pytestmark = pytest.mark.timeout(120)

ALERTS = [
    {"alertname": "CheckoutDown", "service": "chk", "severity": "critical", "team": "a"},
    {"alertname": "PaymentsSlow", "service": "pay", "severity": "warning"},
    {"alertname": "WebErrors", "service": "web-1"},
    {"alertname": "Other", "service": "none"},
]


def config(url: str) -> dict[str, Any]:
    """One routing tree for both: deprecated match/match_re and matchers, nested."""
    return {
        "route": {
            "receiver": "hook", "group_by": ["alertname"],
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
            "routes": [
                {"match_re": {"service": "chk|pay"}, "receiver": "hook",
                 "routes": [{"match": {"severity": "critical"},
                             "matchers": ['team=~"a|b"'], "receiver": "hook"}]},
                {"matchers": ['service=~"web-.*"', "severity!=info"], "receiver": "hook"},
            ],
        },
        "receivers": [{"name": "hook", "webhook_configs": [{"url": url}]}],
    }


async def test_group_keys_equal_alertmanagers(
    fake_receiver: FakeFactory, start_router: RouterFactory,
    start_alertmanager: AlertmanagerFactory, http: aiohttp.ClientSession,
) -> None:
    hook = await fake_receiver()
    am_url = await start_alertmanager(config(hook.url("/am")))
    router = await start_router(config(hook.url("/router")))
    body = [{"labels": labels} for labels in ALERTS]
    for base in (am_url, router.url):
        async with http.post(f"{base}/api/v2/alerts", json=body) as resp:
            assert resp.status == 200, await resp.text()

    def keys(path: str) -> set[str]:
        return {r.body["groupKey"] for r in hook.at(path)}

    await wait_until(lambda: len(keys("/am")) == len(ALERTS) == len(keys("/router")),
                     within=30, what=f"both webhooks\n{router.logs()}")
    assert keys("/router") == keys("/am")
    assert '{}/{service=~"^(?:chk|pay)$"}:{alertname="PaymentsSlow"}' in keys("/am")
    for key in keys("/am"):
        assert dedup_key(key) == hashlib.sha256(key.encode()).hexdigest()
