"""`http_config` on the wire: a real loopback proxy (explicit, from the environment, with
no_proxy and CONNECT headers), mutual TLS with trustme certificates, OAuth2 client
credentials with the token cached until it expires (fake clock), and the auth headers.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.proxy import bypasses, env_proxy, pick_proxy
from router.channels.webhook import WebhookChannel
from router.config.types import (
    Authorization,
    BasicAuth,
    HttpConfig,
    OAuth2,
    Secret,
    TlsConfig,
    WebhookConfig,
)
from router.errors import DeliveryError, FailureReason
from router.rendering import Renderer

from .fake_proxy import FakeProxy, TestResolver
from .fakes import sample_alerts, sample_notification

HOST = "hooks.test"


class Receiver:
    """A loopback endpoint recording each request's headers (and the client cert)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        self.seen.append({"path": request.path, "headers": dict(request.headers),
                          "body": await request.read(), "peercert": peer})
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(resolver=TestResolver())
    async with aiohttp.ClientSession(connector=connector) as s:
        yield s


@pytest.fixture
async def proxy() -> AsyncIterator[FakeProxy]:
    fake = await FakeProxy(hosts={HOST: "127.0.0.1", "direct.test": "127.0.0.1"}).start()
    yield fake
    await fake.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def _client(session: aiohttp.ClientSession, **kwargs: Any) -> HttpClient:
    http = HttpClient(**kwargs)
    http.start(session)
    return http


async def _post(http: HttpClient, url: str, cfg: HttpConfig,
                headers: dict[str, str] | None = None) -> int:
    status, _, _ = await http.post(url, b"{}", headers=headers or {}, timeout=5.0,
                                   http_config=cfg)
    return status


# --- proxy -------------------------------------------------------------------------


async def test_proxy_url_carries_plain_http(session: aiohttp.ClientSession, proxy: FakeProxy,
                                            aiohttp_server: AiohttpServer) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    url = f"http://{HOST}:{server.port}/hook"
    cfg = HttpConfig(proxy_url=Secret(proxy.url))
    assert await _post(_client(session), url, cfg) == 200
    assert [(r.method, r.target) for r in proxy.requests] == [("POST", url)]
    assert len(receiver.seen) == 1


async def test_proxy_tunnels_https_with_connect_headers(
    session: aiohttp.ClientSession, proxy: FakeProxy, aiohttp_server: AiohttpServer,
    ca: trustme.CA,
) -> None:
    receiver = Receiver()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(server_ctx)
    server = await aiohttp_server(receiver.app(), ssl=server_ctx)
    cfg = HttpConfig(proxy_url=Secret(proxy.url),
                     proxy_connect_header=(("X-Proxy-Token", (Secret("pt-1"),)),),
                     tls_config=TlsConfig(ca=ca.cert_pem.bytes().decode()))
    assert await _post(_client(session), f"https://{HOST}:{server.port}/x", cfg) == 200
    (tunnel,) = proxy.requests
    assert (tunnel.method, tunnel.target) == ("CONNECT", f"{HOST}:{server.port}")
    assert tunnel.headers["X-Proxy-Token"] == "pt-1"
    assert "X-Proxy-Token" not in receiver.seen[0]["headers"]


async def test_no_proxy_goes_direct(session: aiohttp.ClientSession, proxy: FakeProxy,
                                    aiohttp_server: AiohttpServer) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    cfg = HttpConfig(proxy_url=Secret(proxy.url), no_proxy="example.com,direct.test")
    http = _client(session)
    assert await _post(http, f"http://direct.test:{server.port}/", cfg) == 200
    assert proxy.requests == []
    assert await _post(http, f"http://{HOST}:{server.port}/", cfg) == 200
    assert [r.target for r in proxy.requests] == [f"http://{HOST}:{server.port}/"]
    assert len(receiver.seen) == 2


async def test_proxy_from_the_process_environment(
    session: aiohttp.ClientSession, proxy: FakeProxy, aiohttp_server: AiohttpServer,
    ca: trustme.CA, monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST, "direct.test").configure_cert(server_ctx)
    server = await aiohttp_server(receiver.app(), ssl=server_ctx)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "direct.test")
    # What build_service hands every channel's client: the process environment.
    http = _client(session, environ=os.environ)
    tls = TlsConfig(ca=ca.cert_pem.bytes().decode())
    cfg = HttpConfig(proxy_from_environment=True, tls_config=tls)
    assert await _post(http, f"https://{HOST}:{server.port}/", cfg) == 200
    assert await _post(http, f"https://direct.test:{server.port}/", cfg) == 200
    assert [(r.method, r.target) for r in proxy.requests] == [("CONNECT", f"{HOST}:{server.port}")]
    # Without proxy_from_environment the variables are ignored, as in Prometheus.
    assert await _post(http, f"https://{HOST}:{server.port}/", HttpConfig(tls_config=tls)) == 200
    assert len(proxy.requests) == 1
    assert len(receiver.seen) == 3


