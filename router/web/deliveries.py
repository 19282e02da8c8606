"""The outbox over HTTP: list pending or dead-lettered deliveries, re-queue a dead one.

Rows show the stored `lastError`, which channels build from status codes and vendor
messages with secrets cut out (router/channels), never from a request URL.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.storage import OutboxRow
from router.timefmt import format_time
from router.web.errors import RequestError
from router.web.keys import DELIVERY, STORE

_MAX_ID = 2**63


def _row_view(row: OutboxRow) -> dict[str, Any]:
    view = {
        "id": row.id, "receiver": row.receiver, "channel": row.channel, "index": row.index,
        "groupKey": row.group_key, "state": row.state, "reason": row.reason,
        "attempts": row.attempts, "lastError": row.last_error,
        "createdAt": format_time(row.created_at),
        "nextAttemptAt": format_time(row.next_attempt_at),
        "inDoubt": row.in_doubt,  # an earlier attempt may have arrived (a crash mid-send)
    }
    if row.recipient:  # a fan-out channel's row for one recipient: a subscription id
        view["recipient"] = row.recipient
    return view


async def get_deliveries(request: web.Request) -> web.Response:
    app = request.app
    wanted = request.query.get("state", "pending")
    if wanted not in ("pending", "dead"):
        raise RequestError('state must be "pending" or "dead"', "state", status=400)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise RequestError("limit must be an integer", "limit", status=400) from None
    rows = await app[STORE].outbox_list(wanted, max(1, min(limit, 1000)))
    return web.json_response([_row_view(r) for r in rows])


async def retry_delivery(request: web.Request) -> web.Response:
    try:
        row_id = int(request.match_info["id"])
    except ValueError:
        raise RequestError("delivery id must be an integer", "id", status=404) from None
    if not 0 < row_id < _MAX_ID:  # ids are positive SQLite integers: no such row
        raise RequestError(f"no dead delivery with id {row_id}", "id", status=404)
    row = await request.app[DELIVERY].retry_dead(row_id)
    if row is None:
        raise RequestError(f"no dead delivery with id {row_id}", "id", status=404)
    return web.json_response(_row_view(row), status=202)
