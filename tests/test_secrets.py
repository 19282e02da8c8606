"""No configured secret ever leaves the process except towards its vendor.

One config puts a distinct secret in every secret field of every channel type and of
`server.auth` (inline and `_file`). The vendors are loopback fakes that answer errors
echoing everything they were sent (path, query, headers, body), so a channel that copied a
vendor's message into an error would leak. The test then reads every API answer, error
body, metric, log record and the SQLite files, and finds none of the secrets in any.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from channels.fake_email import USER, start_smtp, stop_smtp
from conftest import api_matcher, silence_body, v2_alert, wait_until
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.logs import JsonFormatter, TextFormatter

S = {name: f"S3CRET-{name.replace('_', '-')}-{i:04d}" for i, name in enumerate((
    "slack_api_url", "slack_token", "webhook_url", "webhook_bearer", "webhook_url_file",
    "webhook_basic_file", "webhook_basic", "pagerduty_key", "pagerduty_key_file",
    "smtp_password", "twilio_token", "gateway_url", "gateway_bearer", "teams_url",
    "discord_url", "telegram_token", "ingest_inline", "ingest_file", "ingest_single_file",
    "basic_inline", "basic_file",
    # Alertmanager's global secrets and Prometheus' http_config ones.
    "global_slack_api_url", "smtp_auth_secret", "opsgenie_api_key", "victorops_api_key",
    "wechat_api_secret", "authorization_credentials", "oauth2_client_secret",
    "proxy_connect_header", "tls_key", "service_key", "global_smtp_password",
    # sns, webex, wechat, rocketchat
    "sns_secret_key", "webex_token", "wechat_own_secret", "rocketchat_token",
    "rocketchat_token_id",
    # Teams' connector and Workflows, Jira, incident.io.
    "msteams_url", "msteamsv2_url", "jira_token", "incidentio_url", "incidentio_token",
))}
CHANNELS = 27
READER = {"Authorization": f"Bearer {S['ingest_inline']}"}


class EchoVendor:
    """Every vendor at once: records requests, answers 400 (503 under /retry/) echoing them."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        echo = f"{request.method} {request.path_qs} {dict(request.headers)} {body}"
        self.seen.append(echo)
        fault = {"ok": False, "error": echo, "message": echo, "description": echo,
                 "errors": [echo], "code": 21211, "status": "invalid event"}
        if request.path.startswith("/retry/"):
            return web.json_response(fault, status=503, headers={"Retry-After": "1"})
        return web.json_response(fault, status=400)


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content + "\n", encoding="utf-8")
    return str(path)


