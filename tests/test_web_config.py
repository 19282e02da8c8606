"""`--web.config.file` (exporter-toolkit's format) read and applied at the HTTP edge.

Problems are `file:line:col: path: message` with exporter-toolkit's wording where it has
one and never quote a hash; `basic_auth_users` (bcrypt) guard the read and write routes
beside `server.auth`, the probes stay public; a changed file takes effect without a
restart; the configured headers are on every answer.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from router.config.web_config import WebConfigFile, load_web_config
from router.errors import ConfigError

PASSWORD = "correct horse battery staple"
# Cost 4: the format and semantics of production hashes at a test's speed.
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "web.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_web_config(str(path))
    return [str(p).removeprefix(f"{path}:") for p in caught.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ("tls_server_config:\n  cert_fil: x\n",
     ['2:3: tls_server_config.cert_fil: unknown key "cert_fil" (did you mean "cert_file"?)',
      "2:3: tls_server_config: missing one of cert or cert_file",
      "2:3: tls_server_config: missing one of key or key_file"]),
    ("http_server_config:\n  headers:\n    Server: nginx\n",
     ['3:13: http_server_config.headers.Server: HTTP header "Server" can not be configured']),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
     ['3:22: http_server_config.headers.X-Frame-Options: invalid value for X-Frame-Options. '
      'Expected one of: "deny", "sameorigin", but got: "allow"']),
    ("basic_auth_users:\n  admin: hunter2\n",
     ['2:10: basic_auth_users.admin: user "admin": not a bcrypt hash (want $2y$<cost>$..., '
      "e.g. from htpasswd -nBC 10)"]),
    ("tls_server_config:\n  cert: x\n  key: y\n  client_auth_type: Sometimes\n",
     ["4:21: tls_server_config.client_auth_type: invalid ClientAuth: Sometimes (want one of "
      "NoClientCert, RequestClientCert, RequireAnyClientCert, RequireClientCert, "
      "VerifyClientCertIfGiven, RequireAndVerifyClientCert)"]),
    ("tls_server_config:\n  cert: x\n  key: y\n  client_ca: z\n",
     ["2:3: tls_server_config: client CA's have been configured without a Client Auth "
      "Policy"]),
    ("tls_server_config:\n  cert: x\n  key: y\n  min_version: TLS14\n"
     "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
     ["4:16: tls_server_config.min_version: unknown TLS version: TLS14",
      "5:19: tls_server_config.cipher_suites[0]: unknown cipher: TLS_RSA_WITH_RC4_128_SHA"]),
    ("tls_server_config:\n  cert_file: missing.crt\n  key: y\n",
     ["2:14: tls_server_config.cert_file: file not found: {dir}/missing.crt"]),
    ("rate_limit: {burst: 1, interval: 1s}\n",
     ["1:13: rate_limit: exporter-toolkit's rate_limit is not supported yet"]),
])
def test_problems_name_file_line_column_and_path(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    assert problems(tmp_path, text) == [e.format(dir=tmp_path) for e in expected]


def test_a_bad_hash_is_never_quoted(tmp_path: Path) -> None:
    secretish = "$2y$10$" + "x" * 20
    found = problems(tmp_path, f"basic_auth_users:\n  admin: '{secretish}'\n")
    assert found
    assert not any(secretish in p or "xxxx" in p for p in found)


def test_a_good_file_loads(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("cert", encoding="utf-8")
    (tmp_path / "tls.key").write_text("key", encoding="utf-8")
    path = tmp_path / "web.yml"
    path.write_text(f"""
tls_server_config:
  cert_file: tls.crt
  key_file: {tmp_path}/tls.key
  min_version: TLS13
  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
http_server_config:
  http2: false
  headers: {{X-Frame-Options: deny, Strict-Transport-Security: max-age=31536000}}
basic_auth_users:
  prometheus: {HASH}
