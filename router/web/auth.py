"""Authentication as middleware, with an access policy declared per route.

Every route is registered with a `Policy` (router/web/routes.py). With `server.auth` set,
`read` and `write` routes need a bearer token or basic-auth credentials, unless
`server.auth.public_read` opens the read routes; `public` routes (health, readiness) never
do. A route that somehow has no policy is refused, never served: forgetting to declare one
cannot open an endpoint. Unknown paths and methods fall through to aiohttp's 404/405.

A browser may instead send the session cookie it got from `POST /api/v1/session`
(router/web/session.py): accepted for `read` routes, and for `write` routes only with a
same-origin `Origin` header. The web config's `basic_auth_users` (bcrypt,
router/web/webconfig.py) are one more source of credentials, checked in the same place:
with them, `read` and `write` routes need credentials even without `server.auth`.
Credentials are compared in constant time. A `_file` credential is read per request (so
rotation needs no reload); an empty or unreadable one never matches anything, and is
logged once per file and error a minute, not per request.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import time

from aiohttp import web

from router.config.types import IngestAuth, Secret
from router.logs import RepeatLog
from router.web.errors import Handler, error_response
from router.web.keys import ROUTE_POLICIES, RUNTIME, Policy
from router.web.session import cookie_user, origin_allowed
from router.web.webconfig import WEB, WebEdge

log = logging.getLogger(__name__)
_unreadable = RepeatLog(log, time.monotonic)

REALM = "alert-router"


def _reveal(secret: Secret) -> str:
    """The credential's value; "" (never matches) if its file is gone or unreadable."""
    try:
        return secret.reveal()
    except (OSError, UnicodeDecodeError) as exc:
        # Only the type: a decoding error's text quotes bytes of the credential.
        _unreadable.failure("credentials file unreadable; it matches nothing",
                            cause=type(exc).__name__, per=("file",), level=logging.WARNING,
                            file=secret.file)
        return ""


def _equal(given: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def authenticated(auth: IngestAuth, header: str) -> bool:
    """Whether an `Authorization` header carries one of the configured credentials."""
    scheme, _, cred = header.partition(" ")
    cred = cred.strip()
    if scheme.lower() == "bearer":
        return any(_equal(cred, _reveal(t)) for t in auth.bearer_tokens)
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(cred, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return any(
            hmac.compare_digest(user.encode(), b.username.encode())
            and _equal(password, _reveal(b.password))
            for b in auth.basic_auth
        )
    return False


# The web UI marks its own calls with this header: a `Basic` challenge would make the
# browser stop the page's fetch behind its built-in password dialog (the page shows its
# own login form instead), so such a call is challenged with `Session`, the cookie.
PAGE_HEADER = "X-Alert-Router-UI"


def _challenge(auth: IngestAuth, users: bool, request: web.Request) -> str:
    basic = "Session" if PAGE_HEADER in request.headers else "Basic"
    schemes = (["Bearer"] if auth.bearer_tokens else []) + (
        [basic] if auth.basic_auth or users else [])
    return ", ".join(f'{s} realm="{REALM}"' for s in schemes)


def required(policy: Policy, auth: IngestAuth, users: bool = False) -> bool:
    """Whether a request to a route with `policy` must carry credentials (`users`: the web
    config has basic_auth_users)."""
    if not (auth.enabled or users) or policy is Policy.PUBLIC:
        return False
    return not (policy is Policy.READ and auth.public_read)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match_info = request.match_info
    if match_info.http_exception is not None:  # no such path or method: 404/405 as usual
        return await handler(request)
    policy = request.app[ROUTE_POLICIES].get(match_info.route)
    if policy is None:
        log.error("route without an access policy refused", extra={"path": request.path})
        return error_response(403, "forbidden", "this route declares no access policy")
    auth = request.app[RUNTIME].current.config.server.auth
    edge = request.app[WEB]
    users = edge.has_users()
    if required(policy, auth, users) and not await _credentials(request, auth, edge) \
            and not _session(request, policy, auth):
        return error_response(401, "unauthorized", "missing or wrong credentials",
                              headers={"WWW-Authenticate": _challenge(auth, users, request)})
    return await handler(request)


async def _credentials(request: web.Request, auth: IngestAuth, edge: WebEdge) -> bool:
    header = request.headers.get("Authorization", "")
    return authenticated(auth, header) or await edge.user_ok(header)


def _session(request: web.Request, policy: Policy, auth: IngestAuth) -> bool:
    """A browser's session cookie (router/web/session.py): enough for `read` routes; for
    `write` routes only from a page of the router's own origin (a cookie rides along on
    cross-site requests too: CSRF)."""
    if cookie_user(request, auth) is None:
        return False
    return policy is Policy.READ or (
        "Origin" in request.headers and origin_allowed(request))
