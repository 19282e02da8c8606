"""`GET /api/v2/alerts/groups` through the real app on a fake clock: Alertmanager 0.25's
answer (shape, key order, sorting, receivers, states), its filters and its 400s.

The same answers are compared with a real Alertmanager in
tests/e2e/test_alert_groups_vs_alertmanager.py; these run without the binary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import api_matcher, create_silence, post_alerts, run_until, v2_alert
from fakeclock import FakeClock

from router.model import fingerprint
from router.timefmt import format_time_ms, parse_time

T0 = parse_time("2026-05-04T10:20:00Z") or 0.0
HOUR = 3600.0

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes:
    - receiver: payments
      matchers: [team="payments"]
      continue: true
    - receiver: payments
      matchers: [team="payments"]
      group_by: [instance]
      mute_time_intervals: [always]
inhibit_rules:
  - source_matchers: [alertname="DatacenterDown"]
    target_matchers: [alertname="HostDown"]
    equal: [dc]
time_intervals:
  - name: always
    time_intervals: [{weekdays: ['sunday:saturday']}]
receivers:
  - name: default
  - name: payments
"""

Client = TestClient[Any, Any]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def groups(client: Client, *query: tuple[str, str]) -> Any:
    resp = await client.get("/api/v2/alerts/groups", params=list(query))
    assert resp.status == 200, await resp.text()
    return json.loads(await resp.text())  # keeps the key order of the wire


def names(body: Any) -> list[tuple[str, list[str]]]:
    """Each group as (receiver, [alertname/instance, ...])."""
    return [(g["receiver"]["name"],
             [f"{a['labels']['alertname']}/{a['labels'].get('instance', '')}"
              for a in g["alerts"]]) for g in body]


