"""Over HTTP: one request's bad write never fails another's (issue 11 item 3).

Fifteen ingests share a group commit with a write the store refuses for its own values:
every ingest answers 200 and its alert is kept; the giant-id retry answers 404.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from conftest import wait_until
from test_app import slack_config

from router.errors import StoreRejected
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore


async def test_a_refused_write_fails_only_its_own_request(make_router: Any) -> None:
    client, state = await make_router(slack_config("http://127.0.0.1:9/hook"))
    store = state.store
    assert isinstance(store, SqliteStore)
    now = state.clock.now()
    bad = OutboxRow(id=0, receiver="default", channel="slack", index=0, group_key="{}:{}",
                    payload=b"{}", firing=frozenset(), resolved=frozenset(), reason="first",
                    priority=2, created_at=now, ingested_at=now)
    async with store.writes_held():
        ingests = [asyncio.ensure_future(client.post(
            "/api/v2/alerts", json=[{"labels": {"alertname": f"A{i}"}}])) for i in range(15)]
        retry = asyncio.ensure_future(
            client.post("/api/v1/deliveries/99999999999999999999/retry"))
        refused = asyncio.ensure_future(
            store.outbox_insert(replace(bad, priority=10**20), "owner", now + 30))
        await wait_until(lambda: store.queued_writes("alerts") == 15 and retry.done(),
                         "every ingest's write queued")
    assert (await retry).status == 404
    assert [r.status for r in await asyncio.gather(*ingests)] == [200] * 15
    try:
        await refused
    except StoreRejected:
        pass
    else:
        raise AssertionError("the out-of-range write was stored")
    alerts = await (await client.get("/api/v1/alerts")).json()
    assert len(alerts) == 15
