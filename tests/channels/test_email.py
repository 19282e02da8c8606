"""The email channel against a real SMTP server (aiosmtpd) on loopback: MIME layout,
STARTTLS, implicit TLS, AUTH, threading, SMTP reply classification and config parsing."""

from __future__ import annotations

import email
import email.policy
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme

from router.channels.base import SendContext
from router.channels.email import EmailChannel, EmailConfig, TlsConfig
from router.config.load import load_config_text
from router.config.types import Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Alert, Notification, NotifyReason, make_alert, sort_alerts
from router.rendering import Renderer

from .fake_email import PASSWORD, USER, SilentServer, start_smtp, stop_smtp
from .fakes import check_golden, closed_port_url, fixture_notification

T0 = 1_795_560_171.0
FROM = "Alertmanager <am@example.com>"
TO = ("Ops <ops@example.com>", "oncall@example.com")


def _alerts(count: int, *, ends: float | None = None) -> list[Alert]:
    return [
        make_alert({"alertname": "HighErrorRate", "instance": f"10.0.0.{i}:8080",
                    "severity": "critical", "service": "checkout"},
                   {"summary": f"5xx above 5% on 10.0.0.{i}",
                    "runbook_url": "https://runbooks.example.com/5xx"}, T0, ends, "", T0)
        for i in range(count)
    ]


def _notification(alerts: list[Alert], reason: NotifyReason = NotifyReason.FIRST,
                  now: float = T0 + 60) -> Notification:
    return Notification("ops", '{}:{alertname="HighErrorRate"}', {"alertname": "HighErrorRate"},
                        sort_alerts(alerts), reason, now, "http://am:9093")


FIRING = _notification(_alerts(2))
RESOLVED = _notification(_alerts(2, ends=T0 + 90), NotifyReason.ALL_RESOLVED, now=T0 + 120)


def _cfg(port: int, **kw: Any) -> EmailConfig:
    base: dict[str, Any] = {"to": TO, "from_": FROM, "smarthost": f"127.0.0.1:{port}",
                            "require_tls": False}
    base.update(kw)
    return EmailConfig(**base)


def _ctx(state: dict[str, str] | None = None, all_resolved: bool = False,
         timeout: float = 5.0) -> SendContext:
    return SendContext(timeout, state or {}, all_resolved)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_tls(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*(names or ("127.0.0.1", "localhost"))).configure_cert(context)
    return context


def _content(part: Any) -> str:
    text: str = part.get_content()
    return text.replace("\r\n", "\n")


async def _send(channel: EmailChannel, n: Notification, ctx: SendContext) -> dict[str, str]:
    return await channel.send(channel.render(n), ctx)


# --- rendering ---------------------------------------------------------------------------


def test_message_layout_and_headers() -> None:
    raw = EmailChannel(_cfg(25), Renderer([])).render(FIRING)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "[FIRING:2] HighErrorRate (checkout critical)"
    assert msg["From"] == FROM
    assert msg["To"] == "Ops <ops@example.com>, oncall@example.com"
    assert msg["Date"] == "Tue, 24 Nov 2026 22:43:51 +0000"
    assert msg["Message-ID"].startswith("<alert-")
    assert msg["Message-ID"].endswith(f"-{int(T0 + 60)}@example.com>")
    assert msg.get_content_type() == "multipart/alternative"
    text, html = msg.iter_parts()
    assert text.get_content_type() == "text/plain"  # plain first: the last part is preferred
    assert html.get_content_type() == "text/html"
    body = _content(text)
    assert body.startswith("FIRING: 2 alerts · severity critical\n\nalertname: HighErrorRate\n")
    assert "* 5xx above 5% on 10.0.0.0\n" in body
    assert "  Runbook:  https://runbooks.example.com/5xx\n" in body
    assert "Silence:" in body
    assert "FIRING: 2 alerts" in _content(html)
    assert b"\r\n" in raw  # SMTP line endings
    assert "In-Reply-To" not in msg  # threading is added at send time


