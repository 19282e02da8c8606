"""Alertmanager's API v2 through the real app: silences (create, validate, update, expire,
list, filter, survive a restart, the state gauge), alert listing filters and status.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from conftest import (
    api_matcher,
    create_silence,
    post_alerts,
    run_until,
    silence_body,
    v2_alert,
)
from fakeclock import FakeClock
from prometheus_client.parser import text_string_to_metric_families

from router.config.load import load_config_text
from router.service import Service
from router.timefmt import format_time_ms, parse_time

T0 = parse_time("2026-05-04T10:20:00Z") or 0.0
HOUR = 3600.0

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - receiver: payments
      matchers: [team="payments"]
inhibit_rules:
  - source_matchers: [alertname="DatacenterDown"]
    target_matchers: [alertname="HostDown"]
    equal: [dc]
receivers:
  - name: default
  - name: payments
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


async def start(
    make_router: Any, tmp_path: Path, text: str = CONFIG
) -> tuple[TestClient[Any, Any], Service]:
    client, state = await make_router(text, config_path=str(tmp_path / "config.yml"))
    return client, state


async def get_silences(client: TestClient[Any, Any], *filters: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/v2/silences", params=[("filter", f) for f in filters])
    assert resp.status == 200, await resp.text()
    body: list[dict[str, Any]] = await resp.json()
    return body


async def get_silence(client: TestClient[Any, Any], sid: str) -> dict[str, Any]:
    resp = await client.get(f"/api/v2/silence/{sid}")
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def post_silence(client: TestClient[Any, Any], body: dict[str, Any]) -> tuple[int, Any]:
    resp = await client.post("/api/v2/silences", json=body)
    return resp.status, await resp.json()


DB = [api_matcher("instance", "db1")]


# --- create and read --------------------------------------------------------------------


async def test_create_returns_the_id_and_get_shows_the_silence(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, _ = await start(make_router, tmp_path)
    matchers = [api_matcher("alertname", "HostDown"),
                api_matcher("instance", r"10\.0\.0\.5:.*", regex=True),
                api_matcher("env", "dev", equal=False)]
    # A start in the past is clamped to now, as Alertmanager does for a new silence.
    status, body = await post_silence(client, silence_body(matchers, T0 - HOUR, T0 + 2 * HOUR,
                                                          annotations={"ticket": "OPS-1"}))
    assert status == 200
    assert list(body) == ["silenceID"]
    sid = body["silenceID"]
    assert await get_silence(client, sid) == {
        "id": sid,
        "status": {"state": "active"},
        "updatedAt": format_time_ms(T0),
        "matchers": [
            {"name": "alertname", "value": "HostDown", "isRegex": False, "isEqual": True},
            {"name": "instance", "value": r"10\.0\.0\.5:.*", "isRegex": True, "isEqual": True},
            {"name": "env", "value": "dev", "isRegex": False, "isEqual": False},
        ],
        "startsAt": "2026-05-04T10:20:00.000Z",
        "endsAt": "2026-05-04T12:20:00.000Z",
        "createdBy": "oncall",
        "comment": "test",
        "annotations": {"ticket": "OPS-1"},
    }
    assert [s["id"] for s in await get_silences(client)] == [sid]


async def test_future_silence_is_pending_until_it_starts(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    sid = await create_silence(client, DB, T0 + HOUR, T0 + 2 * HOUR)
    assert (await get_silence(client, sid))["status"]["state"] == "pending"
    await run_until(state, clock, T0 + HOUR)
    assert (await get_silence(client, sid))["status"]["state"] == "active"
    await run_until(state, clock, T0 + 2 * HOUR + 0.001)
    assert (await get_silence(client, sid))["status"]["state"] == "expired"


@pytest.mark.parametrize(
    ("changes", "mentions"),
    [
        ({"matchers": [api_matcher("foo", ".*", regex=True)]}, "empty string"),
        ({"matchers": [api_matcher("foo", "")]}, "empty string"),
        ({"matchers": [api_matcher("foo", "(", regex=True)]},
         'matchers[0].value: invalid regular expression "(": error parsing regexp: '
         "missing closing ): `(`"),  # the path, then Alertmanager's words
        ({"matchers": [api_matcher("bad-name", "x")]}, "label name"),
        ({"startsAt": format_time_ms(T0 + 2 * HOUR), "endsAt": format_time_ms(T0 + HOUR)},
         "start time must be before end time"),
        ({"startsAt": format_time_ms(T0 - 2 * HOUR), "endsAt": format_time_ms(T0 - HOUR)},
         "end time can't be in the past"),
        ({"endsAt": "tomorrow"}, "endsAt"),
    ],
)
async def test_invalid_silences_are_400_and_store_nothing(
    make_router: Any, tmp_path: Path, changes: dict[str, Any], mentions: str
) -> None:
    client, _ = await start(make_router, tmp_path)
    body = {**silence_body(DB, T0, T0 + HOUR), **changes}
    status, answer = await post_silence(client, body)
    assert status == 400
    # Alertmanager answers a JSON string, which is what amtool prints.
    assert isinstance(answer, str)
    assert mentions in answer
    assert await get_silences(client) == []


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"matchers": []}, 612, "matchers in body should have at least 1 items"),
        ({"matchers": None}, 602, "matchers in body is required"),
        ({"createdBy": None}, 602, "createdBy in body is required"),
        # go-swagger reports the first missing field only, fields in alphabetical order
        ({"comment": None, "startsAt": None}, 602, "comment in body is required"),
        ({"matchers": [{"name": "a"}]}, 602, "matchers.0.isRegex in body is required"),
        # ...and before Alertmanager's own 400s (this matcher matches the empty string)
        ({"matchers": [api_matcher("foo", "")], "createdBy": None}, 602,
         "createdBy in body is required"),
    ],
)
async def test_silences_missing_what_the_schema_requires_are_422_as_alertmanager(
    make_router: Any, tmp_path: Path, changes: dict[str, Any], code: int, message: str
) -> None:
    # Bodies and codes as a real Alertmanager 0.25 answers them (go-swagger validation).
    client, _ = await start(make_router, tmp_path)
    body = {**silence_body(DB, T0, T0 + HOUR), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    assert await post_silence(client, body) == (422, {"code": code, "message": message})
    assert await get_silences(client) == []


async def test_malformed_json_is_400(make_router: Any, tmp_path: Path) -> None:
    client, _ = await start(make_router, tmp_path)
    resp = await client.post("/api/v2/silences", data=b"{not json",
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert await get_silences(client) == []


# --- update and expire ------------------------------------------------------------------


async def test_extending_an_active_silence_updates_it_in_place(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    sid = await create_silence(client, DB, T0, T0 + HOUR)
    await run_until(state, clock, T0 + 60)
    current = await get_silence(client, sid)
    current["endsAt"] = format_time_ms(T0 + 3 * HOUR)
    current["comment"] = "takes longer"
    status, body = await post_silence(client, current)
    assert (status, body) == (200, {"silenceID": sid})
    updated = await get_silence(client, sid)
    assert updated["endsAt"] == format_time_ms(T0 + 3 * HOUR)
    assert updated["startsAt"] == format_time_ms(T0)
    assert updated["comment"] == "takes longer"
    assert updated["updatedAt"] == format_time_ms(T0 + 60)
    assert len(await get_silences(client)) == 1


async def test_changing_the_matchers_expires_the_old_silence_and_creates_a_new_one(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    sid = await create_silence(client, DB, T0, T0 + HOUR)
    await run_until(state, clock, T0 + 60)
    current = await get_silence(client, sid)
    current["matchers"] = [api_matcher("instance", "db2")]
    status, body = await post_silence(client, current)
    assert status == 200
    new_id = body["silenceID"]
    assert new_id != sid
    await run_until(state, clock, T0 + 61)
    old, new = await get_silence(client, sid), await get_silence(client, new_id)
    assert old["status"]["state"] == "expired"
    assert old["endsAt"] == format_time_ms(T0 + 60)
    assert new["status"]["state"] == "active"
    assert new["matchers"] == [api_matcher("instance", "db2")]


async def test_unknown_ids_are_404(make_router: Any, tmp_path: Path) -> None:
    client, _ = await start(make_router, tmp_path)
    unknown = "3c8f0a1e-0000-4000-8000-000000000000"
    status, _ = await post_silence(client, {**silence_body(DB, T0, T0 + HOUR), "id": unknown})
    assert status == 404
    assert (await client.get(f"/api/v2/silence/{unknown}")).status == 404
    assert (await client.delete(f"/api/v2/silence/{unknown}")).status == 404
    assert await get_silences(client) == []


async def test_delete_expires_active_and_pending_silences(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    active = await create_silence(client, DB, T0, T0 + HOUR)
    pending = await create_silence(client, DB, T0 + HOUR, T0 + 2 * HOUR)
    await run_until(state, clock, T0 + 10)
    for sid in (active, pending):
        resp = await client.delete(f"/api/v2/silence/{sid}")
        assert resp.status == 200
    await run_until(state, clock, T0 + 10.001)
    a, p = await get_silence(client, active), await get_silence(client, pending)
    assert (a["status"]["state"], a["startsAt"], a["endsAt"]) == (
        "expired", format_time_ms(T0), format_time_ms(T0 + 10))
    # A pending silence never started: both bounds move to the deletion time.
    assert (p["status"]["state"], p["startsAt"], p["endsAt"]) == (
        "expired", format_time_ms(T0 + 10), format_time_ms(T0 + 10))
    # Deleting an expired silence changes nothing.
    assert (await client.delete(f"/api/v2/silence/{active}")).status == 200
    assert await get_silence(client, active) == a
    # An expired silence can never be edited: an update creates a new one.
    a["endsAt"] = format_time_ms(T0 + 5 * HOUR)
    status, body = await post_silence(client, a)
    assert status == 200
    assert body["silenceID"] not in (active, pending)


# --- listing ----------------------------------------------------------------------------


async def test_list_order_and_filter_by_identical_matchers(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    ids = {
        "active-late": await create_silence(client, DB, T0, T0 + 3 * HOUR),
        "active-soon": await create_silence(
            client, [*DB, api_matcher("alertname", "HostDown")], T0, T0 + 2 * HOUR),
        "pending-late": await create_silence(client, DB, T0 + 2 * HOUR, T0 + 9 * HOUR),
        "pending-soon": await create_silence(client, DB, T0 + HOUR, T0 + 9 * HOUR),
        "expired-early": await create_silence(
            client, [api_matcher("instance", "db.*", regex=True)], T0, T0 + 9 * HOUR),
        "expired-late": await create_silence(client, DB, T0, T0 + 9 * HOUR),
    }
    await run_until(state, clock, T0 + 60)
    assert (await client.delete(f"/api/v2/silence/{ids['expired-early']}")).status == 200
    await run_until(state, clock, T0 + 120)
    assert (await client.delete(f"/api/v2/silence/{ids['expired-late']}")).status == 200
    await run_until(state, clock, T0 + 121)
    by_id = {v: k for k, v in ids.items()}
    listed = [by_id[s["id"]] for s in await get_silences(client)]
    assert listed == ["active-soon", "active-late", "pending-soon", "pending-late",
                      "expired-late", "expired-early"]

    # A filter keeps silences holding an identical matcher; it does not evaluate labels.
    filtered = [by_id[s["id"]] for s in await get_silences(client, 'instance="db1"')]
    assert filtered == ["active-soon", "active-late", "pending-soon", "pending-late",
                        "expired-late"]
    both = await get_silences(client, 'instance="db1"', "alertname=HostDown")
    assert [by_id[s["id"]] for s in both] == ["active-soon"]
    regex = await get_silences(client, 'instance=~"db.*"')
    assert [by_id[s["id"]] for s in regex] == ["expired-early"]
    assert (await client.get("/api/v2/silences", params={"filter": "instance=~("})).status == 400


async def test_silences_survive_a_restart(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, _ = await start(make_router, tmp_path)
    sid = await create_silence(client, DB, T0, T0 + HOUR)
    before = await get_silences(client)
    await client.close()

    client2, _ = await start(make_router, tmp_path)
    assert await get_silences(client2) == before
    await post_alerts(client2, v2_alert("HostDown", instance="db1"))
    alerts = await (await client2.get("/api/v2/alerts")).json()
    assert alerts[0]["status"]["silencedBy"] == [sid]


async def test_silence_gauge_counts_by_state(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    await create_silence(client, DB, T0, T0 + HOUR)
    await create_silence(client, DB, T0, T0 + 2 * HOUR)
    await create_silence(client, DB, T0 + HOUR, T0 + 2 * HOUR)
    gone = await create_silence(client, DB, T0, T0 + HOUR)
    assert (await client.delete(f"/api/v2/silence/{gone}")).status == 200
    await run_until(state, clock, T0 + 1)

    async def gauge() -> dict[str, float]:
        text = await (await client.get("/metrics")).text()
        return {s.labels["state"]: s.value for f in text_string_to_metric_families(text)
                if f.name == "alert_router_silences" for s in f.samples}

    assert await gauge() == {"active": 2.0, "pending": 1.0, "expired": 1.0}
    await run_until(state, clock, T0 + HOUR + 1)
    assert await gauge() == {"active": 2.0, "pending": 0.0, "expired": 2.0}


# --- alerts -----------------------------------------------------------------------------


async def alert_names(client: TestClient[Any, Any], **query: Any) -> list[str]:
    resp = await client.get("/api/v2/alerts", params=query)
    assert resp.status == 200, await resp.text()
    return sorted(f"{a['labels']['alertname']}/{a['labels'].get('instance', '')}"
                  for a in await resp.json())


async def test_alert_list_filters(make_router: Any, tmp_path: Path, clock: FakeClock) -> None:
    client, _ = await start(make_router, tmp_path)
    await post_alerts(
        client,
        v2_alert("HostDown", instance="h1", dc="eu"),  # inhibited by DatacenterDown
        v2_alert("HostDown", instance="h2", dc="us"),  # active
        v2_alert("DatacenterDown", dc="eu"),  # active
        v2_alert("PaymentsSlow", instance="p1", team="payments"),  # silenced
        v2_alert("Gone", instance="g1", starts=T0 - 60, ends=T0 - 1),  # resolved
    )
    await create_silence(client, [api_matcher("team", "payments")], T0, T0 + HOUR)
    everything = ["DatacenterDown/", "HostDown/h1", "HostDown/h2", "PaymentsSlow/p1"]
    assert await alert_names(client) == everything  # resolved alerts are not listed
    assert await alert_names(client, silenced="false") == [
        "DatacenterDown/", "HostDown/h1", "HostDown/h2"]
    assert await alert_names(client, inhibited="false") == [
        "DatacenterDown/", "HostDown/h2", "PaymentsSlow/p1"]
    assert await alert_names(client, active="false") == ["HostDown/h1", "PaymentsSlow/p1"]
    assert await alert_names(client, active="false", silenced="false",
                             inhibited="false") == []
    assert await alert_names(client, receiver="pay.*") == ["PaymentsSlow/p1"]
    assert await alert_names(client, receiver="pay") == []  # anchored, as in Alertmanager
    assert await alert_names(client, filter='alertname="HostDown"') == [
        "HostDown/h1", "HostDown/h2"]
    resp = await client.get("/api/v2/alerts",
                            params=[("filter", "alertname=HostDown"), ("filter", 'dc!="eu"')])
    assert [a["labels"]["instance"] for a in await resp.json()] == ["h2"]

    payments = (await (await client.get("/api/v2/alerts",
                                        params={"receiver": "payments"})).json())[0]
    assert payments["receivers"] == [{"name": "payments"}]
    assert payments["startsAt"] == format_time_ms(T0)
    for bad in ({"filter": "alertname=~("}, {"receiver": "("}, {"filter": '{alertname="x"}'}):
        resp = await client.get("/api/v2/alerts", params=bad)
        assert resp.status == 400, bad
        assert isinstance(await resp.json(), str)  # Alertmanager's JSON string
    # go-swagger booleans: a word that is not true-ish is false, never a 400.
    assert await alert_names(client, active="maybe") == ["HostDown/h1", "PaymentsSlow/p1"]


async def test_client_regexes_are_re2_linear_and_alertmanagers_syntax(
    make_router: Any, tmp_path: Path, clock: FakeClock
) -> None:
    client, state = await start(make_router, tmp_path)
    await post_alerts(client, v2_alert("Bomb", instance="i1", bomb="a" * 30),
                      v2_alert("Bomb", instance="i2", bomb="a" * 29 + "z"))
    # Backtracking engines take minutes on these; RE2 answers in linear time, correctly,
    # through an unauthenticated filter, the receiver filter and a silence.
    assert await alert_names(client, filter='bomb=~"(.*.*.*)*z"') == ["Bomb/i2"]
    assert await alert_names(client, filter='bomb!~"(.*.*.*)*z"') == ["Bomb/i1"]
    assert await alert_names(client, receiver="(.*.*.*)*t") == ["Bomb/i1", "Bomb/i2"]
    await create_silence(client, [api_matcher("bomb", "(.*.*.*)*z", regex=True)],
                         T0, T0 + HOUR)
    await run_until(state, clock, T0 + 1)
    assert await alert_names(client, silenced="false") == ["Bomb/i1"]
    # Alertmanager's syntax: `\pL`, and `a{,2}` as literal text.
    assert await alert_names(client, filter='bomb=~"\\pL{29}a"') == ["Bomb/i1"]
    assert await alert_names(client, filter='bomb=~"a{,2}"') == []

    for query in ({"filter": 'bomb=~"a++"'}, {"receiver": "a++"}):
        resp = await client.get("/api/v2/alerts", params=query)
        assert resp.status == 400
        answer = await resp.json()  # Alertmanager's JSON string, naming what it parsed
        assert answer.endswith("error parsing regexp: invalid nested repetition operator: "
                               "`++`"), answer
    status, answer = await post_silence(
        client, silence_body([api_matcher("bomb", "(a)\\1", regex=True)], T0, T0 + HOUR))
    assert status == 400
    assert answer == ('matchers[0].value: invalid regular expression '
                      '"(a)\\\\1": error parsing regexp: invalid escape sequence: `\\1`')


async def test_status_shape(make_router: Any, tmp_path: Path, clock: FakeClock) -> None:
    client, state = await start(make_router, tmp_path)
    resp = await client.get("/api/v2/status")
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"cluster", "versionInfo", "config", "uptime"}
    assert body["cluster"] == {"name": "alert-router", "status": "disabled", "peers": []}
    assert set(body["versionInfo"]) == {"version", "revision", "branch", "buildUser",
                                        "buildDate", "goVersion"}
    # Alertmanager's shape: the loaded config re-encoded (never the raw file), which loads
    # back to the same configuration.
    original = body["config"]["original"]
    assert original != CONFIG
    again = load_config_text(original, str(tmp_path / "again.yml"))
    assert replace(again, source_file=None) == replace(state.config, source_file=None)
    assert body["uptime"] == format_time_ms(T0)
    receivers = await (await client.get("/api/v2/receivers")).json()
    assert sorted(r["name"] for r in receivers) == ["default", "payments"]
