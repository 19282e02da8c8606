"""A loopback fake of Telegram's Bot API `sendMessage` that checks what Telegram checks.

It validates the token in the path, the chat, the 4,096-character limit after entity
parsing and HTML parse mode (only Telegram's tags, balanced; `<`, `>`, `&` escaped), and
keeps the messages it accepted so tests can read what a phone would show.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

TOKEN = "123456:SECRET-telegram-token-ABCdef"
CHAT = -1001234567890
TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code",
                  "pre", "tg-spoiler", "blockquote"})
_TAG = re.compile(r'<(/?)([a-zA-Z-]*)((?:\s+[a-z-]+="[^"<>]*")*)\s*>')
_BAD_AMP = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)")
# Script entries: a status (Telegram's usual body for it) or (status, body dict).
Script = list[int | tuple[int, dict[str, Any]]]


def _failure(code: int, description: str, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if params:
        body["parameters"] = params
    return body


_BODIES = {
    400: _failure(400, "Bad Request: chat not found"),
    401: _failure(401, "Unauthorized"),
    403: _failure(403, "Forbidden: bot was kicked from the supergroup chat"),
    429: _failure(429, "Too Many Requests: retry after 5", retry_after=5),
    500: _failure(500, "Internal Server Error"),
}


def parse_html(text: str) -> str:
    """The visible text of an HTML-mode message; ValueError as Telegram's "can't parse"."""
    visible: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in [*_TAG.finditer(text), None]:
        chunk = text[pos: m.start() if m else len(text)]
        if "<" in chunk or ">" in chunk or _BAD_AMP.search(chunk):
            raise ValueError(f"unsupported start tag or reserved character at {pos}")
        visible.append(html.unescape(chunk))
        if m is None:
            break
        closing, name = m.group(1), m.group(2).lower()
        if name not in TAGS:
            raise ValueError(f'unsupported start tag "{name}" at byte offset {m.start()}')
        if closing:
            if not stack or stack.pop() != name:
                raise ValueError(f'unmatched end tag at byte offset {m.start()}, expected "'
                                 f'{stack[-1] if stack else ""}", found "{name}"')
        else:
            stack.append(name)
        pos = m.end()
    if stack:
        raise ValueError(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(visible)


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class TelegramFake:
    server: TestServer
    token: str = TOKEN
    chats: set[int] = field(default_factory=lambda: {CHAT})
    migrated: dict[int, int] = field(default_factory=dict)  # old chat id -> supergroup id
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # accepted: chat, text…

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        status, answer = self._answer(request, body)
        return web.json_response(answer, status=status)

    def _answer(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        if request.match_info["token"] != self.token:
            return 401, _BODIES[401]
        if request.match_info["method"] != "sendMessage":
            return 404, _failure(404, "Not Found")
        if self.script:
            item = self.script.pop(0)
            status, answer = (item, _BODIES.get(item)) if isinstance(item, int) else item
            if answer is not None or status != 200:
                return status, answer or _failure(status, "Error")
        try:
            sent = json.loads(body)
        except ValueError:
            return 400, _failure(400, "Bad Request: message text is empty")
        return self._send(sent)

    def _send(self, sent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chat = sent.get("chat_id")
        if chat in self.migrated:
            return 400, _failure(400, "Bad Request: group chat was upgraded to a supergroup "
                                      "chat", migrate_to_chat_id=self.migrated[chat])
        if chat not in self.chats:
            return 400, _BODIES[400]
        text = str(sent.get("text", ""))
        if sent.get("parse_mode") == "HTML":
            try:
                text = parse_html(text)
            except ValueError as exc:
                return 400, _failure(400, f"Bad Request: can't parse entities: {exc}")
        if not text.strip():
            return 400, _failure(400, "Bad Request: message text is empty")
        if units(text) > 4096:
            return 400, _failure(400, "Bad Request: message is too long")
        message_id = len(self.messages) + 1
        self.messages.append({**sent, "visible": text, "message_id": message_id})
        return 200, {"ok": True, "result": {"message_id": message_id, "chat": {"id": chat},
                                            "date": 1_795_560_171, "text": text}}


async def start_telegram(aiohttp_server: AiohttpServer, script: Script | None = None
                         ) -> TelegramFake:
    app = web.Application()
    fake = TelegramFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_post("/bot{token}/{method}", fake.handle)
    # No access log: it would print the request path, and the token in it, into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
