"""A loopback fake of Slack's Web API that keeps each channel's messages, as Slack does.

chat.postMessage, chat.update and conversations.history, validated like Slack: a bearer
token, conversation IDs where Slack wants IDs, scopes (`channels:history` to read), bot
membership, message metadata (kept, returned only with `include_all_metadata`), `oldest`,
`limit` and cursor pagination, newest first. Tests assert what people in the channel see.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

TOKEN = "xoxb-fake-slack-token"
CHANNEL_ID = "C0123ABCD"
SCOPES = frozenset({"chat:write", "channels:history"})
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass
class Message:
    ts: str
    text: str
    blocks: list[Any]
    metadata: dict[str, Any] | None
    edited: int = 0  # times chat.update changed it

    def json(self, with_metadata: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "subtype": "bot_message", "ts": self.ts,
                               "text": self.text, "blocks": self.blocks}
        if self.edited:
            out["edited"] = {"user": "B0BOT", "ts": self.ts}
        if with_metadata and self.metadata is not None:
            out["metadata"] = self.metadata
        return out


class SlackError(Exception):
    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code, self.extra = code, extra


@dataclass
class SlackFake:
    server: TestServer
    now: Callable[[], float]  # Slack's clock: message ts
    channels: dict[str, str] = field(default_factory=lambda: {CHANNEL_ID: "ops"})
    scopes: frozenset[str] = SCOPES
    in_channel: bool = True  # the bot is a member (posting needs only chat:write.public)
    max_limit: int = 999  # 15 for apps outside the Marketplace
    refuse_metadata: bool = False  # a user token: metadata_must_be_sent_from_app
    failures: list[str] = field(default_factory=list)  # errors for the next calls, in order
    messages: dict[str, list[Message]] = field(default_factory=dict)  # channel id -> oldest first
    requests: list[Recorded] = field(default_factory=list)
    # While cleared, answers wait after the change is made (a reply lost to a crash).
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _last_ts: float = 0.0

    def __post_init__(self) -> None:
        self.gate.set()

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/"))

    def shown(self, channel: str = CHANNEL_ID) -> list[Message]:
        return self.messages.get(channel, [])

    def calls(self, method: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == f"/api/{method}"]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), raw))
        method = request.match_info["method"]
        try:
            args = _args(request.headers.get("Content-Type", ""), raw, dict(request.query))
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                raise SlackError("invalid_auth" if "Authorization" in request.headers
                                 else "not_authed")
            if self.failures:
                raise SlackError(self.failures.pop(0))
            handler = {"chat.postMessage": self._post, "chat.update": self._update,
                       "conversations.history": self._history}.get(method)
            if handler is None:
                raise SlackError("unknown_method")
            answer = {"ok": True, **handler(args)}
        except SlackError as exc:
            answer = {"ok": False, "error": exc.code, **exc.extra}
        self.arrived.set()
        await self.gate.wait()
        return web.json_response(answer)

    # --- the methods ------------------------------------------------------------------

    def _need(self, scope: str) -> None:
        if scope not in self.scopes:
            raise SlackError("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _channel(self, value: Any, *, names: bool) -> str:
        """Slack takes a name (#ops) only where it posts; elsewhere the conversation ID."""
        if value in self.channels:
            return str(value)
        if names and isinstance(value, str):
            for cid, name in self.channels.items():
                if value.lstrip("#") == name:
                    return cid
        raise SlackError("channel_not_found")

    def _post(self, args: dict[str, Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._channel(args.get("channel"), names=True)
        text, blocks = _content(args)
        if self.refuse_metadata and args.get("metadata") is not None:
            raise SlackError("metadata_must_be_sent_from_app")
        metadata, warning = _metadata(args.get("metadata"))
        message = Message(self._ts(), text, blocks or [], metadata)
        self.messages.setdefault(channel, []).append(message)
        out = {"channel": channel, "ts": message.ts, "message": message.json(True)}
        return {**out, "warning": warning} if warning else out

    def _update(self, args: dict[str, Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._channel(args.get("channel"), names=False)
        target = next((m for m in self.shown(channel) if m.ts == args.get("ts")), None)
        if target is None:
            raise SlackError("message_not_found")
        text, blocks = _content(args)
        target.text = text
        if blocks is not None:  # absent: the message keeps its blocks
            target.blocks = blocks
        if "metadata" in args:
            target.metadata = _metadata(args["metadata"])[0]
        target.edited += 1
        return {"channel": channel, "ts": target.ts, "text": target.text}

    def _history(self, args: dict[str, Any]) -> dict[str, Any]:
        self._need("channels:history")
        channel = self._channel(args.get("channel"), names=False)
        if not self.in_channel:
            raise SlackError("not_in_channel")
        try:
            limit = int(args.get("limit", 100))
            oldest = float(args.get("oldest", 0))
        except ValueError:
            raise SlackError("invalid_arguments") from None
        limit = max(1, min(limit, self.max_limit))
        offset = _cursor(args.get("cursor"))
        newest_first = [m for m in reversed(self.shown(channel)) if float(m.ts) > oldest]
        page = newest_first[offset:offset + limit]
        metadata = str(args.get("include_all_metadata", "")).lower() in ("true", "1")
        more = offset + limit < len(newest_first)
        out: dict[str, Any] = {"messages": [m.json(metadata) for m in page], "has_more": more}
        cursor = base64.b64encode(f"next_ts:{offset + limit}".encode()).decode() if more else ""
        out["response_metadata"] = {"next_cursor": cursor}
        return out

    def _ts(self) -> str:
        """Slack's ts: the post time in microseconds, unique within a channel."""
        self._last_ts = max(self.now(), self._last_ts + 1e-6)
        return f"{self._last_ts:.6f}"


def _args(kind: str, raw: bytes, query: dict[str, str]) -> dict[str, Any]:
    if kind.startswith("application/json"):
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        return {**query, **body}
    form: dict[str, Any] = {**query, **dict(parse_qsl(raw.decode()))}
    for key in ("blocks", "metadata"):  # form fields carry JSON as text
        if isinstance(form.get(key), str):
            try:
                form[key] = json.loads(form[key])
            except ValueError:
                raise SlackError(f"invalid_{key}") from None
    return form


def _content(args: dict[str, Any]) -> tuple[str, list[Any] | None]:
    text, blocks = args.get("text"), args.get("blocks")
    if blocks is not None and not isinstance(blocks, list):
        raise SlackError("invalid_blocks_format")
    if not text and not blocks:
        raise SlackError("no_text")
    return str(text or ""), blocks


def _metadata(value: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(kept metadata, warning): a bad event_type is ignored with a warning, as Slack does."""
    if value is None:
        return None, None
    if not isinstance(value, dict) or not isinstance(value.get("event_payload"), dict):
        raise SlackError("invalid_metadata_format")
    if not isinstance(value.get("event_type"), str) or not _EVENT_TYPE.match(value["event_type"]):
        return None, "invalid_metadata_schema"
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}, None


def _cursor(value: Any) -> int:
    if not value:
        return 0
    try:
        prefix, offset = base64.b64decode(str(value)).decode().split(":")
        if prefix != "next_ts":
            raise ValueError(prefix)
        return int(offset)
    except ValueError:
        raise SlackError("invalid_cursor") from None


async def start_slack(aiohttp_server: AiohttpServer, now: Callable[[], float]) -> SlackFake:
    app = web.Application()
    fake = SlackFake(server=None, now=now)  # type: ignore[arg-type]
    app.router.add_post("/api/{method}", fake.handle)
    # No access log: it would print the request path (and any token in it) into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
