"""Group commit isolation: one caller's bad values fail that caller only (issue 11 item 3).

Many callers' writes share one transaction; a statement refused for its own values (an
integer beyond 64 bits, a constraint) rolls back that caller's writes alone, with
StoreRejected, and every other caller's writes in the same transaction commit. A fault of
the store itself still fails everyone with StoreUnavailable.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from conftest import wait_until

from router.errors import InputError, StoreRejected, StoreUnavailable
from router.model import Alert, make_alert
from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

T0 = 1_700_000_000.25
OWNER = "worker-1"


def alert(name: str) -> Alert:
    return make_alert({"alertname": name}, {}, T0, None, "", T0)


def row(**kw: Any) -> OutboxRow:
    base = OutboxRow(
        id=0, receiver="team", channel="slack", index=0, group_key="{}:{}",
        payload=b"{}", firing=frozenset({"aa"}), resolved=frozenset(), reason="first",
        priority=2, created_at=T0, ingested_at=T0,
    )
    return replace(base, **kw)


async def batched(store: SqliteStore, *writes: Any) -> list[Any]:
    """Run `writes` (awaitables queued at the call) in ONE transaction, and their results."""
    before = store.transactions
    async with store.writes_held():
        futures = [asyncio.ensure_future(w) for w in writes]
        await wait_until(lambda: store.queued_writes() == len(writes), "the writes queued")
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert store.transactions == before + 1
    return results


async def test_a_bad_value_fails_only_its_caller(store: SqliteStore) -> None:
    good = [alert(f"A{i}") for i in range(15)]
    results = await batched(
        store,
        *(store.upsert_alerts([a]) for a in good[:7]),
        # An integer beyond SQLite's 64 bits, as `/deliveries/99999999999999999999` was.
        store.outbox_insert(row(priority=10**20), OWNER, T0 + 30),
        store.outbox_insert(row(), OWNER, T0 + 30),
        *(store.upsert_alerts([a]) for a in good[7:]),
    )
    bad = results[7]
    assert isinstance(bad, StoreRejected)
    assert isinstance(bad, InputError)  # a 4xx at the web edge, never a 503
    assert not isinstance(bad, StoreUnavailable)
    others = results[:7] + results[8:]
    assert not [r for r in others if isinstance(r, BaseException)], others
    assert len(await store.load_alerts()) == 15
    pending = await store.outbox_load_pending()
    assert [r.id for r in pending] == [results[8]]  # the good insert learnt its own id


async def test_a_failing_caller_keeps_none_of_its_writes(store: SqliteStore) -> None:
    kept = alert("kept")
    first = alert("first-of-bad")
    # One caller, two statements: the second is refused, so the first is rolled back too.
    broken = replace(alert("second-of-bad"), updated_at=2**64)
    results = await batched(
        store,
        store.upsert_alerts([first, broken]),
        store.upsert_alerts([kept]),
    )
    assert isinstance(results[0], StoreRejected)
    assert results[1] is None
    assert [a.labels["alertname"] for a in await store.load_alerts()] == ["kept"]


async def test_an_impossible_id_names_no_row_and_disturbs_nobody(store: SqliteStore) -> None:
    results = await batched(
        store,
        store.upsert_alerts([alert("A")]),
        store.outbox_insert(row(), OWNER, T0 + 30),
    )
    assert results[0] is None
    for bad_id in (99999999999999999999, 2**63, 0, -1):
        assert await store.outbox_requeue(bad_id, T0, OWNER, T0 + 30) is None
        assert await store.outbox_get(bad_id) is None
    assert len(await store.load_alerts()) == 1


async def test_a_store_fault_still_fails_every_caller(store: SqliteStore) -> None:
    await store.upsert_alerts([alert("kept")])
    await store.set_max_page_count(await store.page_count())
    big = [replace(alert(f"big{i}"), annotations={"d": "x" * 2000}) for i in range(200)]
    async with store.writes_held():
        futures = [asyncio.ensure_future(store.upsert_alerts(big)),
                   asyncio.ensure_future(store.outbox_insert(row(priority=10**20), OWNER, 0)),
                   asyncio.ensure_future(store.upsert_alerts([alert("small")]))]
        await wait_until(lambda: store.queued_writes() == 3, "the writes queued")
    results = await asyncio.gather(*futures, return_exceptions=True)
    # The full disk may be met before or after the bad value: either way it is the
    # store's fault, so nobody's writes are kept and the good callers get a 503.
    assert isinstance(results[0], StoreUnavailable)
    assert isinstance(results[2], StoreUnavailable)
    await store.set_max_page_count(1_000_000)
    assert [a.labels["alertname"] for a in await store.load_alerts()] == ["kept"]
