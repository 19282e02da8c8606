"""Browser sessions: log in once with the configured basic-auth credentials, then send a
signed cookie (browsers cannot add headers to EventSource or WebSocket).

`POST /api/v1/session` checks the credentials (an `Authorization: Basic` header or a JSON
body `{"username", "password"}`) and sets an HttpOnly, SameSite=Strict cookie holding
a token signed by `router/web/tokens.py` (logins survive a restart; a changed password
ends its sessions). `DELETE /api/v1/session` clears the cookie and revokes the token in
this process. A cookie counts for `read` routes; for `write` routes only with a
same-origin `Origin` header (CSRF), and a WebSocket upgrade with a foreign `Origin` is
refused.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from urllib.parse import urlsplit

from aiohttp import web

from router.config.types import IngestAuth
from router.errors import InputError
from router.timefmt import format_time
from router.web import jsonbody
from router.web.errors import RequestError
from router.web.keys import CLOCK, RUNTIME, SESSIONS
from router.web.tokens import COOKIE, TTL, reveal

log = logging.getLogger(__name__)

def origin_allowed(request: web.Request) -> bool:
    """No Origin (not a browser), or the router's own origin (as reached, or as
    `server.external_url` names it behind a proxy)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    external = urlsplit(request.app[RUNTIME].current.config.server.external_url)
    return origin in (f"{request.scheme}://{request.host}",
                      f"{external.scheme}://{external.netloc}")


def cookie_user(request: web.Request, auth: IngestAuth) -> str | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return request.app[SESSIONS].verify(token, auth, request.app[CLOCK].now())


async def _credentials(request: web.Request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    scheme, _, cred = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(cred.strip(), validate=True).decode(
                ).partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return user, password
    try:
        body = jsonbody.loads(await request.read()) if request.can_read_body else None
    except InputError:
        raise RequestError("expected a JSON object {username, password}", "$") from None
    if not isinstance(body, dict):
        return "", ""
    name, secret = body.get("username"), body.get("password")
    return (name, secret) if isinstance(name, str) and isinstance(secret, str) else ("", "")


async def login(request: web.Request) -> web.Response:
    """POST /api/v1/session: basic-auth credentials in, session cookie out."""
    auth = request.app[RUNTIME].current.config.server.auth
    if not origin_allowed(request):
        raise RequestError("cross-origin login refused", "Origin", 403)
    if not auth.enabled:
        return web.json_response({"authRequired": False})
    name, password = await _credentials(request)
    for user in auth.basic_auth:
        expected = reveal(user.password)
        if hmac.compare_digest(user.username.encode(), name.encode()) and expected and \
                hmac.compare_digest(password.encode(), expected.encode()):
            token, expires = request.app[SESSIONS].issue(user, request.app[CLOCK].now())
            resp = web.json_response({"username": name, "expiresAt": format_time(expires)})
            secure = request.secure or request.app[RUNTIME].current.config.server.external_url \
                .startswith("https:")
            resp.set_cookie(COOKIE, token, max_age=int(TTL), path="/", httponly=True,
                            samesite="Strict", secure=secure)
            return resp
    log.info("login refused", extra={"username": name[:64]})
    raise RequestError("wrong username or password", "", 401)


async def logout(request: web.Request) -> web.Response:
    """DELETE /api/v1/session: revoke and clear the cookie."""
    if not origin_allowed(request):
        raise RequestError("cross-origin logout refused", "Origin", 403)
    token = request.cookies.get(COOKIE)
    if token:
        request.app[SESSIONS].revoke(token, request.app[CLOCK].now())
    resp = web.json_response(None)
    resp.del_cookie(COOKIE, path="/")
    return resp
