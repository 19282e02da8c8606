"""SqliteStore's dead letters: revive a dead row with a chosen budget, the newest dead row
per group channel, and removal after the retention."""

from __future__ import annotations

from dataclasses import replace

from router.storage import OutboxRow
from router.storage.sqlite import SqliteStore

T0 = 1_700_000_000.0
OWNER = "worker-1"


def row(**kw: object) -> OutboxRow:
    base = OutboxRow(
        id=0, receiver="team", channel="webhook", index=0, group_key="{}:{a}",
        payload=b"old", firing=frozenset({"aa"}), resolved=frozenset(), reason="first",
        priority=2, created_at=T0, ingested_at=T0,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def dead(store: SqliteStore, r: OutboxRow, attempts: int) -> OutboxRow:
    row_id = await store.outbox_insert(r, OWNER, T0 + 30)
    await store.outbox_dead(row_id, OWNER, attempts, "auth: 401")
    found = await store.outbox_get(row_id)
    assert found is not None
    return found


async def test_revive_keeps_the_id_and_takes_the_given_budget(store: SqliteStore) -> None:
    d = await dead(store, row(), 2)
    new = replace(row(payload=b"new", created_at=T0 + 50, next_attempt_at=T0 + 50),
                  id=d.id, attempts=d.attempts, created_at=d.created_at)
    revived = await store.outbox_revive(new, OWNER, T0 + 80)
    assert revived is not None
    assert (revived.id, revived.state, revived.attempts, revived.created_at,
            revived.payload, revived.next_attempt_at) == (d.id, "pending", 2, T0, b"new", T0 + 50)
    # Only a dead row revives; an impossible id names none.
    assert await store.outbox_revive(new, OWNER, T0 + 80) is None
    assert await store.outbox_revive(replace(new, id=2**64), OWNER, T0 + 80) is None


async def test_newest_dead_row_per_group_channel_and_retention(store: SqliteStore) -> None:
    old = await dead(store, row(), 3)
    newer = await dead(store, row(firing=frozenset({"bb"}), created_at=T0 + 100), 1)
    other = await dead(store, row(group_key="{}:{b}", created_at=T0 + 200), 1)
    assert [r.id for r in await store.outbox_dead_latest()] == [newer.id, other.id]

    assert await store.outbox_gc_dead(T0 + 150) == [(old.id, "webhook"), (newer.id, "webhook")]
    assert [r.id for r in await store.outbox_list("dead")] == [other.id]
    assert await store.outbox_counts() == {("webhook", "dead"): 1}
