"""The embedded SQLite store (aiosqlite, WAL): alerts, notification log, outbox, silences.

Writes go through one writer task that commits everything queued in one transaction
(group commit), because each awaited aiosqlite call costs a thread hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from router.errors import StoreUnavailable
from router.model import Alert, NflogEntry
from router.noise.silences import Silence, silence_from_record, silence_to_record
from router.storage import OutboxRow
from router.trace import TraceEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Stmt:
    table: str
    sql: str
    # Statements whose result a caller needs run one by one; the others batch in executemany.
    returns: bool = False


_OUTBOX_COLS = (
    "id, receiver, channel, idx, group_key, payload, firing, resolved, reason, priority,"
    " created_at, ingested_at, attempts, next_attempt_at, last_error, state, all_resolved,"
    " expires_in"
)
_ALERT_COLS = (
    "labels, annotations, starts_at, ends_at, generator_url, fingerprint, updated_at,"
    " timeout_end, source, received_at"
)
_NFLOG_COLS = "key, firing, resolved, sent_at, expires_at, data"

_UPSERT_ALERT = _Stmt(
    "alerts", f"INSERT OR REPLACE INTO alerts ({_ALERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_DELETE_ALERT = _Stmt("alerts", "DELETE FROM alerts WHERE fingerprint = ?")
_OUTBOX_INSERT = _Stmt(
    "outbox", f"INSERT INTO outbox ({_OUTBOX_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_OUTBOX_REPLACE = _Stmt(
    "outbox",
    "UPDATE outbox SET payload = ?, firing = ?, resolved = ?, reason = ?, priority = ?,"
    " ingested_at = ?, all_resolved = ?, expires_in = ? WHERE id = ? AND state = 'pending'",
)
_OUTBOX_RESCHEDULE = _Stmt(
    "outbox", "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?"
)
_OUTBOX_DEAD = _Stmt(
    "outbox", "UPDATE outbox SET state = 'dead', attempts = ?, last_error = ? WHERE id = ?"
)
_OUTBOX_REQUEUE = _Stmt(
    "outbox",
    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?"
    f" WHERE id = ? AND state = 'dead' RETURNING {_OUTBOX_COLS}",
    returns=True,
)
_OUTBOX_DELETE = _Stmt("outbox", "DELETE FROM outbox WHERE id = ?")
_NFLOG_UPSERT = _Stmt(
    "nflog", f"INSERT OR REPLACE INTO nflog ({_NFLOG_COLS}) VALUES (?,?,?,?,?,?)"
)
_NFLOG_GC = _Stmt("nflog", "DELETE FROM nflog WHERE expires_at <= ? RETURNING key", returns=True)
_SILENCE_UPSERT = _Stmt(
    "silences", "INSERT OR REPLACE INTO silences (id, body, ends_at) VALUES (?,?,?)"
)
_SILENCE_DELETE = _Stmt("silences", "DELETE FROM silences WHERE id = ?")

# Tables share no keys or constraints, so within one transaction only the order of the
# operations on each table matters; grouping per table lets interleaved writers batch.
_TRACE_APPEND = _Stmt(
    "trace", "INSERT INTO trace (fingerprint, at, kind, detail) VALUES (?,?,?,?)"
)
_TRACE_GC_AGE = _Stmt("trace", "DELETE FROM trace WHERE at < ? RETURNING id", returns=True)
# Keep the newest `cap` events per alert (window functions: SQLite 3.25+).
_TRACE_GC_CAP = _Stmt(
    "trace",
    "DELETE FROM trace WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
    "PARTITION BY fingerprint ORDER BY id DESC) AS n FROM trace) WHERE n > ?) RETURNING id",
    returns=True,
)
_TABLES = ("alerts", "outbox", "nflog", "silences", "trace")


@dataclass(frozen=True, slots=True)
class _Op:
    stmt: _Stmt
    params: tuple[Any, ...]
    future: asyncio.Future[Any] | None


# Built once: json.dumps() with non-default options builds a new encoder on every call.
def _dumps(value: Any) -> str:
    """Compact JSON text (orjson: several times faster than json on the write path)."""
    return orjson.dumps(value).decode()


def _set_json(values: frozenset[str]) -> str:
    return _dumps(sorted(values))


def _alert_params(a: Alert) -> tuple[Any, ...]:
    return (
        _dumps(dict(a.labels)), _dumps(dict(a.annotations)), a.starts_at, a.ends_at,
        a.generator_url, a.fingerprint, a.updated_at, int(a.timeout_end), a.source,
        a.received_at,
    )


def _alert_from_row(r: Sequence[Any]) -> Alert:
    return Alert(
        labels=json.loads(r[0]), annotations=json.loads(r[1]), starts_at=r[2], ends_at=r[3],
        generator_url=r[4], fingerprint=r[5], updated_at=r[6], timeout_end=bool(r[7]),
        source=r[8], received_at=r[9],
    )


def _nflog_params(e: NflogEntry) -> tuple[Any, ...]:
    return (
        e.key, _set_json(e.firing), _set_json(e.resolved), e.sent_at, e.expires_at,
        _dumps(dict(e.data)),
    )


def _nflog_from_row(r: Sequence[Any]) -> NflogEntry:
    return NflogEntry(
        key=r[0], firing=frozenset(json.loads(r[1])), resolved=frozenset(json.loads(r[2])),
        sent_at=r[3], expires_at=r[4], data=json.loads(r[5]),
    )


def _silence_params(s: Silence) -> tuple[Any, ...]:
    return (s.id, _dumps(silence_to_record(s)), s.ends_at)


def _outbox_params(o: OutboxRow) -> tuple[Any, ...]:
    return (
        o.id, o.receiver, o.channel, o.index, o.group_key, o.payload, _set_json(o.firing),
        _set_json(o.resolved), o.reason, o.priority, o.created_at, o.ingested_at, o.attempts,
        o.next_attempt_at, o.last_error, o.state, int(o.all_resolved), o.expires_in,
    )


def _outbox_from_row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        id=r[0], receiver=r[1], channel=r[2], index=r[3], group_key=r[4], payload=bytes(r[5]),
        firing=frozenset(json.loads(r[6])), resolved=frozenset(json.loads(r[7])), reason=r[8],
        priority=r[9], created_at=r[10], ingested_at=r[11], attempts=r[12],
        next_attempt_at=r[13], last_error=r[14], state=r[15], all_resolved=bool(r[16]),
        expires_in=r[17],
    )


def _runs(ops: Iterable[tuple[int, _Op]]) -> list[list[tuple[int, _Op]]]:
    """Split into runs of consecutive operations using the same statement."""
    runs: list[list[tuple[int, _Op]]] = []
    for item in ops:
        if runs and runs[-1][0][1].stmt is item[1].stmt:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


class _JsonText:
    """Encoded by sqlite3 in the database thread (`__conform__`), not on the event loop."""

    __slots__ = ("value",)

    def __init__(self, value: Mapping[str, Any]) -> None:
        self.value = value

    def __conform__(self, protocol: object) -> str:
        return _dumps(dict(self.value))


def _run_transaction(
    db: sqlite3.Connection, plan: list[tuple[_Stmt, tuple[Any, ...]]]
) -> dict[int, Any]:
    """Runs in the database thread: one transaction, consecutive equal statements batched
    into `executemany`, tables in a fixed order (they share no keys, so only the order of
    writes within a table matters, and that is kept)."""
    results: dict[int, Any] = {}
    indexed = [(i, _Op(stmt, params, None)) for i, (stmt, params) in enumerate(plan)]
    db.execute("BEGIN IMMEDIATE")
    try:
        for table in _TABLES:
            for run in _runs(item for item in indexed if item[1].stmt.table == table):
                stmt = run[0][1].stmt
                if not stmt.returns:
                    db.executemany(stmt.sql, [op.params for _, op in run])
                    continue
                for i, op in run:
                    results[i] = db.execute(stmt.sql, op.params).fetchall()
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (e.g. SQLITE_FULL); rollback is then a no-op.
        with contextlib.suppress(Exception):
            db.execute("ROLLBACK")
        raise
    return results


def _read_migrations() -> list[tuple[int, str]]:
    """Numbered `NNN_name.sql` files shipped inside the package."""
    found = []
    for entry in (resources.files(__package__ or "router.storage") / "migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


class SqliteStore:
    """Implements `router.storage.Store` on one aiosqlite connection."""

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._conn: aiosqlite.Connection | None = None
        self._closing = False
        self._queue: list[_Op] = []
        self._wakeup = asyncio.Event()
        # Held for each write transaction and each read, so that a read on the shared
        # connection never sees a batch that is still uncommitted (and may roll back).
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._next_id = 1
        self._last_error: str | None = None
        self.transactions = 0  # committed write transactions (for tests and benchmarks)

    # --- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None or self._closing:
            raise RuntimeError("SqliteStore.open() called twice")
        try:
            conn = await aiosqlite.connect(self._path, isolation_level=None)
        except Exception as exc:  # sqlite3.Error or an unusable path
            raise StoreUnavailable(f"cannot open database: {exc}") from exc
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA busy_timeout=5000")
            await self._migrate(conn)
            rows = await conn.execute_fetchall("SELECT COALESCE(MAX(id), 0) + 1 FROM outbox")
        except BaseException:
            await conn.close()
            raise
        self._next_id = int(next(iter(rows))[0])
        self._conn = conn
        self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        migrations = await asyncio.to_thread(_read_migrations)
        rows = await conn.execute_fetchall("PRAGMA user_version")
        current = int(next(iter(rows))[0])
        latest = migrations[-1][0] if migrations else 0
        if current > latest:
            raise StoreUnavailable(
                f"database schema version {current} is newer than this router's ({latest})"
            )
        for version, sql in migrations:
            if version <= current:
                continue
            # user_version lives in the database header and is transactional, so a
            # migration and its version number land together or not at all.
            script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
            try:
                await conn.executescript(script)
            except BaseException:
                await conn.rollback()
                raise

    async def close(self) -> None:
        """Flush queued writes, then close the connection."""
        self._closing = True
        self._wakeup.set()
        if self._writer is not None:
            # asyncio.wait, not await: a writer that was cancelled must not fail close().
            await asyncio.wait([self._writer])
            self._writer = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    # --- the writer -----------------------------------------------------------------

    async def _submit(self, ops: list[tuple[_Stmt, tuple[Any, ...]]]) -> Any:
        """Queue `ops` for the next transaction; returns the last op's result once committed."""
        return await self._queue_ops(ops)

    def _queue_ops(self, ops: list[tuple[_Stmt, tuple[Any, ...]]]) -> asyncio.Future[Any]:
        """Like `_submit`, but hands back the commit's future itself: the hot-path writes
        return it, so a caller that does not wait (an outcome, a trace row) costs no task."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._closing or self._conn is None:
            future.set_exception(StoreUnavailable("store is closed"))
            return future
        if not ops:
            future.set_result(None)
            return future
        last = len(ops) - 1
        self._queue.extend(
            _Op(stmt, params, future if i == last else None) for i, (stmt, params) in enumerate(ops)
        )
        self._wakeup.set()
        return future

    async def _write_loop(self) -> None:
        try:
            while True:
                if not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                ops, self._queue = self._queue, []
                await self._write_batch(ops)
        finally:
            # Cancelled or done: nobody will write what is left, so nobody may wait on it.
            self._closing = True
            ops, self._queue = self._queue, []
            _fail(ops, "store is closed")

    async def _write_batch(self, ops: list[_Op]) -> None:
        async with self._lock:
            try:
                results = await self._transaction(ops)
            except asyncio.CancelledError:
                _fail(ops, "store is closed")
                raise
            except Exception as exc:  # task boundary: every caller gets StoreUnavailable
                message = f"{type(exc).__name__}: {exc}"
                level = logging.DEBUG if message == self._last_error else logging.WARNING
                log.log(level, "store write failed", extra={"ops": len(ops), "error": message})
                self._last_error = message
                _fail(ops, message, cause=exc)
                return
        self._last_error = None
        self.transactions += 1
        for i, op in enumerate(ops):
            if op.future is not None and not op.future.done():
                op.future.set_result(results.get(i))

    async def _transaction(self, ops: list[_Op]) -> dict[int, Any]:
        conn = self._conn
        if conn is None:
            raise StoreUnavailable("store is closed")
        plan = [(op.stmt, op.params) for op in ops]
        # The whole transaction runs in aiosqlite's thread in ONE hop: awaiting each
        # statement would cost a thread hop (and an event-loop turn) per statement, which
        # under load made every commit wait several busy loop iterations.
        result: dict[int, Any] = await conn._execute(  # type: ignore[no-untyped-call]
            _run_transaction, conn._conn, plan
        )
        return result

    # --- reads ----------------------------------------------------------------------

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            if self._conn is None:
                raise StoreUnavailable("store is closed")
            return list(await self._conn.execute_fetchall(sql, params))

    # --- AlertStore -----------------------------------------------------------------

    def upsert_alerts(self, alerts: Sequence[Alert]) -> Awaitable[None]:
        return self._queue_ops([(_UPSERT_ALERT, _alert_params(a)) for a in alerts])

    def delete_alerts(self, fingerprints: Sequence[str]) -> Awaitable[None]:
        return self._queue_ops([(_DELETE_ALERT, (fp,)) for fp in fingerprints])

    async def load_alerts(self) -> list[Alert]:
        return [_alert_from_row(r) for r in await self._read(f"SELECT {_ALERT_COLS} FROM alerts")]

    # --- NflogStore ------------------------------------------------------------------

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        rows = await self._read(f"SELECT {_NFLOG_COLS} FROM nflog WHERE expires_at > ?", (now,))
        return [_nflog_from_row(r) for r in rows]

    def record_nflog(self, entry: NflogEntry) -> Awaitable[None]:
        return self._queue_ops([(_NFLOG_UPSERT, _nflog_params(entry))])

    async def gc_nflog(self, now: float) -> int:
        return len(await self._submit([(_NFLOG_GC, (now,))]))

    # --- Outbox ---------------------------------------------------------------------

    def next_id(self) -> int:
        row_id = self._next_id
        self._next_id += 1
        return row_id

    def outbox_insert(self, row: OutboxRow) -> Awaitable[None]:
        return self._queue_ops([(_OUTBOX_INSERT, _outbox_params(row))])

    def outbox_replace(self, row: OutboxRow) -> Awaitable[None]:
        params = (
            row.payload, _set_json(row.firing), _set_json(row.resolved), row.reason,
            row.priority, row.ingested_at, int(row.all_resolved), row.expires_in, row.id,
        )
        return self._queue_ops([(_OUTBOX_REPLACE, params)])

    def outbox_delivered(self, row_id: int, entry: NflogEntry) -> Awaitable[None]:
        # One submission lands in one transaction: "delivered" and "logged" never disagree.
        return self._queue_ops(
            [(_OUTBOX_DELETE, (row_id,)), (_NFLOG_UPSERT, _nflog_params(entry))])

    def outbox_discard(self, row_id: int) -> Awaitable[None]:
        return self._queue_ops([(_OUTBOX_DELETE, (row_id,))])

    def outbox_reschedule(
        self, row_id: int, attempts: int, next_attempt_at: float, last_error: str | None
    ) -> Awaitable[None]:
        return self._queue_ops(
            [(_OUTBOX_RESCHEDULE, (attempts, next_attempt_at, last_error, row_id))])

    def outbox_dead(self, row_id: int, attempts: int, last_error: str | None) -> Awaitable[None]:
        return self._queue_ops([(_OUTBOX_DEAD, (attempts, last_error, row_id))])

    async def outbox_requeue(self, row_id: int, now: float) -> OutboxRow | None:
        rows = await self._submit([(_OUTBOX_REQUEUE, (now, row_id))])
        return _outbox_from_row(rows[0]) if rows else None

    async def outbox_load_pending(self) -> list[OutboxRow]:
        rows = await self._read(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE state = 'pending' ORDER BY id"
        )
        return [_outbox_from_row(r) for r in rows]

    async def outbox_list(self, state: str, limit: int = 100) -> list[OutboxRow]:
        rows = await self._read(
            f"SELECT {_OUTBOX_COLS} FROM outbox WHERE state = ? ORDER BY id LIMIT ?",
            (state, limit),
        )
        return [_outbox_from_row(r) for r in rows]

    async def outbox_get(self, row_id: int) -> OutboxRow | None:
        rows = await self._read(f"SELECT {_OUTBOX_COLS} FROM outbox WHERE id = ?", (row_id,))
        return _outbox_from_row(rows[0]) if rows else None

    async def outbox_counts(self) -> dict[tuple[str, str], int]:
        rows = await self._read("SELECT channel, state, COUNT(*) FROM outbox GROUP BY 1, 2")
        return {(r[0], r[1]): int(r[2]) for r in rows}

    # --- SilenceStore ---------------------------------------------------------------

    def upsert_silences(self, silences: Sequence[Silence]) -> Awaitable[None]:
        return self._queue_ops([(_SILENCE_UPSERT, _silence_params(s)) for s in silences])

    async def load_silences(self) -> list[Silence]:
        rows = await self._read("SELECT body FROM silences ORDER BY id")
        return [silence_from_record(json.loads(r[0])) for r in rows]

    def delete_silences(self, ids: Sequence[str]) -> Awaitable[None]:
        return self._queue_ops([(_SILENCE_DELETE, (sid,)) for sid in ids])

    # --- TraceStore -----------------------------------------------------------------

    def append_trace(self, events: Sequence[TraceEvent]) -> Awaitable[None]:
        return self._queue_ops([
            (_TRACE_APPEND, (e.fingerprint, e.at, e.kind, _JsonText(e.detail))) for e in events
        ])

    async def load_trace(self, fingerprint: str, limit: int) -> list[TraceEvent]:
        rows = await self._read(
            "SELECT at, kind, detail FROM trace WHERE fingerprint = ? ORDER BY id DESC LIMIT ?",
            (fingerprint, limit),
        )
        return [TraceEvent(fingerprint, at, kind, json.loads(detail))
                for at, kind, detail in reversed(rows)]

    async def gc_trace(self, before: float, cap: int) -> int:
        aged = await self._submit([(_TRACE_GC_AGE, (before,))])
        capped = await self._submit([(_TRACE_GC_CAP, (cap,))])
        return len(aged or []) + len(capped or [])

    # --- test hooks -----------------------------------------------------------------

    async def set_max_page_count(self, pages: int) -> int:
        """Cap the database size (tests use it to make commits fail with SQLITE_FULL)."""
        rows = await self._read(f"PRAGMA max_page_count = {int(pages)}")
        return int(rows[0][0])

    async def page_count(self) -> int:
        rows = await self._read("PRAGMA page_count")
        return int(rows[0][0])


def _fail(ops: Iterable[_Op], message: str, cause: BaseException | None = None) -> None:
    """Resolve every waiting caller of `ops` with its own StoreUnavailable."""
    for op in ops:
        if op.future is not None and not op.future.done():
            exc = StoreUnavailable(message)
            exc.__cause__ = cause
            op.future.set_exception(exc)
