"""A loopback fake of WeChat Work's `gettoken` and `message/send`, checking what WeChat
checks: corp id and secret, access tokens (unknown 40014, expired 42001 after
`expires_in` on the test's clock), the agent, recipients, message types and the content
limits. Answers are WeChat's: HTTP 200 with `errcode` / `errmsg`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

CORP_ID = "ww0123456789abcdef"
SECRET = "corpsecret-SECRET-wechat-7f3a"
AGENT = "1000002"
LIMITS = {"text": 2048, "markdown": 4096}
# Script entries for message/send: an HTTP status, or a WeChat answer (a dict, HTTP 200).
Script = list[int | dict[str, Any]]


def _err(code: int, message: str) -> dict[str, Any]:
    return {"errcode": code, "errmsg": f"{message}, hint: [1795560171_12_abc], from ip: "
                                       "127.0.0.1, more info at https://open.work.weixin"}


@dataclass
class WechatFake:
    server: TestServer
    now: Callable[[], float]
    script: Script = field(default_factory=list)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    requests: list[Recorded] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    token_calls: int = 0
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        return str(self.server.make_url("/cgi-bin/"))

    async def gettoken(self, request: web.Request) -> web.Response:
        self._record(request, b"")
        self.token_calls += 1
        if request.query.get("corpid") != CORP_ID:
            return web.json_response(_err(40013, "invalid corpid"))
        if request.query.get("corpsecret") != SECRET:
            return web.json_response(_err(40001, "invalid credential"))
        token = f"ACCESS-TOKEN-{next(self._ids)}-{'x' * 40}"
        self.tokens[token] = self.now() + 7200
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token,
                                  "expires_in": 7200})

    async def send(self, request: web.Request) -> web.Response:
        body = await request.read()
        self._record(request, body)
        token = request.query.get("access_token")
        if not token:
            return web.json_response(_err(41001, "access_token missing"))
        if token not in self.tokens:
            return web.json_response(_err(40014, "invalid access_token"))
        if self.now() >= self.tokens[token]:
            return web.json_response(_err(42001, "access_token expired"))
        if self.script:
            item = self.script.pop(0)
            if isinstance(item, dict):
                return web.json_response(item)
            if item != 200:
                return web.Response(status=item, text="error")
        return web.json_response(self._message(json.loads(body)))

    def _message(self, sent: dict[str, Any]) -> dict[str, Any]:
        if str(sent.get("agentid", "")) != AGENT:
            return _err(40056, "invalid agentid")
        if not any(sent.get(k) for k in ("touser", "toparty", "totag")):
            return _err(40035, "invalid parameter: touser, toparty and totag are empty")
        kind = sent.get("msgtype")
        if kind not in LIMITS:
            return _err(40008, "invalid message type")
        content = (sent.get(kind) or {}).get("content", "")
        if not content.strip():
            return _err(44004, "empty content")
        if len(content.encode()) > LIMITS[kind]:
            return _err(45002, "content size out of limit")
        self.messages.append(sent)
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "",
                "msgid": f"msg{len(self.messages)}"}

    def _record(self, request: web.Request, body: bytes) -> None:
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))


async def start_wechat(aiohttp_server: AiohttpServer, now: Callable[[], float],
                       script: Script | None = None) -> WechatFake:
    app = web.Application()
    fake = WechatFake(server=None, now=now, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_get("/cgi-bin/gettoken", fake.gettoken)
    app.router.add_post("/cgi-bin/message/send", fake.send)
    # No access log: it would print the query, and the secret and token in it.
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
