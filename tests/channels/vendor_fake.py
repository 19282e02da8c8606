"""What the stateful vendor fakes share: recording, a script of answers, serving on loopback.

A fake subclasses `VendorFake`, registers its routes in `routes` and answers with
`self.scripted(...)` first, so a test can make the vendor fail (`[500, 429]`) before it
behaves; each script entry is a status (the vendor's usual body for it, from `bodies`) or
a `(status, body)` pair. After the script, the fake validates and answers as the vendor.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

Script = list[int | tuple[int, Any]]
Steps = Sequence[int | tuple[int, Any]]  # what a test passes to start a fake
Answer = tuple[int, Any]  # status, a JSON-able body (a str is sent as text)


@dataclass
class VendorFake:
    server: TestServer = field(init=False)
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    bodies: dict[int, Any] = field(default_factory=dict)  # the vendor's usual error bodies

    def next_id(self, prefix: str = "") -> str:
        return f"{prefix}{next(self._ids):08d}"

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def record(self, request: web.Request) -> bytes:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        return body

    def scripted(self) -> Answer | None:
        """The next scripted failure, if any (a scripted 200 lets the fake answer)."""
        if not self.script:
            return None
        item = self.script.pop(0)
        status, body = (item, self.bodies.get(item)) if isinstance(item, int) else item
        if status == 200 and body is None:
            return None
        return status, body if body is not None else {"error": f"HTTP {status}"}

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError


def respond(answer: Answer, headers: dict[str, str] | None = None) -> web.Response:
    status, body = answer
    if isinstance(body, str):
        return web.Response(status=status, text=body, headers=headers)
    return web.json_response(body, status=status, headers=headers)


async def serve(aiohttp_server: AiohttpServer, fake: VendorFake) -> None:
    app = web.Application()
    fake.routes(app)
    # No access log: it would print the request path (and any key in it) into caplog.
    fake.server = await aiohttp_server(app, access_log=None)