def config(tmp_path: Path, echo: str, smtp_port: int, ca_file: str) -> str:
    f = {name: write(tmp_path, name, S[name]) for name in (
        "webhook_basic_file", "pagerduty_key_file", "ingest_file", "ingest_single_file",
        "basic_file")}
    url_file = write(tmp_path, "webhook_url_file", f"{echo}/hook2/{S['webhook_url_file']}")
    return f"""
global:
  slack_api_url: {echo}/slack-global/{S['global_slack_api_url']}
  smtp_auth_password: {S['global_smtp_password']}
  smtp_auth_secret: {S['smtp_auth_secret']}
  opsgenie_api_key: {S['opsgenie_api_key']}
  victorops_api_key: {S['victorops_api_key']}
  wechat_api_secret: {S['wechat_api_secret']}
route:
  receiver: everything
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: everything
    slack_configs:
      - api_url: {echo}/slack/{S['slack_api_url']}
      - token: {S['slack_token']}
        channel: "#ops"
        app_url: {echo}/slack-api/
      - channel: "#global"
        title_link: https://example.com/{{{{ groupKey }}}}
        color: warning
    webhook_configs:
      - url: {echo}/retry/{S['webhook_url']}
        http_config: {{bearer_token: {S['webhook_bearer']}}}
      - url_file: {url_file}
        http_config: {{basic_auth: {{username: u, password_file: {f['webhook_basic_file']}}}}}
      - url: {echo}/hook3
        http_config: {{basic_auth: {{username: u, password: {S['webhook_basic']}}}}}
      - url: {echo}/authz
        http_config:
          authorization: {{type: Token, credentials: {S["authorization_credentials"]}}}
      - url: {echo}/behind-oauth2
        http_config:
          oauth2: {{client_id: router, client_secret: {S['oauth2_client_secret']},
                   token_url: {echo}/oauth/token}}
      - url: {echo}/proxied
        http_config:
          proxy_url: {echo}
          proxy_connect_header: {{X-Proxy-Key: [{S['proxy_connect_header']}]}}
      - url: {echo}/tls
        http_config:
          tls_config: {{cert: not-a-pem, key: {S['tls_key']}}}
    pagerduty_configs:
      - routing_key: {S['pagerduty_key']}
        url: {echo}/pagerduty
      - routing_key_file: {f['pagerduty_key_file']}
        url: {echo}/pagerduty
      - service_key: {S['service_key']}
        url: {echo}/pagerduty-v1
    email_configs:
      - to: oncall@example.com
        from: alert-router@example.com
        smarthost: 127.0.0.1:{smtp_port}
        auth_username: {USER}
        auth_password: {S['smtp_password']}
        tls_config: {{ca_file: {ca_file}}}
    sms_configs:
      - provider: twilio
        to: ["+15551230000"]
        account_sid: AC0123456789abcdef0123456789abcdef
        auth_token: {S['twilio_token']}
        from: "+15557650000"
        api_url: {echo}/twilio
      - provider: webhook
        to: ["+15551230000"]
        url: {echo}/gateway/{S['gateway_url']}
        http_config: {{bearer_token: {S['gateway_bearer']}}}
    teams_configs:
      - webhook_url: {echo}/teams?sig={S['teams_url']}
    discord_configs:
      - webhook_url: {echo}/api/webhooks/123/{S['discord_url']}
    telegram_configs:
      - bot_token: {S['telegram_token']}
        chat_id: 42
        api_url: {echo}/telegram
    sns_configs:
      - topic_arn: arn:aws:sns:eu-west-1:123456789012:oncall
        api_url: {echo}/sns
        sigv4: {{region: eu-west-1, access_key: AKIA0, secret_key: {S['sns_secret_key']}}}
    webex_configs:
      - room_id: room
        api_url: {echo}/webex
        http_config: {{authorization: {{credentials: {S['webex_token']}}}}}
    wechat_configs:
      - api_secret: {S['wechat_own_secret']}
        corp_id: ww0
        api_url: {echo}/wechat/
        to_user: "@all"
    rocketchat_configs:
      - token: {S['rocketchat_token']}
        token_id: {S['rocketchat_token_id']}
        api_url: {echo}/rocketchat
        channel: "#ops"
    msteams_configs:
      - webhook_url: {echo}/webhookb2/x/IncomingWebhook/{S['msteams_url']}/y
    msteamsv2_configs:
      - webhook_url: {echo}/workflows?sig={S['msteamsv2_url']}
    jira_configs:
      - api_url: {echo}/rest/api/2/
        project: OPS
        issue_type: Bug
        http_config: {{basic_auth: {{username: me@example.com, password: {S['jira_token']}}}}}
    incidentio_configs:
      - url: {echo}/v2/alert_events/alertmanager/{S['incidentio_url']}
        alert_source_token: {S['incidentio_token']}
server:
  auth:
    bearer_tokens: [{S['ingest_inline']}]
    bearer_tokens_file: [{f['ingest_file']}]
    bearer_token_file: {f['ingest_single_file']}
    basic_auth:
      - {{username: prometheus, password: {S['basic_inline']}}}
      - {{username: amtool, password_file: {f['basic_file']}}}
"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def answers(client: Any, fingerprint: str, sid: str) -> dict[str, str]:
    """Every read endpoint's answer (with credentials) and a set of error answers."""
    out: dict[str, str] = {}
    for path in ("/api/v1/alerts", f"/api/v1/alerts/{fingerprint}/trace",
                 "/api/v1/deliveries?state=pending", "/api/v1/deliveries?state=dead",
                 "/api/v2/silences", f"/api/v2/silence/{sid}", "/api/v2/alerts",
                 "/api/v2/receivers", "/api/v2/status", "/metrics", "/-/healthy", "/-/ready"):
        resp = await client.get(path, headers=READER)
        assert resp.status == 200, (path, await resp.text())
        out[path] = await resp.text() + str(dict(resp.headers))
    errors = {
        "401": await client.get("/api/v2/status"),
        "401 wrong": await client.post("/api/v2/alerts", json=[], headers=basic("amtool", "x")),
        "404 trace": await client.get("/api/v1/alerts/ffff/trace", headers=READER),
        "404 source": await client.post("/api/v1/events/nope", json={}, headers=READER),
        "404 retry": await client.post("/api/v1/deliveries/99999/retry", headers=READER),
        "422": await client.post("/api/v2/alerts", json=[{"labels": 1}], headers=READER),
        "400": await client.post("/api/v2/alerts", data="{",
                                 headers={**READER, "Content-Type": "application/json"}),
        "415": await client.post("/api/v2/alerts", data="[]", headers=READER),
        "404 path": await client.get("/nothing", headers=READER),
    }
    for name, resp in errors.items():
        assert resp.status == int(name[:3]), (name, await resp.text())
        out[f"error {name}"] = await resp.text() + str(dict(resp.headers))
    return out


