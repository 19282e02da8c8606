"""The Web Push half of the SQLite store: browser subscriptions and the VAPID key pair.

Subscriptions are keyed by endpoint (a browser subscribing again updates its keys and
receivers in place); the VAPID private key is written once (the first writer wins, so two
processes on one database agree on it) and never replaced.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Sequence
from typing import Any

from router.model import PushSubscription
from router.storage.records import dumps
from router.storage.sqlite_tx import Plan, Stmt

_SUBSCRIBE = Stmt(
    "webpush_subscriptions",
    "INSERT INTO webpush_subscriptions (endpoint, p256dh, auth, receivers, created_at)"
    " VALUES (?,?,?,?,?) ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh,"
    " auth = excluded.auth, receivers = excluded.receivers RETURNING id",
    returns=True,
)
_UNSUBSCRIBE = Stmt(
    "webpush_subscriptions", "DELETE FROM webpush_subscriptions WHERE endpoint = ? RETURNING id",
    returns=True,
)
_DELETE = Stmt("webpush_subscriptions", "DELETE FROM webpush_subscriptions WHERE id = ?")
_KEY_INIT = Stmt(
    "webpush_vapid",
    "INSERT OR IGNORE INTO webpush_vapid (id, private_key, created_at) VALUES (1, ?, ?)",
)
_KEY_GET = Stmt("webpush_vapid", "SELECT private_key FROM webpush_vapid WHERE id = 1",
                returns=True)


class SqliteWebPush:
    """Implements `router.storage.WebPushStore` on the store's group-commit writer."""

    def _queue_ops(self, ops: Plan) -> asyncio.Future[Any]:
        raise NotImplementedError

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    async def webpush_key(self, candidate: str, now: float) -> str:
        # One transaction: store `candidate` unless a key exists, then read the one kept.
        rows = await self._queue_ops([(_KEY_INIT, (candidate, now)), (_KEY_GET, ())])
        return str(rows[0][0])

    async def webpush_subscribe(self, sub: PushSubscription) -> int:
        rows = await self._queue_ops([(_SUBSCRIBE, (
            sub.endpoint, sub.p256dh, sub.auth, dumps(list(sub.receivers)), sub.created_at))])
        return int(rows[0][0])

    async def webpush_unsubscribe(self, endpoint: str) -> list[int]:
        rows = await self._queue_ops([(_UNSUBSCRIBE, (endpoint,))])
        return [int(r[0]) for r in rows or ()]

    def webpush_delete(self, sub_id: int) -> Awaitable[None]:
        return self._queue_ops([(_DELETE, (sub_id,))])

    async def webpush_subscriptions(self) -> list[PushSubscription]:
        rows = await self._read(
            "SELECT id, endpoint, p256dh, auth, receivers, created_at"
            " FROM webpush_subscriptions ORDER BY id")
        return [PushSubscription(int(r[0]), r[1], r[2], r[3], tuple(json.loads(r[4])), r[5])
                for r in rows]