def expected_alert(labels: dict[str, str], receivers: list[str], *, state: str = "active",
                   inhibited_by: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    """A gettableAlert as Alertmanager 0.25 writes it, keys in its order."""
    out: dict[str, Any] = {
        "annotations": extra.get("annotations", {}),
        "endsAt": format_time_ms(T0 + 300),  # resolve_timeout after it was received
        "fingerprint": fingerprint(labels),
        "receivers": [{"name": r} for r in receivers],
        "startsAt": format_time_ms(T0 - 60),
        "status": {"inhibitedBy": list(inhibited_by), "silencedBy": [], "state": state},
        "updatedAt": format_time_ms(T0),
    }
    if "generator" in extra:
        out["generatorURL"] = extra["generator"]
    out["labels"] = dict(sorted(labels.items()))
    return out


async def test_groups_appear_at_once_in_alertmanagers_shape_and_order(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, _ = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    pay = {"alertname": "PaymentsSlow", "team": "payments", "instance": "p1"}
    await post_alerts(
        client,
        v2_alert("HostDown", starts=T0 - 60, instance="h1", dc="eu"),
        v2_alert("DatacenterDown", starts=T0 - 60, dc="eu"),
        {**v2_alert("PaymentsSlow", starts=T0 - 60, team="payments", instance="p1"),
         "annotations": {"summary": "slow", "runbook": "r"},
         "generatorURL": "http://prom/graph"},
    )
    host = {"alertname": "HostDown", "instance": "h1", "dc": "eu"}
    dc = {"alertname": "DatacenterDown", "dc": "eu"}
    # Before group_wait: the dispatcher holds the groups from the first alert on.
    body = await groups(client)
    # One alert in the two payments groups, with both of their (equal) receivers; active
    # although one route is time-muted: 0.25 shows silences and inhibition only.
    paying = expected_alert(pay, ["payments", "payments"], generator="http://prom/graph",
                            annotations={"runbook": "r", "summary": "slow"})
    expected = [
        {"alerts": [paying], "labels": {"instance": "p1"}, "receiver": {"name": "payments"}},
        {"alerts": [expected_alert(dc, ["default"])],
         "labels": {"alertname": "DatacenterDown"}, "receiver": {"name": "default"}},
        {"alerts": [expected_alert(host, ["default"], state="suppressed",
                                   inhibited_by=(fingerprint(dc),))],
         "labels": {"alertname": "HostDown"}, "receiver": {"name": "default"}},
        {"alerts": [paying], "labels": {"alertname": "PaymentsSlow"},
         "receiver": {"name": "payments"}},
    ]
    assert body == expected
    # Key order too: Karma and go-swagger clients read it either way, diffs do not.
    assert json.dumps(body) == json.dumps(expected)


async def test_a_resolved_alert_leaves_its_group_in_the_answer_at_once(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, _ = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    await post_alerts(client, v2_alert("HostDown", instance="h1"),
                      v2_alert("HostDown", instance="h2"))
    await post_alerts(client, v2_alert("HostDown", starts=T0, ends=T0, instance="h1"))
    await clock.advance(1)  # not flushed yet: the group still holds the resolved alert
    assert names(await groups(client)) == [("default", ["HostDown/h2"])]


async def test_filters_states_and_receiver_narrow_groups_and_receivers(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    await post_alerts(
        client,
        v2_alert("HostDown", instance="h1", dc="eu"),  # inhibited
        v2_alert("HostDown", instance="h2", dc="us"),
        v2_alert("DatacenterDown", dc="eu"),
        v2_alert("PaymentsSlow", instance="p1", team="payments"),  # silenced
    )
    await create_silence(client, [api_matcher("team", "payments")], T0, T0 + HOUR)
    await run_until(state, clock, T0 + 1)
    every = await groups(client)
    assert names(every) == [
        ("payments", ["PaymentsSlow/p1"]),
        ("default", ["DatacenterDown/"]),
        ("default", ["HostDown/h1", "HostDown/h2"]),
        ("payments", ["PaymentsSlow/p1"]),
    ]
    assert every[0]["alerts"][0]["status"]["state"] == "suppressed"  # the silence
    assert names(await groups(client, ("silenced", "false"))) == [
        ("default", ["DatacenterDown/"]), ("default", ["HostDown/h1", "HostDown/h2"])]
    assert names(await groups(client, ("inhibited", "false"), ("active", "false"))) == [
        ("payments", ["PaymentsSlow/p1"]), ("payments", ["PaymentsSlow/p1"])]
    assert names(await groups(client, ("filter", "alertname=HostDown"),
                              ("filter", 'dc!="eu"'))) == [("default", ["HostDown/h2"])]
    assert await groups(client, ("receiver", "pay")) == []  # anchored
    paid = await groups(client, ("receiver", "pay.*"))
    assert names(paid) == [("payments", ["PaymentsSlow/p1"])] * 2
    # A receiver filter narrows each alert's receivers to the groups shown.
    defaults = await groups(client, ("receiver", "default|nobody"))
    assert {r["name"] for g in defaults for a in g["alerts"] for r in a["receivers"]} == {
        "default"}


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        # go-swagger's booleans: the last value; its true-words; anything else is false.
        ([("active", "maybe")], ["HostDown/h1"]),
        ([("active", "YES")], ["DatacenterDown/", "HostDown/h1"]),
        ([("active", "")], ["DatacenterDown/", "HostDown/h1"]),  # empty: the default
        ([("inhibited", "false"), ("inhibited", "on")], ["DatacenterDown/", "HostDown/h1"]),
        ([("muted", "false")], ["DatacenterDown/", "HostDown/h1"]),  # not in 0.25
    ],
)
async def test_boolean_parameters_never_fail(
    make_router: Any, tmp_path: Path, clock: FakeClock, query: list[tuple[str, str]],
    shown: list[str],
) -> None:
    client, _ = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    await post_alerts(client, v2_alert("HostDown", instance="h1", dc="eu"),
                      v2_alert("DatacenterDown", dc="eu"))
    body = await groups(client, *query)
    assert sorted(n for _, alerts in names(body) for n in alerts) == shown


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("filter", "foo")], "bad matcher format: foo"),
        ([("filter", '{alertname="x"}')], 'bad matcher format: {alertname="x"}'),
        ([("filter", 'a="b')], 'matcher value contains unescaped double quote: "b'),
        ([("filter", "a=~(")], "error parsing regexp: missing closing ): `^(?:()$`"),
        ([("receiver", "a++")], "failed to parse receiver param: error parsing regexp: "
                                "invalid nested repetition operator: `++`"),
        ([("receiver", "(")], "failed to parse receiver param: error parsing regexp: "
                              "missing closing ): `^(?:()$`"),
        ([("receiver", "("), ("filter", "")], "bad matcher format: "),  # filters first
    ],
)
async def test_bad_parameters_are_400_with_alertmanagers_json_string(
    make_router: Any, tmp_path: Path, query: list[tuple[str, str]], message: str
) -> None:
    client, _ = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    resp = await client.get("/api/v2/alerts/groups", params=query)
    assert resp.status == 400
    assert resp.content_type == "application/json"
    assert await resp.json() == message
