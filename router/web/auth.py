"""Ingest and API authentication: bearer tokens and/or basic auth from `server.auth`."""

from __future__ import annotations

import base64
import binascii
import hmac

from aiohttp import web

from router.app import STATE
from router.errors import InputError


def check_auth(request: web.Request) -> None:
    auth = request.app[STATE].config.server.auth
    if not auth.enabled:
        return
    header = request.headers.get("Authorization", "")
    scheme, _, cred = header.partition(" ")
    ok = False
    if scheme.lower() == "bearer":
        ok = any(hmac.compare_digest(cred.encode(), t.reveal().encode())
                 for t in auth.bearer_tokens)
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(cred, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        ok = any(
            hmac.compare_digest(user.encode(), b.username.encode())
            and hmac.compare_digest(password.encode(), b.password.reveal().encode())
            for b in auth.basic_auth
        )
    if not ok:
        raise InputError("missing or wrong credentials", status=401)
