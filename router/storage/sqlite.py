"""The embedded SQLite store (aiosqlite, WAL): alerts, notification log, outbox, silences,
Web Push subscriptions.

Writes go through one writer task that commits everything queued in one transaction
(group commit, `sqlite_tx`), because each awaited aiosqlite call costs a thread hop. Writes
are queued at the call and hand back the commit's future, so a caller that does not wait
creates no task. The outbox's statements and claims live in `sqlite_outbox`, the row
codecs in `records`.

Store faults heal by themselves: a commit that fails for a fault of the store (read-only,
full, locked, I/O) marks the store unhealthy (`healthy`, which `/-/ready` reads); while it
is, every batch first reopens the connection (a connection SQLite opened read-only stays
read-only even once the filesystem is writable again), and with no writes queued the
writer probes with a tiny commit every `probe_interval` seconds. The first commit that
succeeds makes the store healthy again. Meanwhile its failures are logged once per cause a
minute, with their count (router/logs.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from router.errors import StoreRejected
from router.events.model import Event
from router.logs import RepeatLog
from router.model import Alert, NflogEntry
from router.noise.silences import Silence, silence_from_record
from router.storage.protocols import StoreUnavailable
from router.storage.records import (
    ALERT_COLS,
    NFLOG_COLS,
    alert_from_row,
    alert_params,
    nflog_from_row,
    nflog_params,
    silence_params,
)
from router.storage.sqlite_events import INSERT_EVENT, SqliteEvents, event_params
from router.storage.sqlite_outbox import NFLOG_UPSERT, SqliteOutbox
from router.storage.sqlite_tx import (
    Op,
    Plan,
    Stmt,
    fail,
    migrate,
    probe_commit,
    run_transaction,
)
from router.storage.sqlite_webpush import SqliteWebPush

log = logging.getLogger(__name__)

_UPSERT_ALERT = Stmt(
    "alerts", f"INSERT OR REPLACE INTO alerts ({ALERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
)
_DELETE_ALERT = Stmt("alerts", "DELETE FROM alerts WHERE fingerprint = ?")
_NFLOG_GC = Stmt("nflog", "DELETE FROM nflog WHERE expires_at <= ? RETURNING key", returns=True)
_SILENCE_UPSERT = Stmt(
    "silences", "INSERT OR REPLACE INTO silences (id, body, ends_at) VALUES (?,?,?)"
)
_SILENCE_DELETE = Stmt("silences", "DELETE FROM silences WHERE id = ?")
# A locked database answers within 3 s (senders give up at 10 s): a request may wait for
# the batch in flight and then its own, each waiting at most this long for the lock.
BUSY_TIMEOUT_MS = 1000


class SqliteStore(SqliteOutbox, SqliteEvents, SqliteWebPush):
    """Implements `router.storage.Store` on one aiosqlite connection."""

    # Seconds between write probes while unhealthy and no write is queued (real time: this
    # waits on the filesystem, not on an application timer).
    probe_interval = 2.0

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._conn: aiosqlite.Connection | None = None
        self._closing = False
        self._queue: list[Op] = []
        self._wakeup = asyncio.Event()
        # Held for each write transaction and each read, so that a read on the shared
        # connection never sees a batch that is still uncommitted (and may roll back).
        self._lock = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None
        self._failures = RepeatLog(log, time.monotonic)
        self._down_logged = False  # "cannot commit" was logged since it last healed
        self._healed = asyncio.Event()  # set while healthy
        self._healed.set()
        self.transactions = 0  # committed write transactions (for tests and benchmarks)
        # Receives the committed events of each transaction, in id order (the EventHub).
        self.event_sink: Callable[[list[Event]], None] | None = None

    # --- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        if self._conn is not None or self._closing:
            raise RuntimeError("SqliteStore.open() called twice")
        # aiosqlite logs every statement with its parameters at DEBUG: the store holds push
        # endpoints (capabilities) and the VAPID private key, which no log may show.
        quiet = logging.getLogger("aiosqlite")
        if quiet.level < logging.INFO:
            quiet.setLevel(logging.INFO)
        conn = await self._connect()
        try:
            await migrate(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        # Opened on a read-only filesystem, SQLite falls back to a read-only connection
        # that reads fine: only a write tells whether the store can commit.
        await self._probe()
        self._writer = asyncio.create_task(self._write_loop(), name="sqlite-writer")

    async def _connect(self) -> aiosqlite.Connection:
        try:
            conn = await aiosqlite.connect(self._path, isolation_level=None)
        except Exception as exc:  # sqlite3.Error or an unusable path
            raise StoreUnavailable(f"cannot open database: {exc}") from exc
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except Exception as exc:
            await conn.close()
            raise StoreUnavailable(f"cannot open database: {exc}") from exc
        return conn

    @property
    def healthy(self) -> bool:
        """Whether the store can commit: False from a failed commit (a fault of the store,
        not of a caller's values) until a commit succeeds again."""
        return self._healed.is_set() and self._conn is not None and not self._closing

    def _set_healthy(self, healthy: bool, error: str = "") -> None:
        """Each failed commit or probe says so (a line a minute while it lasts); the first
        commit after such a line says it healed."""
        if not healthy:
            self._healed.clear()
            self._down_logged |= self._failures.failure(
                "store cannot commit; reconnecting until it can", cause=error,
                level=logging.WARNING)
        elif not self._healed.is_set():
            self._healed.set()
            if self._down_logged:
                self._down_logged = False
                log.warning("store commits again")

    async def wait_healthy(self) -> None:
        await self._healed.wait()

    async def _reconnect(self) -> None:
        """Replace the connection with a fresh one (the caller holds the lock). The old one
        is closed first: connections of one process share a file's -shm mapping, and one
        SQLite opened read-only would keep the new connection read-only too. If no new one
        opens, reads and writes fail with StoreUnavailable until one does."""
        old, self._conn = self._conn, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        try:
            self._conn = await self._connect()
        except StoreUnavailable as exc:
            log.debug("store reconnect failed", extra={"error": str(exc)})

    async def _probe(self) -> None:
        """A tiny commit that changes nothing: sets `healthy` (the caller holds the lock,
        or nobody else can run yet)."""
        conn = self._conn
        if conn is None:
            return
        try:
            await conn._execute(probe_commit, conn._conn)  # type: ignore[no-untyped-call]
        except Exception as exc:
            self._set_healthy(False, f"{type(exc).__name__}: {exc}")
        else:
            self._set_healthy(True)

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

    async def _submit(self, ops: Plan) -> Any:
        """Queue `ops` for the next transaction; returns the last op's result once committed."""
        return await self._queue_ops(ops)

    def _queue_ops(self, ops: Plan, events: Sequence[Event] = ()) -> asyncio.Future[Any]:
        """Like `_submit`, but hands back the commit's future itself: the hot-path writes
        return it, so a caller that does not wait (an outcome, a trace row) costs no task.
        `events` describe `ops`: queued first in the same call, they commit (or roll back)
        with them, and the future still resolves to the last op's result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._closing or self._writer is None:
            future.set_exception(StoreUnavailable("store is closed"))
            return future
        if not ops and not events:
            future.set_result(None)
            return future
        queue = self._queue
        last = len(ops) - 1
        for n, event in enumerate(events):
            queue.append(Op(INSERT_EVENT, event_params(event),
                            future if last < 0 and n == len(events) - 1 else None, event))
        queue.extend(
            Op(stmt, params, future if i == last else None) for i, (stmt, params) in enumerate(ops)
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
                    if self._healed.is_set():
                        await self._wakeup.wait()
                        continue
                    # Unhealthy and idle: probe now and then, so that readiness comes
                    # back even when no write arrives.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.probe_interval):
                            await self._wakeup.wait()
                    if not self._queue and not self._closing:
                        async with self._lock:
                            await self._reconnect()
                            await self._probe()
                    continue
                # The queue is taken once the lock is ours: writes queued while a read
                # (or `writes_held`) had it join this transaction.
                async with self._lock:
                    ops, self._queue = self._queue, []
                    if not self._healed.is_set():
                        await self._reconnect()
                    await self._write_batch(ops)
        finally:
            # Cancelled or done: nobody will write what is left, so nobody may wait on it.
            self._closing = True
            ops, self._queue = self._queue, []
            fail(ops, "store is closed")

    async def _write_batch(self, ops: list[Op]) -> None:
        """One transaction for `ops` (the caller holds the lock)."""
        try:
            results, rejected = await self._transaction(ops)
        except asyncio.CancelledError:
            fail(ops, "store is closed")
            raise
        except Exception as exc:  # task boundary: every caller gets StoreUnavailable
            message = f"{type(exc).__name__}: {exc}"
            # One line for the failed commit (not a second "cannot commit" line with the
            # same cause); "store commits again" follows it once a commit succeeds.
            self._healed.clear()
            self._down_logged |= self._failures.failure(
                "store write failed", exc, level=logging.WARNING, ops=len(ops))
            fail(ops, message, cause=exc)
            return
        self._set_healthy(True)
        self.transactions += 1
        for i, op in enumerate(ops):
            if op.future is None or op.future.done():
                continue
            if i in rejected:
                # Only this caller's writes were rolled back; its values are at fault.
                cause = rejected[i]
                error = StoreRejected(f"the store refused the values: {type(cause).__name__}")
                error.__cause__ = cause
                log.debug("store write refused", extra={"error": str(cause)})
                op.future.set_exception(error)
            else:
                op.future.set_result(results.get(i))
        self._publish(ops, results)

    def _publish(self, ops: list[Op], results: dict[int, Any]) -> None:
        """Hand the transaction's committed events (ids filled in) to the sink. A rejected
        caller's events were rolled back with its writes: they have no result."""
        if self.event_sink is None:
            return
        committed = [Event(e.type, e.at, e.data, e.receivers, e.severity, e.fingerprint, rid)
                     for i, op in enumerate(ops)
                     if (e := op.event) is not None and (rid := results.get(i)) is not None]
        if committed:
            try:
                self.event_sink(committed)
            except Exception:
                log.exception("publishing committed events failed")

    async def _transaction(self, ops: list[Op]) -> tuple[dict[int, Any], dict[int, Any]]:
        conn = self._conn
        if conn is None:
            raise StoreUnavailable("store is closed")
        plan = [(op.stmt, op.params) for op in ops]
        ends = [i for i, op in enumerate(ops) if op.future is not None]
        # The whole transaction runs in aiosqlite's thread in ONE hop: awaiting each
        # statement would cost a thread hop (and an event-loop turn) per statement, which
        # under load made every commit wait several busy loop iterations.
        result: tuple[dict[int, Any], dict[int, Any]] = await conn._execute(  # type: ignore[no-untyped-call]
            run_transaction, conn._conn, plan, ends
        )
        return result

    # --- reads ----------------------------------------------------------------------

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._lock:
            if self._conn is None:
                raise StoreUnavailable("store is closed")
            return list(await self._conn.execute_fetchall(sql, params))

    # --- AlertStore -----------------------------------------------------------------

    def upsert_alerts(self, alerts: Sequence[Alert], events: Sequence[Event] = ()
                      ) -> Awaitable[None]:
        return self._queue_ops([(_UPSERT_ALERT, alert_params(a)) for a in alerts], events)

    def delete_alerts(self, fingerprints: Sequence[str]) -> Awaitable[None]:
        return self._queue_ops([(_DELETE_ALERT, (fp,)) for fp in fingerprints])

    async def load_alerts(self) -> list[Alert]:
        return [alert_from_row(r) for r in await self._read(f"SELECT {ALERT_COLS} FROM alerts")]

    # --- NflogStore ------------------------------------------------------------------

    async def load_nflog(self, now: float) -> list[NflogEntry]:
        rows = await self._read(f"SELECT {NFLOG_COLS} FROM nflog WHERE expires_at > ?", (now,))
        return [nflog_from_row(r) for r in rows]

    def record_nflog(self, entry: NflogEntry) -> Awaitable[None]:
        return self._queue_ops([(NFLOG_UPSERT, nflog_params(entry))])

    async def gc_nflog(self, now: float) -> int:
        return len(await self._submit([(_NFLOG_GC, (now,))]))

    # --- SilenceStore ---------------------------------------------------------------

    def upsert_silences(self, silences: Sequence[Silence], events: Sequence[Event] = ()
                        ) -> Awaitable[None]:
        return self._queue_ops([(_SILENCE_UPSERT, silence_params(s)) for s in silences], events)

    async def load_silences(self) -> list[Silence]:
        rows = await self._read("SELECT body FROM silences ORDER BY id")
        return [silence_from_record(json.loads(r[0])) for r in rows]

    def delete_silences(self, ids: Sequence[str]) -> Awaitable[None]:
        return self._queue_ops([(_SILENCE_DELETE, (sid,)) for sid in ids])

    # --- test hooks -----------------------------------------------------------------

    async def set_max_page_count(self, pages: int) -> int:
        """Cap the database size (tests use it to make commits fail with SQLITE_FULL)."""
        rows = await self._read(f"PRAGMA max_page_count = {int(pages)}")
        return int(rows[0][0])

    @contextlib.asynccontextmanager
    async def writes_held(self) -> AsyncIterator[None]:
        """Hold every commit until the block ends: the writes queued meanwhile share one
        transaction (tests use it to batch chosen writes together)."""
        async with self._lock:
            yield

    def queued_writes(self, table: str | None = None) -> int:
        """Writes (callers) queued and not yet in a transaction; of `table`'s, if given."""
        return sum(1 for op in self._queue
                   if op.future is not None and table in (None, op.stmt.table))

    async def page_count(self) -> int:
        rows = await self._read("PRAGMA page_count")
        return int(rows[0][0])

