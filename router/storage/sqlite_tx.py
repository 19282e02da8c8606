"""One group-commit transaction of the SQLite store, as it runs in the database thread.

Every write of the store is a (statement, parameters) operation queued at the call; the
writer hands the whole queue to `run_transaction` in one aiosqlite thread hop (awaiting each
statement would cost a hop and an event-loop turn per statement). Consecutive equal
statements are batched into `executemany` (an insert's callers still learn their row ids);
statements whose rows a caller needs (`RETURNING`, a `SELECT`) run one by one.

One caller's bad values never fail another's: when a statement fails for a reason that
lies in its parameters (a constraint, an integer out of SQLite's range, a type it cannot
bind), the batch is rolled back to its start and run again caller by caller, each inside
its own SAVEPOINT. The failing caller is rolled back to its savepoint and gets its own
`StoreRejected`; everyone else's writes commit. A fault of the store itself (disk full,
locked, I/O, closed) still fails the whole transaction: every caller gets StoreUnavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import aiosqlite

from router.events.model import Event
from router.storage.protocols import StoreUnavailable

# Tables share no keys or constraints, so within one transaction only the order of the
# operations on each table matters; grouping per table lets interleaved writers batch.
# Events go last: they describe the other writes, and their ids follow queue order.
TABLES = ("alerts", "outbox", "nflog", "silences", "webpush_subscriptions", "webpush_vapid",
          "meta", "events")


@dataclass(frozen=True, slots=True)
class Stmt:
    table: str
    sql: str
    # Statements whose result a caller needs run one by one; the others batch in executemany.
    returns: bool = False
    # An INSERT whose callers need the rowid each row got: batched all the same, because
    # inside one write transaction consecutive inserts get consecutive rowids.
    rowids: bool = False
    # Runs only if the operation queued just before it (in the same call) returned rows:
    # "record the log entry only if the worker still held the row it deleted".
    guarded: bool = False


@dataclass(frozen=True, slots=True)
class Op:
    stmt: Stmt
    params: tuple[Any, ...]
    future: asyncio.Future[Any] | None
    event: Event | None = None  # an event-log insert: published once committed


Plan = list[tuple[Stmt, tuple[Any, ...]]]


def _runs(ops: Iterable[tuple[int, Op]]) -> list[list[tuple[int, Op]]]:
    """Split into runs of consecutive operations using the same statement."""
    runs: list[list[tuple[int, Op]]] = []
    for item in ops:
        if runs and runs[-1][0][1].stmt is item[1].stmt:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


# Errors caused by one caller's values, not by the store: that caller's writes are rolled
# back to its savepoint and it gets StoreRejected; the others commit. OverflowError is an
# integer outside SQLite's 64-bit range; ProgrammingError/InterfaceError cover a parameter
# of a type SQLite cannot bind (checked below: a closed connection is not the caller's).
_CALLER_FAULTS: tuple[type[Exception], ...] = (
    sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
    sqlite3.ProgrammingError, OverflowError, TypeError, ValueError,
)


def caller_fault(exc: BaseException) -> bool:
    """Whether `exc` lies in the values of the statement that raised it."""
    if isinstance(exc, sqlite3.ProgrammingError):
        return "binding" in str(exc)
    return isinstance(exc, _CALLER_FAULTS)


def run_transaction(
    db: sqlite3.Connection, plan: Plan, ends: list[int]
) -> tuple[dict[int, Any], dict[int, BaseException]]:
    """Runs in the database thread: one transaction. Returns each operation's result and,
    keyed by the index of a caller's last operation (`ends`: those indices, ascending), the
    error of each caller whose writes were rolled back for a fault of its own values."""
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("SAVEPOINT batch")
        failed: dict[int, BaseException] = {}
        try:
            results = _batched(db, plan)
        except Exception as exc:
            if not caller_fault(exc) or not db.in_transaction:
                raise
            db.execute("ROLLBACK TO batch")
            results, failed = _isolated(db, plan, ends)
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (e.g. SQLITE_FULL); rollback is then a no-op.
        with contextlib.suppress(Exception):
            db.execute("ROLLBACK")
        raise
    return results, failed


def _batched(db: sqlite3.Connection, plan: Plan) -> dict[int, Any]:
    """The fast path: consecutive equal statements batched into `executemany`, tables in a
    fixed order (they share no keys, so only the order of writes within a table matters,
    and that is kept)."""
    results: dict[int, Any] = {}
    indexed = [(i, Op(stmt, params, None)) for i, (stmt, params) in enumerate(plan)]
    for table in TABLES:
        for run in _runs(item for item in indexed if item[1].stmt.table == table):
            stmt = run[0][1].stmt
            if stmt.guarded:
                run = [(i, op) for i, op in run if results.get(i - 1)]
            if not stmt.returns:
                db.executemany(stmt.sql, [op.params for _, op in run])
                if stmt.rowids:
                    last = db.execute("SELECT last_insert_rowid()").fetchone()[0]
                    for k, (i, _) in enumerate(run):
                        results[i] = last - len(run) + 1 + k
                continue
            for i, op in run:
                results[i] = db.execute(stmt.sql, op.params).fetchall()
    return results


def _isolated(
    db: sqlite3.Connection, plan: Plan, ends: list[int]
) -> tuple[dict[int, Any], dict[int, BaseException]]:
    """The slow path after a caller fault: each caller's operations in queue order inside
    its own savepoint (queue order keeps every table's order, like the fast path)."""
    results: dict[int, Any] = {}
    failed: dict[int, BaseException] = {}
    start = 0
    for end in ends:
        db.execute("SAVEPOINT caller")
        try:
            for i in range(start, end + 1):
                stmt, params = plan[i]
                if stmt.guarded and not results.get(i - 1):
                    continue
                cursor = db.execute(stmt.sql, params)
                if stmt.returns:
                    results[i] = cursor.fetchall()
                elif stmt.rowids:
                    results[i] = cursor.lastrowid
        except Exception as exc:
            if not caller_fault(exc) or not db.in_transaction:
                raise
            db.execute("ROLLBACK TO caller")
            for i in range(start, end + 1):
                results.pop(i, None)
            failed[end] = exc
        db.execute("RELEASE caller")
        start = end + 1
    return results, failed


def probe_commit(db: sqlite3.Connection) -> None:
    """Runs in the database thread: commit a write that changes nothing (the schema version
    rewritten as it is), raising if the store cannot commit (read-only, full, locked)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            db.execute("ROLLBACK")
        raise


async def migrate(conn: aiosqlite.Connection) -> None:
    """Run the migrations the database has not had yet (at open).

    Applied versions are listed in `schema_migrations`, not only implied by
    `user_version`: migrations are numbered on parallel branches, so a database may have
    had 007 before 005 and 006 land; each one missing is run, in order, whatever the
    highest applied. A database from before that table has had every version up to its
    `user_version`. Nothing is written when nothing is missing (a router on a read-only
    filesystem still opens)."""
    migrations = await asyncio.to_thread(read_migrations)
    rows = await conn.execute_fetchall("PRAGMA user_version")
    current = int(next(iter(rows))[0])
    latest = migrations[-1][0] if migrations else 0
    if current > latest:
        raise StoreUnavailable(
            f"database schema version {current} is newer than this router's ({latest})"
        )
    listed = await conn.execute_fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'")
    if listed:
        applied = {int(r[0]) for r in await conn.execute_fetchall(
            "SELECT version FROM schema_migrations")}
    else:
        # The old runner ran every number up to user_version, known here or not (a
        # database a build with 005 touched, opened by one without it).
        applied = set(range(1, current + 1))
    for version, sql in migrations:
        if version in applied:
            continue
        # user_version lives in the database header and is transactional, so a
        # migration, its row and its version number land together or not at all.
        seed = "".join(f"INSERT OR IGNORE INTO schema_migrations VALUES ({v});\n"
                       for v in sorted(applied | {version}))
        script = (f"BEGIN IMMEDIATE;\n{sql}\n{_MIGRATIONS_TABLE}\n{seed}"
                  f"PRAGMA user_version = {max(current, version)};\nCOMMIT;")
        try:
            await conn.executescript(script)
        except BaseException:
            await conn.rollback()
            raise
        applied.add(version)
        current = max(current, version)


_MIGRATIONS_TABLE = "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY);"


def read_migrations() -> list[tuple[int, str]]:
    """Numbered `NNN_name.sql` files shipped inside the package."""
    found = []
    for entry in (resources.files("router.storage") / "migrations").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def fail(ops: Iterable[Op], message: str, cause: BaseException | None = None) -> None:
    """Resolve every waiting caller of `ops` with its own StoreUnavailable."""
    for op in ops:
        if op.future is not None and not op.future.done():
            exc = StoreUnavailable(message)
            exc.__cause__ = cause
            op.future.set_exception(exc)
