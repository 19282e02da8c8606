"""One group-commit transaction of the SQLite store, as it runs in the database thread.

Every write of the store is a (statement, parameters) operation queued at the call; the
writer hands the whole queue to `run_transaction` in one aiosqlite thread hop (awaiting each
statement would cost a hop and an event-loop turn per statement). Consecutive equal
statements are batched into `executemany` (an insert's callers still learn their row ids);
statements whose rows a caller needs (`RETURNING`, a `SELECT`) run one by one.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from router.storage.protocols import StoreUnavailable

# Tables share no keys or constraints, so within one transaction only the order of the
# operations on each table matters; grouping per table lets interleaved writers batch.
TABLES = ("alerts", "outbox", "nflog", "silences", "trace")


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


def run_transaction(db: sqlite3.Connection, plan: Plan) -> dict[int, Any]:
    """Runs in the database thread: one transaction, consecutive equal statements batched
    into `executemany`, tables in a fixed order (they share no keys, so only the order of
    writes within a table matters, and that is kept)."""
    results: dict[int, Any] = {}
    indexed = [(i, Op(stmt, params, None)) for i, (stmt, params) in enumerate(plan)]
    db.execute("BEGIN IMMEDIATE")
    try:
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
        db.execute("COMMIT")
    except BaseException:
        # SQLite may already have rolled back (e.g. SQLITE_FULL); rollback is then a no-op.
        with contextlib.suppress(Exception):
            db.execute("ROLLBACK")
        raise
    return results


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
