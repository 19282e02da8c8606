"""Browser sessions over HTTP: log in with the basic-auth credentials, then the cookie
opens the read routes and the live stream (EventSource and WebSocket cannot send
headers); writes need a same-origin `Origin`; logout, a password change and expiry end
it; a restart on the same database keeps it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import v2_alert
from fakeclock import FakeClock
from streamclient import SSE

from router.web.tokens import COOKIE, TTL

PASSWORD = "pass-word-5678"


def config(password_line: str) -> str:
    return f"""
route:
  receiver: default
  group_wait: 1h
receivers:
  - name: default
server:
  auth:
    basic_auth: [{{username: alice, {password_line}}}]
"""


CONFIG = config(f"password: {PASSWORD}")


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()
                                                          ).decode()}


async def login(client: Any, **kw: Any) -> str:
    resp = await client.post("/api/v1/session", **kw)
    assert resp.status == 200, await resp.text()
    morsel = resp.cookies[COOKIE]
    assert morsel["httponly"]
    assert morsel["samesite"] == "Strict"
    assert morsel["path"] == "/"
    client.session.cookie_jar.clear()  # each request below names its cookie itself
    return str(morsel.value)


def cookie(token: str, **headers: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}", **headers}


async def test_login_opens_reads_and_streams_to_the_cookie(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    assert (await client.get("/api/v1/stream")).status == 401
    for kw in ({"headers": basic("alice", "wrong")}, {"json": {"username": "alice"}},
               {"json": {"username": "bob", "password": PASSWORD}}):
        resp = await client.post("/api/v1/session", **kw)
        assert resp.status == 401
        assert COOKIE not in resp.cookies
    token = await login(client, headers=basic("alice", PASSWORD))
    assert token == token.strip()
    by_json = await login(client, json={"username": "alice", "password": PASSWORD})
    assert (await client.get("/api/v1/alerts", headers=cookie(by_json))).status == 200
    resp = await client.get("/api/v1/stream", headers=cookie(token))
    assert resp.status == 200
    assert (await SSE(resp).event())["event"] == "open"
    ws = await client.ws_connect("/api/v1/stream/ws", headers=cookie(token))
    assert (await ws.receive_json())["type"] == "open"
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as err:
        await client.ws_connect("/api/v1/stream/ws",
                                headers=cookie(token, Origin="https://evil.test"))
    assert err.value.status == 403
    assert (await client.get("/api/v1/alerts", headers=cookie(token + "x"))).status == 401


async def test_writes_by_cookie_need_the_routers_own_origin(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    token = await login(client, headers=basic("alice", PASSWORD))
    own = f"http://{client.server.host}:{client.server.port}"
    for origin, status in ((None, 401), ("https://evil.test", 401), (own, 202)):
        headers = cookie(token) if origin is None else cookie(token, Origin=origin)
        resp = await client.post("/api/v2/alerts", json=[v2_alert("A")], headers=headers)
        assert resp.status == status, origin
    resp = await client.post("/api/v1/session", headers={**basic("alice", PASSWORD),
                                                         "Origin": "https://evil.test"})
    assert resp.status == 403


async def test_logout_and_expiry_end_the_session(make_router: Any, clock: FakeClock) -> None:
    client, _ = await make_router(CONFIG)
    token = await login(client, headers=basic("alice", PASSWORD))
    other = await login(client, headers=basic("alice", PASSWORD))
    resp = await client.delete("/api/v1/session", headers=cookie(token))
    assert resp.status == 200
    assert resp.cookies[COOKIE].value == ""
    client.session.cookie_jar.clear()
    assert (await client.get("/api/v1/alerts", headers=cookie(token))).status == 401
    assert (await client.get("/api/v1/alerts", headers=cookie(other))).status == 200
    await clock.advance(TTL + 1)
    assert (await client.get("/api/v1/alerts", headers=cookie(other))).status == 401


async def test_a_session_survives_a_restart_but_not_a_password_change(
        make_router: Any, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD)
    text = config(f"password_file: {secret}")
    first, _ = await make_router(text)
    token = await login(first, headers=basic("alice", PASSWORD))
    await first.close()
    client, _ = await make_router(text)
    assert (await client.get("/api/v1/alerts", headers=cookie(token))).status == 200
    secret.write_text("a-new-password-42")  # read per request: no reload needed
    assert (await client.get("/api/v1/alerts", headers=cookie(token))).status == 401


async def test_without_auth_login_says_so(make_router: Any) -> None:
    client, _ = await make_router(CONFIG.split("server:")[0])
    resp = await client.post("/api/v1/session")
    assert resp.status == 200
    assert await resp.json() == {"authRequired": False}