""", encoding="utf-8")
    cfg = load_web_config(str(path))
    assert cfg.tls is not None
    assert cfg.tls.cert_file == str(tmp_path / "tls.crt")  # relative to the web config
    assert cfg.tls.min_version == "TLS13"
    assert cfg.headers == (("X-Frame-Options", "deny"),
                           ("Strict-Transport-Security", "max-age=31536000"))
    assert [u for u, _ in cfg.users] == ["prometheus"]
    assert HASH not in repr(cfg)


CONFIG = """
route: {receiver: default}
receivers: [{name: default}]
"""


async def router_with(make_router: Any, tmp_path: Path, web_text: str,
                      config: str = CONFIG) -> tuple[Any, Path]:
    path = tmp_path / "web.yml"
    path.write_text(web_text, encoding="utf-8")
    client, _ = await make_router(config, web_config=WebConfigFile(str(path)).current)
    return client, path


async def test_basic_auth_users_guard_reads_and_writes_not_probes(
    make_router: Any, tmp_path: Path
) -> None:
    client, _ = await router_with(make_router, tmp_path,
                                  f"basic_auth_users:\n  prometheus: {HASH}\n")
    resp = await client.get("/api/v2/status")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Basic realm="alert-router"'
    assert (await resp.json())["error"] == "unauthorized"
    assert (await client.get("/api/v2/status",
                             headers=basic("prometheus", PASSWORD))).status == 200
    for user, password in (("prometheus", "wrong"), ("nobody", PASSWORD),
                           ("prometheus", "x" * 100)):  # over bcrypt's 72 bytes
        assert (await client.get("/metrics", headers=basic(user, password))).status == 401
    assert (await client.post("/api/v2/alerts", json=[{"labels": {"a": "b"}}])).status == 401
    assert (await client.post("/api/v2/alerts", json=[{"labels": {"a": "b"}}],
                              headers=basic("prometheus", PASSWORD))).status == 200
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/-/ready")).status == 200


async def test_web_users_and_server_auth_both_admit(make_router: Any, tmp_path: Path) -> None:
    config = CONFIG + "server:\n  auth:\n    bearer_tokens: [token-1234567890]\n"
    client, _ = await router_with(make_router, tmp_path,
                                  f"basic_auth_users:\n  prometheus: {HASH}\n", config)
    resp = await client.get("/api/v2/status")
    assert resp.headers["WWW-Authenticate"] == ('Bearer realm="alert-router", '
                                                'Basic realm="alert-router"')
    assert (await client.get("/api/v2/status", headers={
        "Authorization": "Bearer token-1234567890"})).status == 200
    assert (await client.get("/api/v2/status",
                             headers=basic("prometheus", PASSWORD))).status == 200


async def test_a_changed_web_config_applies_without_restart(
    make_router: Any, tmp_path: Path
) -> None:
    client, path = await router_with(make_router, tmp_path,
                                     f"basic_auth_users:\n  prometheus: {HASH}\n")
    assert (await client.get("/metrics", headers=basic("grafana", PASSWORD))).status == 401
    path.write_text(f"basic_auth_users:\n  prometheus: {HASH}\n  grafana: {HASH}\n"
                    "http_server_config: {headers: {X-Content-Type-Options: nosniff}}\n",
                    encoding="utf-8")
    resp = await client.get("/metrics", headers=basic("grafana", PASSWORD))
    assert resp.status == 200
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    # A file that no longer loads keeps the last good config (still guarded).
    path.write_text("basic_auth_users: [oops]\n", encoding="utf-8")
    assert (await client.get("/metrics")).status == 401
    assert (await client.get("/metrics", headers=basic("grafana", PASSWORD))).status == 200


async def test_headers_are_on_every_answer(make_router: Any, tmp_path: Path) -> None:
    client, _ = await router_with(make_router, tmp_path, """
http_server_config:
  headers:
    X-Frame-Options: deny
    Content-Security-Policy: default-src 'none'
""")
    for path, status in (("/-/healthy", 200), ("/no/such/path", 404)):
        resp = await client.get(path)
        assert resp.status == status
        assert resp.headers["X-Frame-Options"] == "deny"
        assert resp.headers["Content-Security-Policy"] == "default-src 'none'"
    bad = await client.post("/api/v2/alerts", data=b"{", headers={
        "Content-Type": "application/json"})
    assert bad.status == 400
    assert bad.headers["X-Frame-Options"] == "deny"


def test_a_bad_web_config_version_is_read_once_not_on_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from router.config import web_config

    path = tmp_path / "web.yml"
    path.write_text(f"basic_auth_users:\n  prometheus: {HASH}\n", encoding="utf-8")
    watched = WebConfigFile(str(path))
    good = watched.current()
    loads: list[str] = []

    def counting(name: str) -> Any:
        loads.append(name)
        return load_web_config(name)

    monkeypatch.setattr(web_config, "load_web_config", counting)
    path.write_text("basic_auth_users: [oops]\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger=web_config.log.name):
        for _ in range(5):
            assert watched.current() is good
    assert len(loads) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "web config does not load; the previous one stays"]
    path.write_text(f"basic_auth_users:\n  grafana: {HASH}\n", encoding="utf-8")
    assert [u for u, _ in watched.current().users] == ["grafana"]
    assert len(loads) == 2