def test_render_is_deterministic_per_notification() -> None:
    channel = EmailChannel(_cfg(25), Renderer([]))
    assert channel.render(FIRING) == channel.render(FIRING)
    assert channel.render(FIRING) != channel.render(RESOLVED)


def test_html_values_are_escaped_and_headers_are_templates() -> None:
    alert = make_alert({"alertname": "<script>x</script>", "severity": "warning"},
                       {"summary": "a & b"}, T0, None, "", T0)
    n = Notification("ops", "{}:{}", {}, (alert,), NotifyReason.FIRST, T0, "http://am")
    cfg = _cfg(25, headers=(("Subject", "{{ status|upper }}\nBcc: evil@example.com"),
                            ("X-Team", "{{ commonLabels.severity }}")),
               html="<p>{{ commonAnnotations.summary }} {{ '<b>ok</b>'|safeHtml }}</p>")
    msg = email.message_from_bytes(EmailChannel(cfg, Renderer([])).render(n),
                                   policy=email.policy.default)
    assert msg["Subject"] == "FIRING Bcc: evil@example.com"  # folded, not a new header
    assert msg["Bcc"] is None
    assert msg["X-Team"] == "warning"
    _text, html = msg.iter_parts()
    assert _content(html).strip() == "<p>a &amp; b <b>ok</b></p>"
    default = email.message_from_bytes(EmailChannel(_cfg(25), Renderer([])).render(n),
                                       policy=email.policy.default)
    default_html = _content(list(default.iter_parts())[1])
    assert "&lt;script&gt;" in default_html
    assert "<script>" not in default_html


def test_template_failure_falls_back_to_plain_text() -> None:
    failures: list[str] = []
    cfg = _cfg(25, text="{{ alerts[0].labels.nope.upper() }}{{ 1 / 0 }}")
    channel = EmailChannel(cfg, Renderer([], on_failure=failures.append))
    msg = email.message_from_bytes(channel.render(FIRING), policy=email.policy.default)
    assert failures == ["email"]
    assert msg["Subject"].startswith("[FIRING:2] HighErrorRate")
    text, html = msg.iter_parts()
    assert "- [firing] HighErrorRate: 5xx above 5% on 10.0.0.0" in _content(text)
    assert html.get_content_type() == "text/html"


@pytest.mark.parametrize("fixture", ["critical-grouped-truncated.json",
                                     "default-warning-resolved.json"])
def test_golden_message(fixture: str) -> None:
    n, _, _ = fixture_notification(fixture)
    channel = EmailChannel(EmailConfig(to=("oncall@example.com",), from_=FROM,
                                       smarthost="smtp.example.com:587"), Renderer([]))
    # Date, Message-ID and the MIME boundary derive from the notification: no normalising.
    check_golden(fixture.replace(".json", ".email.eml"), channel.render(n))


# --- delivery --------------------------------------------------------------------------


async def test_plain_delivery() -> None:
    fake = await start_smtp()
    try:
        channel = EmailChannel(_cfg(fake.port, hello="router.example.com"), Renderer([]))
        payload = channel.render(FIRING)
        state = await channel.send(payload, _ctx())
    finally:
        await stop_smtp(fake)
    (got,) = fake.received
    assert got.mail_from == "am@example.com"
    assert got.rcpt_tos == ["ops@example.com", "oncall@example.com"]
    assert got.data.replace(b"\r\n", b"\n") == payload.replace(b"\r\n", b"\n")
    assert (got.tls, got.authenticated) == (False, False)
    assert state == {"message_id": got.message["Message-ID"]}


