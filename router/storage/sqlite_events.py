"""The event-log half of the SQLite store: appended events, replay reads, trimming, the
decision trace (a per-alert view of the same log) and the session-signing key.

Events ride in the store call that makes the change they describe (`events=` on the
write methods): their insert is queued in the same group-commit operation list, so the
change and its events commit, or roll back, together. SQLite assigns ids at insert; the
single writer commits batches in order, so ids are strictly increasing in commit order.
After a commit the store publishes the committed copies (ids filled in) to its sink.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Sequence
from typing import Any

import orjson

from router.events.model import TRACE_PREFIX, Event, EventQuery
from router.storage.records import JsonText
from router.storage.sqlite_tx import Plan, Stmt
from router.trace import TraceEvent

INSERT_EVENT = Stmt(
    "events",
    "INSERT INTO events (at, type, fingerprint, receivers, severity, data)"
    " VALUES (?,?,?,?,?,?)",
    rowids=True,
)
_NOT_TRACE = "type NOT LIKE 'trace.%'"
# `trimmed` moves to the newest stream event removed, in the transaction that removes it.
_TRIM_MARK = Stmt(
    "events",
    "UPDATE meta SET value = MAX(value, COALESCE((SELECT MAX(id) FROM events"
    f" WHERE at < ? AND {_NOT_TRACE}), 0)) WHERE key = 'events_trimmed'",
)
_TRIM = Stmt("events", f"DELETE FROM events WHERE at < ? AND {_NOT_TRACE} RETURNING id",
             returns=True)
_TRACE_GC_AGE = Stmt(
    "events", "DELETE FROM events WHERE at < ? AND type LIKE 'trace.%' RETURNING id",
    returns=True)
# Keep the newest `cap` trace events per alert (window functions: SQLite 3.25+).
_TRACE_GC_CAP = Stmt(
    "events",
    "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
    "PARTITION BY fingerprint ORDER BY id DESC) AS n FROM events"
    " WHERE type LIKE 'trace.%') WHERE n > ?) RETURNING id",
    returns=True,
)
_SESSION_KEY = Stmt(
    "meta", "INSERT OR IGNORE INTO meta (key, value) VALUES ('session_key', ?)")
# Silences whose end passed before this time were announced (silence.expired by time):
# set at the first start, moved in the transaction that appends the events.
_ANNOUNCED_INIT = Stmt(
    "meta", "INSERT OR IGNORE INTO meta (key, value) VALUES ('silences_announced', ?)")
_ANNOUNCED = Stmt(
    "meta", "UPDATE meta SET value = MAX(value, ?) WHERE key = 'silences_announced'")
_COLS = "id, at, type, fingerprint, receivers, severity, data"


def event_params(event: Event) -> tuple[Any, ...]:
    receivers = orjson.dumps(event.receivers).decode() if event.receivers else "[]"
    return (event.at, event.type, event.fingerprint or None, receivers, event.severity,
            JsonText(event.data))


def _event(row: Sequence[Any]) -> Event:
    return Event(type=row[2], at=row[1], data=json.loads(row[6]),
                 receivers=tuple(json.loads(row[4])), severity=row[5],
                 fingerprint=row[3] or "", id=row[0])


def _where(query: EventQuery) -> tuple[str, list[Any]]:
    """SQL for `query.matches` (same semantics, run by SQLite)."""
    clauses: list[str] = []
    params: list[Any] = []
    if query.types:
        # Prefix match without LIKE's wildcards: substr compares exactly.
        clauses.append("(" + " OR ".join("substr(type, 1, ?) = ?" for _ in query.types) + ")")
        for prefix in query.types:
            params += [len(prefix), prefix]
    else:
        clauses.append(_NOT_TRACE)
    if query.receiver:
        clauses.append("EXISTS (SELECT 1 FROM json_each(receivers) WHERE value = ?)")
        params.append(query.receiver)
    if query.severity:
        clauses.append("severity = ?")
        params.append(query.severity)
    if query.fingerprint:
        # Its own events, and the notifications that covered it (linked by a trigger).
        clauses.append("(fingerprint = ? OR id IN (SELECT event_id FROM event_alerts"
                       " WHERE fingerprint = ?))")
        params += [query.fingerprint, query.fingerprint]
    return " AND ".join(clauses), params


class SqliteEvents:
    """Implements `router.events.follow.EventStore` and `router.trace.TraceStore`."""

    def _queue_ops(self, ops: Plan, events: Sequence[Event] = ()) -> Any:
        raise NotImplementedError

    async def _submit(self, ops: Plan) -> Any:
        raise NotImplementedError

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def append_events(self, events: Sequence[Event]) -> Awaitable[None]:
        fut: Awaitable[None] = self._queue_ops([], events)
        return fut

    async def load_events(self, after: int, query: EventQuery, limit: int) -> list[Event]:
        where, params = _where(query)
        rows = await self._read(
            f"SELECT {_COLS} FROM events WHERE id > ? AND {where} ORDER BY id LIMIT ?",
            (after, *params, limit))
        return [_event(r) for r in rows]

    async def last_notifications(self, fingerprint: str) -> list[Event]:
        """The newest notification event of each (receiver, channel) that covered the
        alert (queued, sent, failed or dead), by receiver and channel."""
        rows = await self._read(
            f"SELECT {_COLS} FROM events WHERE id IN (SELECT MAX(e.id) FROM event_alerts"
            " AS a JOIN events AS e ON e.id = a.event_id WHERE a.fingerprint = ?"
            " GROUP BY json_extract(e.data, '$.receiver'), json_extract(e.data, '$.channel'))"
            " ORDER BY json_extract(data, '$.receiver'), json_extract(data, '$.channel')",
            (fingerprint,))
        return [_event(r) for r in rows]

    async def latest_event(self, query: EventQuery) -> int:
        where, params = _where(query)
        rows = await self._read(f"SELECT MAX(id) FROM events WHERE {where}", params)
        return int(rows[0][0] or 0)

    async def first_event_since(self, at: float) -> int:
        rows = await self._read(f"SELECT MIN(id) FROM events WHERE at >= ? AND {_NOT_TRACE}",
                                (at,))
        return int(rows[0][0] or 0)

    async def event_bounds(self) -> tuple[int, int]:
        rows = await self._read(
            "SELECT (SELECT value FROM meta WHERE key = 'events_trimmed'),"
            " (SELECT seq FROM sqlite_sequence WHERE name = 'events')")
        return int(rows[0][0] or 0), int(rows[0][1] or 0)

    async def gc_events(self, before: float) -> int:
        removed = await self._submit([(_TRIM_MARK, (before,)), (_TRIM, (before,))])
        return len(removed or ())

    async def silences_announced(self, now: float) -> float:
        """The time before which every silence that ended by time was announced (`now`
        on the first call ever: nothing older is announced after an upgrade)."""
        await self._submit([(_ANNOUNCED_INIT, (now,))])
        rows = await self._read("SELECT value FROM meta WHERE key = 'silences_announced'")
        return float(rows[0][0])

    def announce_silences(self, through: float, events: Sequence[Event]) -> Awaitable[None]:
        """Append the `silence.expired` events and move the mark, in one transaction."""
        fut: Awaitable[None] = self._queue_ops([(_ANNOUNCED, (through,))], events)
        return fut

    async def session_secret(self) -> bytes:
        """The key that signs session cookies: made once, kept with the data."""
        await self._submit([(_SESSION_KEY, (secrets.token_bytes(32),))])
        rows = await self._read("SELECT value FROM meta WHERE key = 'session_key'")
        return bytes(rows[0][0])

    # --- the decision trace (router/trace.py) ----------------------------------------

    def append_trace(self, events: Sequence[TraceEvent]) -> Awaitable[None]:
        return self.append_events([
            Event(TRACE_PREFIX + e.kind, e.at, e.detail, fingerprint=e.fingerprint)
            for e in events])

    async def load_trace(self, fingerprint: str, limit: int) -> list[TraceEvent]:
        rows = await self._read(
            "SELECT at, type, data FROM events WHERE fingerprint = ? AND type LIKE 'trace.%'"
            " ORDER BY id DESC LIMIT ?", (fingerprint, limit))
        return [TraceEvent(fingerprint, at, kind.removeprefix(TRACE_PREFIX), json.loads(data))
                for at, kind, data in reversed(rows)]

    async def gc_trace(self, before: float, cap: int) -> int:
        aged = await self._submit([(_TRACE_GC_AGE, (before,))])
        capped = await self._submit([(_TRACE_GC_CAP, (cap,))])
        return len(aged or []) + len(capped or [])
