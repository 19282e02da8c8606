"""A loopback fake of Twilio's Messages API that validates requests as Twilio does.

Checks basic auth (401, code 20003), the account in the path (404, 20404), `To` (400,
21211), `From`/`MessagingServiceSid` (400, 21603) and `Body` (400, 21602); answers 201
with a `sid`. A script (`[(429, {"Retry-After": "1"}, {...}), ...]`) overrides answers.
"""

from __future__ import annotations

import base64
import itertools
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from .fakes import Recorded

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "SECRET-twilio-token-31337"
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
_E164 = re.compile(r"\+[1-9]\d{1,14}")

Script = list[tuple[int, dict[str, str], Any]]


def fault(status: int, code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


@dataclass
class TwilioFake:
    server: TestServer
    script: Script = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def api_url(self) -> str:
        """The base URL (what `api_url` is configured to)."""
        return str(self.server.make_url("")).rstrip("/")

    def forms(self) -> list[dict[str, str]]:
        return [dict(urllib.parse.parse_qsl(r.text, keep_blank_values=True))
                for r in self.requests]

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if self.script:
            status, headers, answer = self.script.pop(0)
            return web.json_response(answer, status=status, headers=headers)
        status, answer = self._answer(request, body)
        return web.json_response(answer, status=status)

    def _answer(self, request: web.Request, body: bytes) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return 401, fault(401, 20003, "Authenticate")
        if request.method != "POST" or request.path != MESSAGES_PATH:
            return 404, fault(404, 20404, "The requested resource was not found")
        form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
        to = form.get("To", "")
        if not _E164.fullmatch(to) or to.startswith("+1555000"):
            return 400, fault(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return 400, fault(400, 21603, "A 'From' or 'MessagingServiceSid' is required.")
        if not form.get("Body"):
            return 400, fault(400, 21602, "Message body is required.")
        sid = f"SM{next(self._ids):032x}"
        return 201, {"sid": sid, "status": "queued", "to": to, "body": form["Body"],
                     "from": form.get("From"), "account_sid": ACCOUNT_SID}


async def start_twilio(aiohttp_server: AiohttpServer, script: Script | None = None) -> TwilioFake:
    app = web.Application()
    fake = TwilioFake(server=None, script=list(script or []))  # type: ignore[arg-type]
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