async def test_starttls_and_auth(ca: trustme.CA,
                                 ca_file: str) -> None:
    fake = await start_smtp(tls=_server_tls(ca), auth=True)
    try:
        cfg = _cfg(fake.port, require_tls=True, auth_username=USER,
                   auth_password=Secret(PASSWORD), tls_config=TlsConfig(ca_file=ca_file))
        await _send(EmailChannel(cfg, Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    (got,) = fake.received
    assert (got.tls, got.authenticated) == (True, True)
    assert fake.logins  # the client chose a mechanism the server offered after STARTTLS


async def test_server_name_is_what_the_certificate_must_match(
    ca: trustme.CA, ca_file: str
) -> None:
    fake = await start_smtp(tls=_server_tls(ca, "mail.example.test"))
    try:
        named = _cfg(fake.port, require_tls=True,
                     tls_config=TlsConfig(ca_file=ca_file, server_name="mail.example.test"))
        await _send(EmailChannel(named, Renderer([])), FIRING, _ctx())
        unnamed = _cfg(fake.port, require_tls=True, tls_config=TlsConfig(ca_file=ca_file))
        with pytest.raises(DeliveryError) as info:
            await _send(EmailChannel(unnamed, Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    assert len(fake.received) == 1
    assert (info.value.reason, info.value.retryable) == (FailureReason.OTHER, False)
    assert "TLS" in info.value.message


async def test_require_tls_fails_without_starttls() -> None:
    fake = await start_smtp()
    try:
        with pytest.raises(DeliveryError) as info:
            await _send(EmailChannel(_cfg(fake.port, require_tls=True), Renderer([])), FIRING,
                        _ctx())
        assert fake.received == []
        # Control: the same server takes the message from a channel not requiring TLS.
        await _send(EmailChannel(_cfg(fake.port), Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "STARTTLS" in info.value.message
    (got,) = fake.received
    assert not got.tls
    assert got.rcpt_tos == ["ops@example.com", "oncall@example.com"]


async def test_forced_implicit_tls(ca: trustme.CA,
                                   ca_file: str) -> None:
    fake = await start_smtp(tls=_server_tls(ca), implicit_tls=True)
    try:
        cfg = _cfg(fake.port, force_implicit_tls=True, require_tls=True,
                   tls_config=TlsConfig(ca_file=ca_file))
        await _send(EmailChannel(cfg, Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    (got,) = fake.received
    assert got.tls


def test_port_465_means_implicit_tls() -> None:
    assert EmailChannel(_cfg(465), Renderer([])).smtp.implicit_tls
    assert not EmailChannel(_cfg(587), Renderer([])).smtp.implicit_tls
    assert not EmailChannel(_cfg(465, force_implicit_tls=False), Renderer([])).smtp.implicit_tls


async def test_temporary_reply_then_success() -> None:
    fake = await start_smtp(data=["451 4.3.0 Mail server temporarily rejected message"])
    try:
        channel = EmailChannel(_cfg(fake.port), Renderer([]))
        payload = channel.render(FIRING)
        with pytest.raises(DeliveryError) as info:
            await channel.send(payload, _ctx())
        await channel.send(payload, _ctx())
    finally:
        await stop_smtp(fake)
    err = info.value
    assert (err.reason, err.retryable) == (FailureReason.SERVER_ERROR, True)
    assert "451" in err.message
    assert len(fake.received) == 1


@pytest.mark.parametrize(
    ("script", "reason", "retryable", "fragment"),
    [({"data": ["554 5.7.1 Message rejected as spam"]}, FailureReason.CLIENT_ERROR, False, "554"),
     ({"rcpt": ["550 5.1.1 No such user", "553 5.1.3 Bad address"]},
      FailureReason.CLIENT_ERROR, False, "553"),
     ({"rcpt": ["450 4.2.0 Mailbox busy", "452 4.3.1 Insufficient storage"]},
      FailureReason.SERVER_ERROR, True, "452"),
     ({"mail": ["421 4.7.0 Try again later"]}, FailureReason.SERVER_ERROR, True, "421"),
     ({"mail": ["530 5.7.0 Authentication required"]}, FailureReason.AUTH, False, "530")],
)
async def test_smtp_replies_are_classified(
    script: dict[str, list[str]], reason: FailureReason,
    retryable: bool, fragment: str,
) -> None:
    fake = await start_smtp(**script)  # type: ignore[arg-type]
    try:
        with pytest.raises(DeliveryError) as info:
            await _send(EmailChannel(_cfg(fake.port), Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    assert (info.value.reason, info.value.retryable) == (reason, retryable)
    assert fragment in info.value.message


async def test_one_refused_recipient_does_not_fail_the_others(
    caplog: pytest.LogCaptureFixture
) -> None:
    fake = await start_smtp(rcpt=["550 5.1.1 No such user"])
    try:
        await _send(EmailChannel(_cfg(fake.port), Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    (got,) = fake.received
    assert got.rcpt_tos == ["oncall@example.com"]
    assert "refused some recipients" in caplog.text


async def test_bad_password_is_auth_and_never_leaks(
    caplog: pytest.LogCaptureFixture, ca: trustme.CA,
    ca_file: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "SECRET-wrong-password-3131"
    fake = await start_smtp(tls=_server_tls(ca), auth=True)
    try:
        cfg = _cfg(fake.port, require_tls=True, auth_username=USER,
                   auth_password=Secret(wrong), tls_config=TlsConfig(ca_file=ca_file))
        channel = EmailChannel(cfg, Renderer([]))
        with pytest.raises(DeliveryError) as info:
            await _send(channel, FIRING, _ctx())
        assert fake.received == []
        # Control: the same server takes the message once the password is right.
        right = _cfg(fake.port, require_tls=True, auth_username=USER,
                     auth_password=Secret(PASSWORD), tls_config=TlsConfig(ca_file=ca_file))
        await _send(EmailChannel(right, Renderer([])), FIRING, _ctx())
    finally:
        await stop_smtp(fake)
    err = info.value
    assert (err.reason, err.retryable) == (FailureReason.AUTH, False)
    assert "535" in err.message
    assert err.__cause__ is None
    for text in (str(err), repr(err), caplog.text, repr(cfg), repr(channel.render(FIRING))):
        assert wrong not in text
        assert PASSWORD not in text
    (got,) = fake.received
    assert (got.tls, got.authenticated) == (True, True)


async def test_connection_refused_is_retryable() -> None:
    port = int(closed_port_url().rsplit(":", 1)[1].strip("/"))
    with pytest.raises(DeliveryError) as info:
        await _send(EmailChannel(_cfg(port), Renderer([])), FIRING, _ctx())
    assert (info.value.reason, info.value.retryable) == (FailureReason.NETWORK, True)
    assert info.value.message == "connection refused by smtp server"


async def test_silent_server_times_out() -> None:
    silent = await SilentServer().start()
    try:
        with pytest.raises(DeliveryError) as info:
            await _send(EmailChannel(_cfg(silent.port), Renderer([])), FIRING,
                        _ctx(timeout=0.3))
    finally:
        await silent.stop()
    assert (info.value.reason, info.value.retryable) == (FailureReason.TIMEOUT, True)


async def test_resolved_mail_threads_under_the_firing_one() -> None:
    fake = await start_smtp()
    try:
        channel = EmailChannel(_cfg(fake.port), Renderer([]))
        first = await _send(channel, FIRING, _ctx())
        repeat = await _send(channel, FIRING, _ctx(first))
        done = await _send(channel, RESOLVED, _ctx({**first, **repeat},
                                                   all_resolved=True))
    finally:
        await stop_smtp(fake)
    firing, again, resolved = (r.message for r in fake.received)
    root = firing["Message-ID"]
    assert first == repeat == {"message_id": root}
    assert firing["In-Reply-To"] is None
    assert (again["In-Reply-To"], again["References"]) == (root, root)
    assert (resolved["In-Reply-To"], resolved["References"]) == (root, root)
    assert resolved["Message-ID"] != root
    assert resolved["Subject"].startswith("[RESOLVED]")
    assert done == {"message_id": ""}  # the group's next firing starts a new thread


# --- configuration ---------------------------------------------------------------------


def _load(entry: str, tmp_path: Path | None = None) -> Any:
    text = ("route:\n  receiver: mail\nreceivers:\n  - name: mail\n    email_configs:\n"
            + "".join(f"      {line}\n" for line in entry.strip("\n").splitlines()))
    config = load_config_text(text, str(tmp_path / "x.yml") if tmp_path else "x.yml")
    return config.receivers["mail"].integrations


def test_config_parses_every_field(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("hunter2\n", encoding="utf-8")
    (tmp_path / "ca.pem").write_text("", encoding="utf-8")
    ((kind, cfg),) = _load("""
- to: 'Ops <ops@example.com>, oncall@example.com'
  from: alertmanager@example.com
  smarthost: smtp.example.com:587
  hello: router.example.com
  auth_username: alerts
  auth_password_file: pw
  tls_config: {ca_file: ca.pem, server_name: smtp.example.com}
  headers: {Subject: '{{ status }}', X-Priority: '1'}
  text: '{{ alerts|length }}'
  send_resolved: true
  timeout: 20s
""", tmp_path)
    assert kind == "email"
    assert cfg.to == ("Ops <ops@example.com>", "oncall@example.com")
    assert (cfg.from_, cfg.smarthost, cfg.hello) == ("alertmanager@example.com",
                                                     "smtp.example.com:587", "router.example.com")
    assert cfg.auth_password.reveal() == "hunter2"
    assert "hunter2" not in repr(cfg)
    assert cfg.tls_config == TlsConfig(ca_file=str(tmp_path / "ca.pem"),
                                       server_name="smtp.example.com")
    assert cfg.headers == (("Subject", "{{ status }}"), ("X-Priority", "1"))
    assert (cfg.require_tls, cfg.force_implicit_tls, cfg.send_resolved) == (True, None, True)
    assert (cfg.timeout, cfg.pacing) == (20.0, None)


def test_config_defaults_and_list_form() -> None:
    ((_, cfg),) = _load("""
- to: [a@example.com, 'B <b@example.com>']
  from: am@example.com
  smarthost: '[::1]:25'
  force_implicit_tls: false
""")
    assert cfg.to == ("a@example.com", "B <b@example.com>")
    assert (cfg.hello, cfg.require_tls, cfg.send_resolved) == ("localhost", True, False)
    assert cfg.force_implicit_tls is False


@pytest.mark.parametrize(
    ("entry", "message"),
    [("- {to: 'a@example.com; b@example.com', from: am@example.com, smarthost: 'h:25'}",
      'to: invalid email address "a@example.com; b@example.com"'),
     ("- {to: a@example.com, from: 'a@example.com, b@example.com', smarthost: 'h:25'}",
      "from: expected exactly one address"),
     ("- {to: [], from: am@example.com, smarthost: 'h:25'}",
      "to: at least one address is required"),
     ("- {to: a@example.com, from: am@example.com, smarthost: 'h'}",
      'smarthost: smarthost "h" must be host:port'),
     ("- {to: a@example.com, from: am@example.com, smarthost: 'h:25', headers: {Date: x}}",
      'headers.Date: header "Date" is set by the email channel itself'),
     ("- {to: a@example.com, from: am@example.com, smarthost: 'h:25', "
      "headers: {subject: a, Subject: b}}",
      'headers.Subject: duplicate header "Subject"'),
     ("- {to: a@example.com, from: am@example.com, smarthost: 'h:25', hello: 'a b'}",
      'hello: "a b" is not a host name'),
     ("- {to: a@example.com, from: am@example.com, smarthost: 'h:25', html: '{{ x'}",
      "html: template syntax error")],
)
def test_bad_config(entry: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(entry)
    assert any(message in str(p) for p in info.value.problems), info.value.problems