async def outbox_settled(client: Any) -> None:
    """Wait until each of the 13 channel deliveries failed once (dead, or pending a retry)."""
    rows: list[dict[str, Any]] = []

    async def fetch() -> None:
        rows.clear()
        for state in ("pending", "dead"):
            resp = await client.get(f"/api/v1/deliveries?state={state}", headers=READER)
            rows.extend(await resp.json())

    try:
        async with asyncio.timeout(10):
            await fetch()
            while len(rows) != CHANNELS or any(r["lastError"] is None for r in rows):
                await asyncio.sleep(0.01)
                await fetch()
    except TimeoutError:
        raise AssertionError(f"the outbox did not settle: {json.dumps(rows, indent=1)}") from None


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_no_secret_in_any_answer_log_metric_or_row(
    make_router: Any, aiohttp_server: AiohttpServer, clock: FakeClock, tmp_path: Path,
    caplog: pytest.LogCaptureFixture, ca: trustme.CA,
) -> None:
    caplog.set_level(logging.DEBUG)
    vendor = EchoVendor()
    echo_app = web.Application()
    echo_app.router.add_route("*", "/{tail:.*}", vendor.handle)
    # The fake vendor's own access log is not ours (it prints the paths it was sent).
    server = await aiohttp_server(echo_app, access_log=None)
    echo = str(server.make_url("")).rstrip("/")
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    smtp = await start_smtp(tls=tls, auth=True)
    try:
        path = tmp_path / "router.yml"
        path.write_text(config(tmp_path, echo, smtp.port, str(ca_file)), encoding="utf-8")
        client, state = await make_router(path.read_text(encoding="utf-8"),
                                          config_path=str(path))
        # Every server.auth credential works, inline and from a file.
        for i, headers in enumerate((
            READER, {"Authorization": f"Bearer {S['ingest_file']}"},
            {"Authorization": f"Bearer {S['ingest_single_file']}"},
            basic("prometheus", S["basic_inline"]), basic("amtool", S["basic_file"]),
        )):
            resp = await client.post("/api/v2/alerts", json=[v2_alert("Leak", n=str(i))],
                                     headers=headers)
            assert resp.status == 200, await resp.text()
        resp = await client.post("/api/v2/silences", headers=READER,
                                 json=silence_body([api_matcher("x", "y")], 0, 4e9))
        sid = (await resp.json())["silenceID"]
        await clock.advance(1)
        sent_to = ("/slack/", "/slack-api/", "/retry/", "/hook2/", "/hook3", "/pagerduty",
                   "/twilio", "/gateway/", "/teams", "/api/webhooks/", "/telegram",
                   "/slack-global/", "/authz", "/oauth/token", "/pagerduty-v1", "/proxied",
                   "/sns", "/webex", "/rocketchat",
                   "/webhookb2/", "/workflows", "/rest/api/2/search", "/v2/alert_events/")
        await wait_until(lambda: all(any(f"POST {p}" in s for s in vendor.seen)
                                     for p in sent_to) and bool(smtp.logins),
                         "an attempt on every channel")
        await outbox_settled(client)
        # The vendors did get the secrets: they are in use, only never exposed.
        seen = "\n".join(vendor.seen)
        for name in ("slack_api_url", "slack_token", "webhook_url", "webhook_bearer",
                     "webhook_url_file", "pagerduty_key", "pagerduty_key_file",
                     "gateway_url", "gateway_bearer", "teams_url", "discord_url",
                     "telegram_token", "global_slack_api_url", "authorization_credentials",
                     "service_key", "webex_token", "wechat_own_secret", "rocketchat_token",
                     "rocketchat_token_id", "msteams_url", "msteamsv2_url", "incidentio_url",
                     "incidentio_token"):  # proxy_connect_header: on CONNECT only (https)
            assert S[name] in seen, name

        dead = await (await client.get("/api/v1/deliveries?state=dead", headers=READER)).json()
        assert dead, "the vendors' 400s dead-letter the deliveries"
        retried = await client.post(f"/api/v1/deliveries/{dead[0]['id']}/retry",
                                    headers=READER)
        assert retried.status == 202
        fingerprint = (await (await client.get("/api/v1/alerts", headers=READER)).json()
                       )[0]["fingerprint"]
        exposed = await answers(client, fingerprint, sid)
        # A refused and an accepted reload answer without secrets too.
        good = path.read_text(encoding="utf-8")
        path.write_text(good + "bogus: 1\n", encoding="utf-8")
        resp = await client.post("/-/reload", headers=READER)
        assert resp.status == 400
        exposed["reload refused"] = await resp.text()
        path.write_text(good, encoding="utf-8")
        resp = await client.post("/-/reload", headers=READER)
        assert resp.status == 200, await resp.text()
        exposed["reload"] = await resp.text()
        await outbox_settled(client)
    finally:
        await stop_smtp(smtp)

    assert "<secret>" in exposed["/api/v2/status"]
    records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    exposed["logs (json)"] = "\n".join(JsonFormatter().format(r) for r in records)
    exposed["logs (text)"] = "\n".join(TextFormatter().format(r) for r in records)
    exposed["log records"] = "\n".join(str(vars(r)) for r in records)
    exposed["repr(config)"] = repr(state.config)
    await state.store.close()  # flush the WAL so the file bytes are complete
    for name in ("router.db", "router.db-wal"):
        if (tmp_path / name).exists():
            exposed[name] = (tmp_path / name).read_bytes().decode("latin-1")
    assert "router.db" in exposed
    for where, text in exposed.items():
        for name, secret in S.items():
            assert secret not in text, f"{name} leaked into {where}"
