"""`GET /api/v2/alerts/groups` of alert-router against a real Alertmanager 0.25 (Debian's
prometheus-alertmanager): the same config, alerts and silences on both, then the same
queries must get the same answers, key order included, so Karma reads either alike.

Only what cannot be equal is normalised: `updatedAt` (each one's receive time) and silence
ids (random UUIDs on each side). Fingerprints, startsAt and endsAt must be identical.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from .conftest import AlertmanagerFactory, RouterFactory, rfc3339

pytestmark = pytest.mark.timeout(120)

RECEIVERS = ["default", "pager", "db", "web", "dev", "ops"]

# Alertmanager's YAML, read unchanged by both. group_wait is long so nothing flushes (a
# flush would drop the resolved alert from its group on one side and not the other).
CONFIG: dict[str, Any] = {
    "route": {
        "receiver": "default",
        "group_by": ["alertname", "cluster"],
        "group_wait": "1h",
        "group_interval": "1h",
        "repeat_interval": "4h",
        "routes": [
            {"matchers": ['severity="critical"'], "receiver": "pager",
             "group_by": ["alertname"], "continue": True},
            {"matchers": ['team="db"'], "receiver": "db", "group_by": ["..."]},
            # No alert has `zone`: empty group labels. (Not `group_by: []`, which 0.25 reads
            # as "inherit" and alert-router, like Alertmanager 0.31+, as "no labels".)
            {"matchers": ['team="web"'], "receiver": "web", "group_by": ["zone"],
             "mute_time_intervals": ["always"],
             "routes": [{"matchers": ['env="dev"'], "receiver": "dev"}]},
            # Two routes with one receiver: the alert lists it twice, as Alertmanager does.
            {"matchers": ['team="shared"'], "receiver": "ops", "group_by": ["alertname"],
             "continue": True},
            {"matchers": ['team="shared"'], "receiver": "ops", "group_by": ["instance"]},
        ],
    },
    "inhibit_rules": [{"source_matchers": ['alertname="DatacenterDown"'],
                       "target_matchers": ['alertname="HostDown"'], "equal": ["dc"]}],
    # Always muting: 0.25's API does not show time-interval muting (state stays active).
    "time_intervals": [{"name": "always",
                        "time_intervals": [{"weekdays": ["sunday:saturday"]}]}],
    "receivers": [{"name": name} for name in RECEIVERS],
}


def alert(labels: dict[str, str], **extra: Any) -> dict[str, Any]:
    # Microseconds in the times: the API writes milliseconds, truncated as Go does.
    body: dict[str, Any] = {"labels": labels,
                            "startsAt": rfc3339(offset=-61.234567),
                            "endsAt": rfc3339(offset=3600.987654)}
    body.update(extra)
    return body


def alerts() -> list[dict[str, Any]]:
    """The alerts posted to both, with times relative to now."""
    return [
        alert({"alertname": "DatacenterDown", "dc": "eu", "cluster": "c1"}),
        alert({"alertname": "HostDown", "dc": "eu", "instance": "h1", "job": "node",
               "severity": "critical", "cluster": "c1"}),  # inhibited
        alert({"alertname": "HostDown", "dc": "us", "instance": "h2", "job": "node",
               "severity": "critical", "team": "db"}),  # pager and db
        alert({"alertname": "HostDown", "dc": "eu", "instance": "h0", "job": "api",
               "team": "db"}),  # inhibited and silenced twice
        alert({"alertname": "WebSlow", "team": "web", "instance": "w1", "cluster": "c2"}),
        alert({"alertname": "WebSlow", "team": "web", "env": "dev", "instance": "w2"}),
        alert({"alertname": "DiskFull", "team": "shared", "instance": "s1", "job": "node"}),
        alert({"alertname": "DiskFull", "team": "shared", "instance": "s2"}),
        alert({"alertname": "OldNews", "cluster": "c1"},  # resolved: in no answer
              endsAt=rfc3339(offset=-1)),
        alert({"alertname": "PaymentsSlow", "cluster": "c1", "service": "pay"},  # silenced
              annotations={"summary": "Zahlung verzögert ✓ <b>&", "runbook": "https://r/p"},
              generatorURL="http://prometheus:9090/graph?g0.expr=up&g0.tab=1"),
        alert({"alertname": "QueueBacklog", "job": "mq", "instance": "q2"}),
        alert({"alertname": "QueueBacklog", "job": "mq", "instance": "q10"}),
        alert({"alertname": "QueueBacklog", "job": "aaa", "instance": "q3"}),
        alert({"alertname": "QueueBacklog", "instance": "q1"}),
    ]


SILENCES = [
    [("instance", "h0", False)],
    [("team", "db", False), ("job", "a.i", True)],
    [("service", "pay", False)],
]

QUERIES: list[list[tuple[str, str]]] = [
    [],
    [("active", "false")],
    [("silenced", "false")],
    [("inhibited", "false")],
    [("active", "false"), ("silenced", "false"), ("inhibited", "false")],
    [("filter", "alertname=HostDown")],
    [("filter", 'severity="critical"'), ("filter", "dc=~e.")],
    [("filter", " instance != h1 ")],
    [("filter", 'job!~"node|mq"')],
    [("filter", "team=")],
    [("filter", 'summary="x"')],  # annotations are not labels
    [("receiver", "ops")],
    [("receiver", "d.*")],
    [("receiver", "pager|db")],
    [("receiver", "pag")],  # anchored
    [("receiver", "")],
    [("receiver", "db"), ("filter", "alertname=HostDown"), ("inhibited", "false")],
    # go-swagger booleans: the last value, true-words, anything else false (never a 400).
    [("active", "maybe")],
    [("active", "1"), ("silenced", "no")],
    [("silenced", "false"), ("silenced", "true")],
    [("muted", "false")],  # not a parameter in 0.25
    # Bad parameters: 400 with Alertmanager's JSON string, the first error found.
    [("filter", "foo")],
    [("filter", "")],
    [("filter", '{alertname="HostDown"}')],
    [("filter", 'a="b')],
    [("filter", "dc=~(")],
    [("filter", "alertname=HostDown"), ("filter", "x=~a{2,1}")],
    [("receiver", "(")],
    [("receiver", "a++")],
    [("filter", "foo"), ("receiver", "(")],
]


def normalise(body: Any, silence_names: dict[str, str]) -> Any:
    """The answer with `updatedAt` blanked and silence ids named by creation order."""
    if not isinstance(body, list):
        return body
    for group in body:
        for item in group["alerts"]:
            item["updatedAt"] = "<received>"
            status = item["status"]
            status["silencedBy"] = sorted(silence_names[s] for s in status["silencedBy"])
    return body


def assert_same(theirs: Any, ours: Any, query: list[tuple[str, str]]) -> None:
    """Equal JSON, key order included; else a unified diff of the two answers."""
    am, router = (json.dumps(b, indent=1, ensure_ascii=False).splitlines()
                  for b in (theirs, ours))
    if am != router:
        diff = difflib.unified_diff(am, router, "alertmanager", "alert-router", lineterm="")
        pytest.fail(f"query {query}:\n" + "\n".join(diff))


async def answer(http: aiohttp.ClientSession, url: str, query: list[tuple[str, str]],
                 path: str = "/api/v2/alerts/groups") -> tuple[int, str, Any]:
    async with http.get(f"{url}{path}", params=query) as resp:
        return resp.status, resp.content_type, json.loads(await resp.text())


async def assert_answers_same(http: aiohttp.ClientSession, urls: list[str], path: str,
                              normalised: Callable[[Any, dict[str, str]], Any],
                              names: dict[str, str]) -> None:
    """Every query of QUERIES to `path` of both (Alertmanager first): same answers."""
    am_url, router_url = urls
    for query in QUERIES:
        am_status, am_type, am_body = await answer(http, am_url, query, path)
        status, content_type, body = await answer(http, router_url, query, path)
        assert (status, content_type) == (am_status, am_type), query
        assert_same(normalised(am_body, names), normalised(body, names), query)


async def grouped(http: aiohttp.ClientSession, url: str, expected: int) -> None:
    """Dispatchers take posted alerts asynchronously: poll until `expected` are grouped."""
    deadline = time.monotonic() + 10
    while True:
        _, _, body = await answer(http, url, [])
        if len({a["fingerprint"] for g in body for a in g["alerts"]}) == expected:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{url}: {expected} alerts not grouped after 10s: {body}")
        await asyncio.sleep(0.05)


async def post_to_both(http: aiohttp.ClientSession, urls: list[str], path: str,
                       body: Any) -> list[Any]:
    out = []
    for url in urls:
        async with http.post(f"{url}{path}", json=body) as resp:
            assert resp.status in (200, 202), f"{url}{path}: {await resp.text()}"
            out.append(await resp.json() if resp.content_type == "application/json" else None)
    return out


async def seed_both(http: aiohttp.ClientSession, urls: list[str]) -> dict[str, str]:
    """The alerts and silences posted to both, once every unresolved alert is grouped
    (processed: its state settled); returns silence id → `silence-<n>` on either side.
    Also used by test_alerts_vs_alertmanager.py."""
    posted = alerts()
    await post_to_both(http, urls, "/api/v2/alerts", posted)
    names: dict[str, str] = {}
    for i, matchers in enumerate(SILENCES):
        body = {"matchers": [{"name": n, "value": v, "isRegex": r, "isEqual": True}
                             for n, v, r in matchers],
                "startsAt": rfc3339(), "endsAt": rfc3339(offset=3600),
                "createdBy": "e2e", "comment": "groups"}
        for created in await post_to_both(http, urls, "/api/v2/silences", body):
            names[created["silenceID"]] = f"silence-{i}"
    for url in urls:
        await grouped(http, url, len(posted) - 1)  # all but the resolved one
    return names


async def test_alert_groups_answer_as_alertmanager_does(
    start_alertmanager: AlertmanagerFactory, start_router: RouterFactory,
    http: aiohttp.ClientSession,
) -> None:
    am_url = await start_alertmanager(CONFIG)
    router_url = (await start_router(CONFIG)).url
    names = await seed_both(http, [am_url, router_url])
    await assert_answers_same(http, [am_url, router_url], "/api/v2/alerts/groups", normalise,
                              names)

    # Not vacuous: the groups, in Alertmanager's order, and what they hold.
    _, _, groups = await answer(http, router_url, [])
    assert [(g["receiver"]["name"], g["labels"]) for g in groups] == [
        ("dev", {}),
        ("web", {}),
        ("ops", {"instance": "s1"}),  # lacks `alertname`, the first name: sorts first
        ("ops", {"instance": "s2"}),
        ("ops", {"alertname": "DiskFull"}),
        ("pager", {"alertname": "HostDown"}),
        ("default", {"alertname": "QueueBacklog"}),
        ("default", {"alertname": "DatacenterDown", "cluster": "c1"}),
        ("default", {"alertname": "PaymentsSlow", "cluster": "c1"}),
        ("db", {"alertname": "HostDown", "dc": "eu", "instance": "h0", "job": "api",
                "team": "db"}),
        ("db", {"alertname": "HostDown", "dc": "us", "instance": "h2", "job": "node",
                "severity": "critical", "team": "db"}),
    ]
    by_name = {a["labels"]["instance"]: a for g in groups for a in g["alerts"]
               if "instance" in a["labels"]}
    assert by_name["s1"]["receivers"] == [{"name": "ops"}, {"name": "ops"}]
    assert by_name["h2"]["receivers"] == [{"name": "db"}, {"name": "pager"}]
    assert by_name["h0"]["status"]["state"] == "suppressed"
    assert len(by_name["h0"]["status"]["silencedBy"]) == 2
    assert by_name["w1"]["status"] == {"inhibitedBy": [], "silencedBy": [], "state": "active"}
    assert "generatorURL" not in by_name["w1"]  # empty: left out, as go-swagger does
    # By job, then instance (byte order), an alert without the label after those with it.
    assert [a["labels"]["instance"] for a in groups[6]["alerts"]] == ["q3", "q10", "q2", "q1"]
    status, _, error = await answer(http, router_url, [("filter", "dc=~(")])
    assert (status, error) == (400, "error parsing regexp: missing closing ): `^(?:()$`")
