"""Finding an earlier send of a delivery in a Slack channel: message metadata and the lookup.

Every Web API message carries metadata naming its delivery (the outbox row id) and group.
When a delivery is in doubt (a process that died may have posted it before recording it, or
a post timed out), the channel reads the recent history (`conversations.history` with
`include_all_metadata`) for a message of this delivery and adopts it instead of posting a
second one. The lookup is bounded (a few small pages since the delivery was queued) and
any failure (missing scope, bot not in the channel, rate limit) means "not found".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from router.channels.base import SendContext, key_hash

EVENT_TYPE = "alert_router_notification"
PAGE_LIMIT = 15  # Slack's maximum for apps outside the Marketplace; small everywhere else
MAX_PAGES = 3  # the crashed attempt is recent: the newest messages hold it, if anything
# Slack's clock and ours disagree a little: look a bit before the delivery was queued.
OLDEST_MARGIN = 120.0
# conversations.history takes a conversation ID (C…, G…, D…), never a "#name".
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")

# (method, form fields) -> Slack's answer; raises DeliveryError (SlackAPIError) on failure.
Call = Callable[[str, Mapping[str, str]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Found:
    """A message of this delivery already in the channel."""

    ts: str
    current: bool  # it shows the payload being sent now (nothing to edit)


def group_tag(group_key: str) -> str:
    """A short, stable name of a group (the key itself may be long or revealing)."""
    return key_hash(group_key)[:12]


def digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()[:16]


def metadata(ctx: SendContext, payload: bytes) -> dict[str, Any] | None:
    """The metadata naming this delivery, or None for a send outside the outbox."""
    if ctx.delivery_id <= 0:
        return None
    return {"event_type": EVENT_TYPE, "event_payload": {
        "delivery_id": ctx.delivery_id, "group": group_tag(ctx.group_key),
        "digest": digest(payload)}}


def channel_id(ctx: SendContext, learned: str | None, configured: str | None) -> str | None:
    """The conversation ID to read: the group's remembered one, one learned from an earlier
    answer, or the configured channel if it is an ID; None when only a name is known."""
    for candidate in (ctx.state.get("channel"), learned, configured):
        if candidate and _CHANNEL_ID.match(candidate):
            return candidate
    return None


def _match(message: Any, ctx: SendContext, tag: str) -> bool:
    meta = message.get("metadata") if isinstance(message, dict) else None
    if not isinstance(meta, dict) or meta.get("event_type") != EVENT_TYPE:
        return False
    payload = meta.get("event_payload")
    return (isinstance(payload, dict) and payload.get("delivery_id") == ctx.delivery_id
            and payload.get("group") == tag)


async def find(call: Call, channel: str, ctx: SendContext, payload: bytes) -> Found | None:
    """This delivery's message among the channel's newest messages since it was queued."""
    tag = group_tag(ctx.group_key)
    args = {"channel": channel, "include_all_metadata": "true", "limit": str(PAGE_LIMIT)}
    if ctx.created_at > 0:
        args["oldest"] = f"{max(0.0, ctx.created_at - OLDEST_MARGIN):.6f}"
    for _ in range(MAX_PAGES):
        answer = await call("conversations.history", args)
        messages = answer.get("messages")
        for message in messages if isinstance(messages, list) else ():
            if _match(message, ctx, tag) and isinstance(ts := message.get("ts"), str):
                shown = message["metadata"]["event_payload"].get("digest")
                return Found(ts, shown == digest(payload))
        more = answer.get("response_metadata")
        cursor = more.get("next_cursor") if isinstance(more, dict) else None
        if not answer.get("has_more") or not isinstance(cursor, str) or not cursor:
            return None
        args = {**args, "cursor": cursor}
    return None
