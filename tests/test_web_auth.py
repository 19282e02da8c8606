"""The web edge's access policy, seen over HTTP: public probes, read and write routes.

With `server.auth` set, every read and write route answers 401 (JSON, `WWW-Authenticate`)
without credentials and serves with them; `public_read` opens the reads only; a route
registered without a policy is refused. An empty or missing credentials file is a config
error at `check-config` and at reload, never "auth off"; so is an `auth` with no credentials.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import api_matcher, config_from, silence_body, v2_alert
from fakeclock import FakeClock
from prometheus_client import CollectorRegistry

from router.app import create_app
from router.cli import main
from router.web.keys import ROUTE_POLICIES, Policy
from router.web.routes import ROUTES

TOKEN = "reader-writer-token-1234"
BASIC = "Basic " + base64.b64encode(b"amtool:pass-word-5678").decode()
GOOD = {"Authorization": f"Bearer {TOKEN}"}

CONFIG = f"""
route:
  receiver: default
  group_wait: 1h
receivers:
  - name: default
server:
  auth:
    bearer_tokens: [{TOKEN}]
    basic_auth: [{{username: amtool, password: pass-word-5678}}]
"""
PUBLIC_READ = CONFIG + "    public_read: true\n"

# Every read route with a concrete path; {sid}/{fp} are filled in once they exist.
READS = ("/api/v1/alerts", "/api/v1/alerts/{fp}/trace", "/api/v1/deliveries",
         "/api/v2/silences", "/api/v2/silence/{sid}", "/api/v2/alerts", "/api/v2/alerts/groups",
         "/api/v2/receivers", "/api/v2/status", "/metrics", "/api/v1/events")
PROBES = ("/-/healthy", "/-/ready")
# Public beyond the probes: the VAPID public key (a page needs it to subscribe), the
# service worker a page registers, the API's OpenAPI description (no data); logging in is
# how a browser gets credentials (the session route checks them itself); the web UI's
# shell (its data comes from the API).
PAGE = ("/", "/static/{name}")
PUBLIC = (*PROBES, "/api/v1/webpush/key", "/sw.js", "/api/v1/openapi.json", "/api/v1/session",
          *PAGE)


def writes(sid: str) -> list[tuple[str, str, Any]]:
    """Every write route with a request that would be served given credentials."""
    return [
        ("POST", "/api/v2/alerts", [v2_alert("Written")]),
        ("POST", "/api/v1/alertmanager", {}),
        ("POST", "/api/v1/events/nope", {}),
        ("POST", "/api/v1/deliveries/1/retry", None),
        ("POST", "/api/v2/silences", silence_body([api_matcher("a", "b")], 0, 4e9)),
        ("DELETE", f"/api/v2/silence/{sid}", None),
        ("POST", "/-/reload", None),
        ("POST", "/api/v1/webpush/subscriptions", {}),
        ("DELETE", "/api/v1/webpush/subscriptions", {}),
    ]


async def unauthorized(resp: Any) -> None:
    assert resp.status == 401, await resp.text()
    assert resp.content_type == "application/json"
    assert await resp.json() == {"error": "unauthorized",
                                 "detail": "missing or wrong credentials"}
    challenge = resp.headers["WWW-Authenticate"]
    assert 'Bearer realm="alert-router"' in challenge
    assert 'Basic realm="alert-router"' in challenge


async def seeded(client: Any) -> dict[str, str]:
    """Create one alert and one silence (with credentials); their ids fill READS."""
    resp = await client.post("/api/v2/alerts", json=[v2_alert("Seed")], headers=GOOD)
    assert resp.status == 200, await resp.text()
    resp = await client.post("/api/v2/silences", headers=GOOD,
                             json=silence_body([api_matcher("x", "y")], 0, 4e9))
    assert resp.status == 200, await resp.text()
    sid = (await resp.json())["silenceID"]
    alerts = await (await client.get("/api/v1/alerts", headers=GOOD)).json()
    return {"sid": sid, "fp": alerts[0]["fingerprint"]}


# --- the route table -----------------------------------------------------------------


def test_every_registered_route_has_a_policy(tmp_path: Path, clock: FakeClock) -> None:
    app = create_app(config_from(CONFIG, tmp_path), clock=clock, registry=CollectorRegistry())
    policies = app[ROUTE_POLICIES]
    routes = list(app.router.routes())
    assert len(routes) >= len(ROUTES)
    for route in routes:
        assert route in policies, f"{route.method} {route.resource} has no access policy"
        path = route.resource.canonical if route.resource else ""
        expected = (Policy.PUBLIC if path in PUBLIC
                    else Policy.READ if route.method in ("GET", "HEAD") else Policy.WRITE)
        assert policies[route] is expected, f"{route.method} {path}"


async def test_a_route_without_a_policy_is_refused_not_served(
    aiohttp_client: Any, tmp_path: Path, clock: FakeClock
) -> None:
    served: list[str] = []

    async def extra(request: web.Request) -> web.Response:
        served.append(request.path)
        return web.json_response({"secret": "data"})

    for text in (CONFIG, "route: {receiver: default}\nreceivers: [{name: default}]\n"):
        app = create_app(config_from(text, tmp_path), clock=clock,
                         registry=CollectorRegistry())
        app.router.add_get("/api/v1/forgotten", extra)  # no policy declared
        client = await aiohttp_client(app)
        resp = await client.get("/api/v1/forgotten", headers=GOOD)
        assert resp.status == 403
        assert (await resp.json())["error"] == "forbidden"
    assert served == []


# --- with server.auth --------------------------------------------------------------


async def test_every_read_needs_credentials_and_serves_with_them(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    ids = await seeded(client)
    for template in READS:
        path = template.format(**ids)
        await unauthorized(await client.get(path))
        await unauthorized(await client.get(path, headers={"Authorization": "Bearer nope"}))
        for headers in (GOOD, {"Authorization": BASIC}):
            resp = await client.get(path, headers=headers)
            assert resp.status == 200, (path, await resp.text())


async def test_status_and_reload_need_credentials(make_router: Any, tmp_path: Path) -> None:
    client, state = await make_router(CONFIG, config_path=str(tmp_path / "config.yml"))
    await unauthorized(await client.get("/api/v2/status"))
    (tmp_path / "config.yml").write_text(CONFIG.replace("default", "other"), encoding="utf-8")
    await unauthorized(await client.post("/-/reload"))
    assert list(state.config.receivers) == ["default"]  # not reloaded
    resp = await client.post("/-/reload", headers=GOOD)
    assert resp.status == 200, await resp.text()
    assert list(state.config.receivers) == ["other"]


@pytest.mark.parametrize("text", [CONFIG, PUBLIC_READ])
async def test_every_write_needs_credentials(
    make_router: Any, tmp_path: Path, text: str
) -> None:
    client, state = await make_router(text, config_path=str(tmp_path / "config.yml"))
    ids = await seeded(client)
    for method, path, body in writes(ids["sid"]):
        await unauthorized(await client.request(method, path, json=body))
    assert sorted(a.labels["alertname"] for a in state.ingestor.alerts.values()) == ["Seed"]
    silences = await (await client.get("/api/v2/silences", headers=GOOD)).json()
    assert [s["status"]["state"] for s in silences] == ["active"]
    # With credentials each is served (whatever its answer, it is not a 401).
    for method, path, body in writes(ids["sid"]):
        resp = await client.request(method, path, json=body, headers=GOOD)
        assert resp.status != 401, (method, path)
    assert sorted(a.labels["alertname"] for a in state.ingestor.alerts.values()) == [
        "Seed", "Written"]


async def test_public_read_opens_reads_but_not_writes(make_router: Any) -> None:
    client, _ = await make_router(PUBLIC_READ)
    ids = await seeded(client)
    for template in READS:
        resp = await client.get(template.format(**ids))
        assert resp.status == 200, (template, await resp.text())
    await unauthorized(await client.post("/api/v2/alerts", json=[v2_alert("Open")]))


@pytest.mark.parametrize("text", [CONFIG, PUBLIC_READ, "route: {receiver: d}\n"
                                  "receivers: [{name: d}]\n"])
async def test_health_and_readiness_are_public(make_router: Any, text: str) -> None:
    client, _ = await make_router(text)
    for path in PROBES:
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
        assert await resp.text() == "OK\n"


async def test_unknown_paths_are_404_without_credentials(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"


# --- credentials files ----------------------------------------------------------------


def file_config(tmp_path: Path, key: str, content: str | None) -> str:
    """server.auth with one credentials file (`content` None: the file does not exist)."""
    path = tmp_path / "creds"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    auth = {
        "bearer_token_file": f"    bearer_token_file: {path}\n",
        "bearer_tokens_file": f"    bearer_tokens_file: [{path}]\n",
        "password_file": f"    basic_auth: [{{username: amtool, password_file: {path}}}]\n",
    }[key]
    return "route: {receiver: d}\nreceivers: [{name: d}]\nserver:\n  auth:\n" + auth


@pytest.mark.parametrize("key", ["bearer_token_file", "bearer_tokens_file", "password_file"])
@pytest.mark.parametrize("content", ["", " \n", None])
def test_check_config_refuses_an_empty_or_missing_credentials_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, content: str | None
) -> None:
    path = tmp_path / "router.yml"
    path.write_text(file_config(tmp_path, key, content), encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:5:"), line
    assert ": server.auth." in line
    assert ("empty" if content is not None else "not found") in line


async def test_reload_refuses_an_empty_credentials_file(
    make_router: Any, tmp_path: Path
) -> None:
    path = tmp_path / "router.yml"
    text = file_config(tmp_path, "bearer_tokens_file", "file-token")
    text += f"    bearer_token: {TOKEN}\n"
    path.write_text(text, encoding="utf-8")
    client, state = await make_router(text, config_path=str(path))
    (tmp_path / "creds").write_text("", encoding="utf-8")
    resp = await client.post("/-/reload", headers=GOOD)
    assert resp.status == 400
    answer = await resp.json()
    assert answer["error"] == "invalid_config"
    assert "credentials file is empty" in answer["detail"]
    # The running config keeps auth on: no credentials is still a 401.
    await unauthorized_bearer(await client.get("/api/v2/status"))
    assert state.config.server.auth.enabled


async def test_a_credentials_file_emptied_at_run_time_lets_nobody_in(
    make_router: Any, tmp_path: Path
) -> None:
    client, _ = await make_router(file_config(tmp_path, "bearer_token_file", TOKEN))
    assert (await client.get("/api/v2/status", headers=GOOD)).status == 200
    (tmp_path / "creds").write_text("", encoding="utf-8")
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"}, GOOD):
        await unauthorized_bearer(await client.get("/api/v2/status", headers=headers))
    (tmp_path / "creds").unlink()
    await unauthorized_bearer(await client.get("/api/v2/status", headers=GOOD))


async def unauthorized_bearer(resp: Any) -> None:
    assert resp.status == 401, await resp.text()
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="alert-router"'


def test_an_auth_section_without_credentials_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "router.yml"
    path.write_text("route: {receiver: d}\nreceivers: [{name: d}]\nserver:\n  auth:\n"
                    "    bearer_tokens: []\n    public_read: true\n", encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{path}:5:5: server.auth: no credentials"), line