def test_proxy_selection_follows_go_httpproxy() -> None:
    env = {"https_proxy": "proxy:3128", "HTTP_PROXY": "http://p80", "NO_PROXY": ".corp,10.0.0.0/8"}
    assert env_proxy("https://api.example.com/", env) == "http://proxy:3128"
    assert env_proxy("http://api.example.com/", env) == "http://p80"
    assert env_proxy("https://a.corp/", env) is None
    assert env_proxy("https://corp/", env) == "http://proxy:3128"  # `.corp`: subdomains only
    assert env_proxy("https://10.1.2.3/", env) is None
    assert env_proxy("https://localhost/", env) is None
    assert env_proxy("https://127.0.0.1/", env) is None
    assert bypasses("https://x.example.com:8443/", "example.com:8443")
    assert not bypasses("https://x.example.com/", "example.com:8443")
    assert bypasses("https://anything/", "*")
    explicit = HttpConfig(proxy_url=Secret("http://p:1"))
    assert pick_proxy(explicit, "http://127.0.0.1/", {}) == "http://p:1"  # no no_proxy: all
    with_np = HttpConfig(proxy_url=Secret("http://p:1"), no_proxy="x.test")
    assert pick_proxy(with_np, "http://127.0.0.1/", {}) is None  # Go's rules: not loopback


# --- TLS -----------------------------------------------------------------------------


async def _mtls_server(aiohttp_server: AiohttpServer, ca: trustme.CA,
                       receiver: Receiver) -> int:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(ctx)
    ca.configure_trust(ctx)
    ctx.verify_mode = ssl.CERT_REQUIRED
    server = await aiohttp_server(receiver.app(), ssl=ctx)
    assert server.port is not None
    return server.port


