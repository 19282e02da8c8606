"""The outbox half of the SQLite store: pending rows with claims (leases), dead letters.

A worker sends a row only while it holds the row's lease (`lease_owner` until
`lease_until`). Rows a worker queues itself are inserted already leased to it, so the hot
path costs no extra statement; rows from elsewhere (another process, a restart, an expired
lease) are claimed with `outbox_lease`, one `UPDATE ... RETURNING` in one transaction, so
two workers on one database never hold the same row at once. Every owner-scoped write
changes the row only while that owner still holds it. Ids are assigned by SQLite
(`INTEGER PRIMARY KEY AUTOINCREMENT`), and inserts are still batched in group commits.
A row taken over from a holder that died mid-attempt is marked `in_doubt` (it may have been
sent): the sending channel can then look for that send before sending again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from router.events.model import Event
from router.model import NflogEntry
from router.storage.protocols import OutboxRow
from router.storage.records import (
    NFLOG_COLS,
    OUTBOX_COLS,
    OUTBOX_INSERT_COLS,
    nflog_params,
    outbox_content_params,
    outbox_from_row,
    outbox_insert_params,
)
from router.storage.sqlite_tx import Plan, Stmt

T = TypeVar("T")

# Row ids are positive 64-bit SQLite integers: any other id names no row. Checked before a
# statement is queued, so an impossible id never reaches a shared transaction.
_MAX_ID = 2**63 - 1


def _valid_id(row_id: int) -> bool:
    return isinstance(row_id, int) and 0 < row_id <= _MAX_ID

NFLOG_UPSERT = Stmt("nflog", f"INSERT OR REPLACE INTO nflog ({NFLOG_COLS}) VALUES (?,?,?,?,?,?)")
_HELD = "lease_owner = ?"
_INSERT = Stmt(
    "outbox",
    f"INSERT INTO outbox ({OUTBOX_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    rowids=True,
)
_REPLACE = Stmt(
    "outbox",
    "UPDATE outbox SET payload = ?, firing = ?, resolved = ?, reason = ?, priority = ?,"
    " ingested_at = ?, all_resolved = ?, expires_in = ?"
    f" WHERE id = ? AND state = 'pending' AND {_HELD}",
)
# A row taken from another holder whose lease ran out is in doubt if it was due before
# that lease ended: the holder may have sent it and died before recording the outcome (it
# sends nothing after its own lease ends). SET expressions read the row before the update.
_DOUBT = ("in_doubt = in_doubt OR (lease_owner IS NOT NULL AND lease_owner != ?"
          " AND next_attempt_at < lease_until)")
# Due, pending and unheld (or the holder's lease ran out): most urgent first.
_LEASE = Stmt(
    "outbox",
    f"UPDATE outbox SET lease_owner = ?, lease_until = ?, {_DOUBT} WHERE id IN ("
    " SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?"
    " AND (lease_owner IS NULL OR lease_until <= ?)"
    f" ORDER BY priority, next_attempt_at, id LIMIT ?) RETURNING {OUTBOX_COLS}",
    returns=True,
)
# Start-up: every pending row nobody holds, due or not (a row keeps its backoff).
_ADOPT = Stmt(
    "outbox",
    f"UPDATE outbox SET lease_owner = ?, lease_until = ?, {_DOUBT} WHERE state = 'pending'"
    f" AND (lease_owner IS NULL OR lease_until <= ?) RETURNING {OUTBOX_COLS}",
    returns=True,
)
_RENEW = Stmt(
    "outbox",
    f"UPDATE outbox SET lease_until = ? WHERE {_HELD} AND state = 'pending' RETURNING id",
    returns=True,
)
_NEXT_CLAIMABLE = Stmt(
    "outbox",
    "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) FROM outbox"
    " WHERE state = 'pending' AND (lease_owner IS NULL OR lease_owner != ? OR lease_until <= ?)",
    returns=True,
)
_DELETE = Stmt("outbox", f"DELETE FROM outbox WHERE id = ? AND {_HELD}")
_ACK_DELETE = Stmt(
    "outbox", f"DELETE FROM outbox WHERE id = ? AND {_HELD} RETURNING id", returns=True
)
_ACK_NFLOG = Stmt("nflog", NFLOG_UPSERT.sql, guarded=True)
_RESCHEDULE = Stmt(
    "outbox",
    f"UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND {_HELD}",
)
_DEAD = Stmt(
    "outbox",
    "UPDATE outbox SET state = 'dead', attempts = ?, last_error = ?, lease_owner = NULL,"
    f" lease_until = NULL WHERE id = ? AND {_HELD}",
)
_CUT_SHORT = Stmt("outbox", f"UPDATE outbox SET in_doubt = 1 WHERE id = ? AND {_HELD}")
# The first parameter: whether the owner died (its due rows become in doubt, see _DOUBT).
_RELEASE = Stmt(
    "outbox",
    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL,"
    f" in_doubt = in_doubt OR (? AND next_attempt_at < lease_until) WHERE {_HELD}",
)
_REQUEUE = Stmt(
    "outbox",
    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = ?,"
    f" lease_until = ? WHERE id = ? AND state = 'dead' RETURNING {OUTBOX_COLS}",
    returns=True,
)

# A dead row that a re-flush of the same state joins (router/delivery/dead.py): pending
# again with the new content, the budget (attempts, created_at) the caller decides.
_REVIVE = Stmt(
    "outbox",
    "UPDATE outbox SET attempts = ?, created_at = ?, next_attempt_at = ?, lease_owner = ?,"
    " lease_until = ?, state = 'pending', payload = ?, firing = ?, resolved = ?, reason = ?,"
    " priority = ?, ingested_at = ?, all_resolved = ?, expires_in = ?"
    f" WHERE id = ? AND state = 'dead' RETURNING {OUTBOX_COLS}",
    returns=True,
)
_DEAD_GC = Stmt(
    "outbox", "DELETE FROM outbox WHERE state = 'dead' AND created_at < ? RETURNING id, channel",
    returns=True,
)


def _mapped(source: asyncio.Future[Any], convert: Callable[[Any], T]) -> asyncio.Future[T]:
    """A future resolving to `convert(result)`: no task on the hot path."""
    out: asyncio.Future[T] = source.get_loop().create_future()

    def done(f: asyncio.Future[Any]) -> None:
        if out.done():
            return
        if f.cancelled():
            out.cancel()
        elif (exc := f.exception()) is not None:
            out.set_exception(exc)
        else:
            out.set_result(convert(f.result()))

    source.add_done_callback(done)
    return out


def _rows(result: Sequence[Any] | None) -> list[OutboxRow]:
    rows = [outbox_from_row(r) for r in result or ()]
    rows.sort(key=lambda r: (r.priority, r.next_attempt_at, r.id))
    return rows


class SqliteOutbox:
    """Implements `router.storage.Outbox` on the store's group-commit writer."""

    def _queue_ops(self, ops: Plan, events: Sequence[Event] = ()) -> asyncio.Future[Any]:
        raise NotImplementedError

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def outbox_insert(self, row: OutboxRow, owner: str, lease_until: float,
                      events: Sequence[Event] = ()) -> Awaitable[int]:
        # Resolves to the row's id (see `Stmt.rowids`): no extra future on the hot path.
        fut: asyncio.Future[int] = self._queue_ops(
            [(_INSERT, outbox_insert_params(row, owner, lease_until))], events)
        return fut

    def outbox_replace(self, row: OutboxRow, owner: str, events: Sequence[Event] = ()
                       ) -> Awaitable[None]:
        return self._queue_ops([(_REPLACE, (*outbox_content_params(row), owner))], events)

    def outbox_lease(
        self, owner: str, limit: int, now: float, ttl: float
    ) -> Awaitable[list[OutboxRow]]:
        fut = self._queue_ops([(_LEASE, (owner, now + ttl, owner, now, now, limit))])
        return _mapped(fut, _rows)

    def outbox_adopt(self, owner: str, now: float, ttl: float) -> Awaitable[list[OutboxRow]]:
        fut = self._queue_ops([(_ADOPT, (owner, now + ttl, owner, now))])
        return _mapped(fut, _rows)

    async def outbox_lease_owners(self, now: float) -> list[str]:
        rows = await self._read(
            "SELECT DISTINCT lease_owner FROM outbox WHERE state = 'pending'"
            " AND lease_owner IS NOT NULL AND lease_until > ?", (now,))
        return [r[0] for r in rows]

    def outbox_renew(self, owner: str, until: float) -> Awaitable[list[int]]:
        fut = self._queue_ops([(_RENEW, (until, owner))])
        return _mapped(fut, lambda result: [int(r[0]) for r in result or ()])

    def outbox_next_claimable(self, owner: str, now: float) -> Awaitable[float | None]:
        fut = self._queue_ops([(_NEXT_CLAIMABLE, (owner, now))])
        return _mapped(fut, lambda result: None if not result else result[0][0])

    def outbox_ack(self, row_id: int, owner: str, entry: NflogEntry,
                   events: Sequence[Event] = ()) -> Awaitable[None]:
        # One submission lands in one transaction: "delivered" and "logged" never disagree.
        # A worker that lost its lease changes nothing: the row's holder sends it and logs.
        return self._queue_ops(
            [(_ACK_DELETE, (row_id, owner)), (_ACK_NFLOG, nflog_params(entry))], events)

    def outbox_discard(self, row_id: int, owner: str) -> Awaitable[None]:
        return self._queue_ops([(_DELETE, (row_id, owner))])

    def outbox_reschedule(
        self, row_id: int, owner: str, at: float, attempts: int, last_error: str | None,
        events: Sequence[Event] = (),
    ) -> Awaitable[None]:
        return self._queue_ops(
            [(_RESCHEDULE, (attempts, at, last_error, row_id, owner))], events)

    def outbox_dead(
        self, row_id: int, owner: str, attempts: int, last_error: str | None,
        events: Sequence[Event] = (),
    ) -> Awaitable[None]:
        return self._queue_ops([(_DEAD, (attempts, last_error, row_id, owner))], events)

    def outbox_release(self, owner: str, in_doubt: bool = False,
                       cut_short: Sequence[int] = ()) -> Awaitable[None]:
        doubts: Plan = [(_CUT_SHORT, (row_id, owner)) for row_id in cut_short
                        if _valid_id(row_id)]
        return self._queue_ops([*doubts, (_RELEASE, (int(in_doubt), owner))])

    async def outbox_requeue(
        self, row_id: int, now: float, owner: str, lease_until: float
    ) -> OutboxRow | None:
        if not _valid_id(row_id):
            return None
        rows = await self._queue_ops([(_REQUEUE, (now, owner, lease_until, row_id))])
        return outbox_from_row(rows[0]) if rows else None

    async def outbox_revive(self, row: OutboxRow, owner: str, lease_until: float,
                            events: Sequence[Event] = ()) -> OutboxRow | None:
        if not _valid_id(row.id):
            return None
        rows = await self._queue_ops([(_REVIVE, (
            row.attempts, row.created_at, row.next_attempt_at, owner, lease_until,
            *outbox_content_params(row)))], events)
        return outbox_from_row(rows[0]) if rows else None

    async def outbox_dead_latest(self) -> list[OutboxRow]:
        rows = await self._read(
            f"SELECT {OUTBOX_COLS} FROM outbox WHERE id IN (SELECT MAX(id) FROM outbox"
            " WHERE state = 'dead' GROUP BY receiver, channel, idx, group_key, recipient)"
            " ORDER BY id")
        return [outbox_from_row(r) for r in rows]

    async def outbox_gc_dead(self, before: float) -> list[tuple[int, str]]:
        rows = await self._queue_ops([(_DEAD_GC, (before,))])
        return [(int(r[0]), str(r[1])) for r in rows or ()]

    async def outbox_load_pending(self) -> list[OutboxRow]:
        rows = await self._read(
            f"SELECT {OUTBOX_COLS} FROM outbox WHERE state = 'pending' ORDER BY id"
        )
        return [outbox_from_row(r) for r in rows]

    async def outbox_list(self, state: str, limit: int = 100) -> list[OutboxRow]:
        rows = await self._read(
            f"SELECT {OUTBOX_COLS} FROM outbox WHERE state = ? ORDER BY id LIMIT ?",
            (state, limit),
        )
        return [outbox_from_row(r) for r in rows]

    async def outbox_get(self, row_id: int) -> OutboxRow | None:
        if not _valid_id(row_id):
            return None
        rows = await self._read(f"SELECT {OUTBOX_COLS} FROM outbox WHERE id = ?", (row_id,))
        return outbox_from_row(rows[0]) if rows else None

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._read("SELECT channel, state, COUNT(*) FROM outbox GROUP BY 1, 2")
        return {(r[0], r[1]): int(r[2]) for r in rows}