async def test_mutual_tls_with_files_and_server_name(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer, ca: trustme.CA,
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    port = await _mtls_server(aiohttp_server, ca, receiver)
    client_cert = ca.issue_cert("alert-router@example.test")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    client_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    client_cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    url = f"https://127.0.0.1:{port}/"  # the certificate names hooks.test: server_name
    http = _client(session)
    trust_only = TlsConfig(ca_file=str(tmp_path / "ca.pem"), server_name=HOST)
    with pytest.raises(DeliveryError):  # no client certificate: the handshake is refused
        await _post(http, url, HttpConfig(tls_config=trust_only))
    mtls = TlsConfig(ca_file=str(tmp_path / "ca.pem"), cert_file=str(tmp_path / "cert.pem"),
                     key=Secret(file=str(tmp_path / "key.pem")), server_name=HOST,
                     min_version="TLS12")
    assert await _post(http, url, HttpConfig(tls_config=mtls)) == 200
    # The server saw our client certificate.
    assert ("email", "alert-router@example.test") in receiver.seen[0]["peercert"][
        "subjectAltName"]


async def test_mutual_tls_inline_pem(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer, ca: trustme.CA,
) -> None:
    receiver = Receiver()
    port = await _mtls_server(aiohttp_server, ca, receiver)
    client_cert = ca.issue_cert("inline@example.test")
    tls = TlsConfig(ca=ca.cert_pem.bytes().decode(),
                    cert=client_cert.cert_chain_pems[0].bytes().decode(),
                    key=Secret(client_cert.private_key_pem.bytes().decode()),
                    server_name=HOST)
    assert await _post(_client(session), f"https://127.0.0.1:{port}/",
                       HttpConfig(tls_config=tls)) == 200
    assert ("email", "inline@example.test") in receiver.seen[0]["peercert"]["subjectAltName"]


async def test_insecure_skip_verify(session: aiohttp.ClientSession,
                                    aiohttp_server: AiohttpServer, ca: trustme.CA) -> None:
    receiver = Receiver()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(ctx)
    server = await aiohttp_server(receiver.app(), ssl=ctx)
    http = _client(session)
    url = f"https://127.0.0.1:{server.port}/"
    with pytest.raises(DeliveryError):
        await _post(http, url, HttpConfig())
    cfg = HttpConfig(tls_config=TlsConfig(insecure_skip_verify=True))
    assert await _post(http, url, cfg) == 200


# --- authorization and OAuth2 --------------------------------------------------------


async def test_authorization_basic_auth_and_channel_headers(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer, tmp_path: Path,
) -> None:
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    url = f"http://127.0.0.1:{server.port}/"
    http = _client(session)
    (tmp_path / "user").write_text("file-user\n")
    await _post(http, url, HttpConfig(authorization=Authorization("Token", Secret("t-1"))))
    await _post(http, url, HttpConfig(basic_auth=BasicAuth("", Secret("pw"),
                                                           str(tmp_path / "user"))))
    await _post(http, url, HttpConfig(bearer_token=Secret("b-1")),
                headers={"Authorization": "Bearer channel-own"})
    got = [r["headers"]["Authorization"] for r in receiver.seen]
    assert got == ["Token t-1", "Basic ZmlsZS11c2VyOnB3", "Bearer channel-own"]


async def test_oauth2_token_is_cached_until_it_expires(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer,
) -> None:
    tokens: list[dict[str, Any]] = []

    async def token(request: web.Request) -> web.Response:
        tokens.append({"auth": request.headers.get("Authorization"),
                       "form": dict(await request.post())})
        return web.json_response({"access_token": f"tok-{len(tokens)}",
                                  "token_type": "bearer", "expires_in": 60})

    idp = web.Application()
    idp.router.add_post("/oauth/token", token)
    idp_server = await aiohttp_server(idp)
    receiver = Receiver()
    server = await aiohttp_server(receiver.app())
    clock = FakeClock()
    http = _client(session, now=clock.now)
    cfg = HttpConfig(oauth2=OAuth2(
        "router", Secret("client-s3cret"), f"http://127.0.0.1:{idp_server.port}/oauth/token",
        scopes=("alerts.write", "alerts.read"), endpoint_params=(("audience", "hooks"),)))
    channel = WebhookChannel(WebhookConfig(url=Secret(f"http://127.0.0.1:{server.port}/h"),
                                           http_config=cfg), Renderer([]), http)
    payload = channel.render(sample_notification(sample_alerts(1)))
    ctx = SendContext(5.0, {}, False)
    await channel.send(payload, ctx)
    await channel.send(payload, ctx)
    await clock.advance(49)  # still 11 s left: Go's oauth2 renews 10 s before expiry
    await channel.send(payload, ctx)
    await clock.advance(2)
    await channel.send(payload, ctx)
    assert [r["headers"]["Authorization"] for r in receiver.seen] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    assert len(tokens) == 2
    assert tokens[0]["form"] == {"grant_type": "client_credentials", "audience": "hooks",
                                 "scope": "alerts.write alerts.read"}
    assert tokens[0]["auth"] == "Basic cm91dGVyOmNsaWVudC1zM2NyZXQ="


async def test_oauth2_refusal_is_an_auth_failure_without_the_secret(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer,
) -> None:
    async def token(request: web.Request) -> web.Response:
        return web.json_response({"error": "invalid_client"}, status=401)

    idp = web.Application()
    idp.router.add_post("/t", token)
    idp_server = await aiohttp_server(idp)
    cfg = HttpConfig(oauth2=OAuth2("id", Secret("sekrit"), f"http://127.0.0.1:{idp_server.port}/t"))
    with pytest.raises(DeliveryError) as info:
        await _post(_client(session), "http://127.0.0.1:1/", cfg)
    assert info.value.reason is FailureReason.AUTH
    assert not info.value.retryable
    assert "sekrit" not in str(info.value)


async def test_redirects_follow_prometheus_default_and_can_be_refused(
    session: aiohttp.ClientSession, aiohttp_server: AiohttpServer,
) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/final")

    receiver = Receiver()
    app = receiver.app()
    app.router.add_post("/old", moved)
    server = await aiohttp_server(app)
    http = _client(session)
    url = f"http://127.0.0.1:{server.port}/old"
    assert await _post(http, url, HttpConfig()) == 200
    assert receiver.seen[0]["path"] == "/final"
    assert await _post(http, url, HttpConfig(follow_redirects=False)) == 307


async def test_an_unreadable_credentials_file_is_a_retryable_failure_naming_no_path(
    session: aiohttp.ClientSession, tmp_path: Path,
) -> None:
    gone = str(tmp_path / "rotated-away")
    http = _client(session)
    for cfg in (HttpConfig(authorization=Authorization("Bearer", Secret(file=gone))),
                HttpConfig(oauth2=OAuth2("id", Secret(file=gone), "http://127.0.0.1:1/t"))):
        with pytest.raises(DeliveryError) as info:
            await _post(http, "http://127.0.0.1:1/", cfg)
        assert info.value.retryable
        assert gone not in str(info.value)
