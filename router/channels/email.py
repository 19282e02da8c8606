"""Email over SMTP (aiosmtplib): multipart/alternative mail, STARTTLS or implicit TLS, AUTH.

The resolved mail of a group threads under the firing one (`In-Reply-To`/`References`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import TYPE_CHECKING, Any

import aiosmtplib
from markupsafe import escape

from router.channels.base import DeliveryError, FailureReason, SendContext, excerpt, target_id
from router.config.fields import FieldReader
from router.config.types import Pacing, Secret
from router.config.yaml_source import Node
from router.model import Notification
from router.rendering import Renderer, template_data

if TYPE_CHECKING:  # only the registry's signature: this channel sends without HTTP
    from router.channels.http import HttpClient

log = logging.getLogger(__name__)

MAX_SUBJECT = 250
_ENDPOINT = "smtp server"
# Headers the channel writes itself: a template must not replace the MIME structure or
# the ids mail clients thread by.
RESERVED_HEADERS = frozenset({"message-id", "date", "mime-version", "content-type",
                              "content-transfer-encoding", "in-reply-to", "references"})
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*")
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*|\[[^\]\s]+\]")  # EHLO domain or [literal]
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable ASCII except ":"
_MSG_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None  # the name the certificate must carry, if not the host
    insecure_skip_verify: bool = False


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """One `email_configs` entry; `to`/`from_` hold validated, formatted addresses."""

    to: tuple[str, ...] = ()
    from_: str = ""
    smarthost: str = ""  # host:port
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: Secret | None = None
    require_tls: bool = True  # STARTTLS is mandatory unless the connection is implicit TLS
    force_implicit_tls: bool | None = None  # None: implicit TLS exactly when the port is 465
    tls_config: TlsConfig = field(default_factory=TlsConfig)
    headers: tuple[tuple[str, str], ...] = ()  # (name, Jinja source), Subject included
    html: str | None = None  # Jinja source; None: templates/email.html.j2
    text: str | None = None  # Jinja source; None: templates/email.txt.j2
    send_resolved: bool = False
    template: str | None = None  # path of a Jinja file for the HTML part
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced (relays rarely publish a rate)


def split_hostport(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'smarthost "{text}" must be host:port')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def envelope_address(formatted: str) -> str:
    return parseaddr(formatted)[1]


class _NamedContext(ssl.SSLContext):
    """Verifies the server certificate against `server_name` instead of the host dialled.

    asyncio passes the connected host name to `wrap_bio` for both implicit TLS and
    STARTTLS; aiosmtplib has no separate setting for it.
    """

    server_name: str | None = None

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        if self.server_name:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_bio(*args, **kwargs)


def tls_context(cfg: TlsConfig) -> ssl.SSLContext:
    """Like `ssl.create_default_context`, with Alertmanager's tls_config options."""
    context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = cfg.server_name
    if cfg.ca_file is not None:
        context.load_verify_locations(cafile=cfg.ca_file)
    else:
        context.load_default_certs()
    if cfg.cert_file is not None:
        context.load_cert_chain(cfg.cert_file, cfg.key_file)
    if cfg.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class EmailChannel:
    kind = "email"

    def __init__(self, cfg: EmailConfig, renderer: Renderer) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("email", cfg.smarthost, cfg.from_)
        self._host, self._port = split_hostport(cfg.smarthost)
        implicit = cfg.force_implicit_tls
        self._implicit_tls = self._port == 465 if implicit is None else implicit
        self._tls = tls_context(cfg.tls_config)
        self._renderer = renderer
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._headers = [(name, renderer.compile_string(src)) for name, src in cfg.headers]
        self._subject: Callable[..., str] = renderer.macro("default.j2", "subject")
        if cfg.html is not None:
            # Values in HTML are escaped as Alertmanager's html/template does (safeHtml opts out).
            self._html = renderer.compile_string(
                "{% autoescape true %}" + cfg.html + "{% endautoescape %}")
        else:
            self._html = renderer.template(cfg.template or "email.html.j2")
        text = cfg.text
        self._text = (renderer.compile_string(text) if text is not None
                      else renderer.template("email.txt.j2"))

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        """The whole message without secrets; threading headers are added at send time."""
        try:
            return self._message(n, *self._render_parts(n))
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
        text = self._renderer.plain_text(n)
        html = f"<html><body><pre>{escape(text)}</pre></body></html>"
        return self._message(n, {"Subject": text.splitlines()[0]}, text + "\n", html)

    def _render_parts(self, n: Notification) -> tuple[dict[str, str], str, str]:
        d = template_data(n)
        headers = {"Subject": self._subject(d)}
        for name, tmpl in self._headers:
            # Later entries of the same name (any case) replace earlier ones.
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            headers[name] = tmpl.render(d)
        return headers, self._text.render(d).strip() + "\n", self._html.render(d)

    def _message(self, n: Notification, headers: dict[str, str], text: str, html: str) -> bytes:
        cfg = self.cfg
        msg = EmailMessage(policy=SMTP_POLICY)
        rendered = {k.lower(): k for k in headers}
        if "from" not in rendered:
            msg["From"] = cfg.from_
        if "to" not in rendered:
            msg["To"] = ", ".join(cfg.to)
        for name, value in headers.items():
            # A newline in a rendered value would inject headers: fold it to one line.
            flat = " ".join(value.split())
            msg[name] = flat[: MAX_SUBJECT - 1] + "…" if len(flat) > MAX_SUBJECT else flat
        digest = self._digest(n)
        domain = envelope_address(cfg.from_).rpartition("@")[2] or "alert-router"
        msg["Message-ID"] = f"<alert-{digest[:16]}-{int(n.now)}@{domain}>"
        msg["Date"] = format_datetime(dt.datetime.fromtimestamp(n.now, dt.UTC))
        # Plain text first: clients show the last alternative they can render (RFC 2046).
        msg.set_content(text, subtype="plain", cte="quoted-printable")
        msg.add_alternative(html, subtype="html", cte="quoted-printable")
        msg.set_boundary(f"=_alert-router_{digest[16:40]}")
        return msg.as_bytes()

    def _digest(self, n: Notification) -> str:
        """Stable for one notification, so a re-render yields the same message and ids."""
        parts = [n.receiver, n.group_key, str(n.reason), repr(n.now), *self.cfg.to,
                 *(f"{a.fingerprint}:{a.resolved(n.now)}" for a in n.alerts)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        root = ctx.state.get("message_id", "")
        if root and _MSG_ID.fullmatch(root):
            payload = f"In-Reply-To: {root}\r\nReferences: {root}\r\n".encode() + payload
        else:
            root = _message_id(payload)
        await self._deliver(payload, ctx.timeout)
        # The thread ends with the resolved mail; the group's next firing starts a new one.
        return {"message_id": "" if ctx.all_resolved else root}

    async def _deliver(self, message: bytes, timeout: float) -> None:  # noqa: ASYNC109
        cfg = self.cfg
        smtp = aiosmtplib.SMTP(
            hostname=self._host, port=self._port, local_hostname=cfg.hello,
            use_tls=self._implicit_tls, start_tls=cfg.require_tls and not self._implicit_tls,
            tls_context=self._tls, timeout=timeout,
        )
        try:
            try:
                # One deadline for the whole conversation, like an HTTP channel's total timeout.
                async with asyncio.timeout(timeout):
                    await smtp.connect()
                    if cfg.auth_username and cfg.auth_password is not None:
                        await smtp.login(cfg.auth_username, cfg.auth_password.reveal())
                    _, refused = await smtp.sendmail(
                        envelope_address(cfg.from_), [envelope_address(a) for a in cfg.to],
                        message,
                    )
            except Exception as exc:
                # Not chained: aiosmtplib's text names the host, and a reply to AUTH is not
                # ours to forward into logs.
                raise classify_smtp(exc) from None
            await _quit(smtp)
        finally:
            smtp.close()
        if refused:
            # Retrying would mail the accepted recipients twice: report and move on.
            log.warning("smtp server refused some recipients",
                        extra={"channel": self.kind, "refused": sorted(refused)})


def _message_id(payload: bytes) -> str:
    head = payload.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    found = re.search(r"^Message-ID: (<[^>\r\n]+>)", head, re.MULTILINE | re.IGNORECASE)
    return found.group(1) if found else ""


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """QUIT politely; DATA was already accepted, so a failure here changes nothing."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await smtp.quit()


def classify_smtp(exc: Exception) -> DeliveryError:
    """SMTP 4xx is temporary, 5xx permanent (RFC 5321 §4.2.1); 535 means bad credentials."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        # Retry only when every refusal is temporary.
        worst = max(exc.recipients, key=lambda r: r.code)
        return classify_reply(worst.code, worst.message, "recipients refused")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return classify_reply(exc.code, exc.message, "authentication failed")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return classify_reply(exc.code, exc.message, "rejected the message")
    if _tls_failure(exc):
        return DeliveryError(FailureReason.OTHER, f"TLS handshake with {_ENDPOINT} failed",
                             retryable=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError(FailureReason.TIMEOUT, f"no answer from {_ENDPOINT} in time",
                             retryable=True)
    if isinstance(exc, ConnectionError | OSError):
        refused = any(isinstance(e, ConnectionRefusedError) for e in _chain(exc))
        what = "connection refused by" if refused else "lost the connection to"
        return DeliveryError(FailureReason.NETWORK, f"{what} {_ENDPOINT}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        # e.g. STARTTLS or AUTH not offered: a configuration mismatch, not a hiccup.
        return DeliveryError(FailureReason.CLIENT_ERROR, f"{_ENDPOINT}: {excerpt(exc.message)}",
                             retryable=False)
    return DeliveryError(FailureReason.OTHER, f"{type(exc).__name__} talking to {_ENDPOINT}",
                         retryable=True)


def classify_reply(code: int, message: str, what: str) -> DeliveryError:
    detail = f"{_ENDPOINT} {what}: {code} {excerpt(message)}".rstrip()
    if 400 <= code < 500:
        return DeliveryError(FailureReason.SERVER_ERROR, detail, retryable=True)
    if code in (530, 534, 535, 538):  # authentication required / failed (RFC 4954)
        return DeliveryError(FailureReason.AUTH, detail, retryable=False)
    if 500 <= code < 600:
        return DeliveryError(FailureReason.CLIENT_ERROR, detail, retryable=False)
    return DeliveryError(FailureReason.OTHER, detail, retryable=False)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _tls_failure(exc: Exception) -> bool:
    return any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in _chain(exc))


def build(cfg: EmailConfig, renderer: Renderer, http: HttpClient | None = None) -> EmailChannel:
    """`http` is unused: mail goes over SMTP, one connection per message."""
    if not isinstance(cfg, EmailConfig):
        raise TypeError(f"email channel needs an EmailConfig, got {type(cfg).__name__}")
    return EmailChannel(cfg, renderer)


# --- configuration: the `email_configs` entries -------------------------------------

CONFIG_KEY = "email_configs"
KEYS = (
    "to", "from", "smarthost", "hello", "auth_username", "auth_password",
    "auth_password_file", "require_tls", "force_implicit_tls", "tls_config", "headers",
    "html", "text", "send_resolved", "template", "timeout", "pacing",
)
TLS_KEYS = ("ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify")


def parse_addresses(node: Node, *, single: bool = False) -> tuple[str, ...]:
    """RFC 5322 addresses (a list, or one comma-separated string) as formatted strings."""
    items = node.elements() if node.is_list else [node]
    out: list[str] = []
    for item in items:
        text = item.as_str()
        if text is None:
            continue
        pairs = getaddresses([text])
        if not text.strip() or any(not _ADDR_SPEC.fullmatch(addr) for _, addr in pairs):
            item.error(f'invalid email address "{text}"')
            continue
        out.extend(formataddr(pair) for pair in pairs)
    if single and len(out) > 1:
        node.error("expected exactly one address")
    return tuple(out)


def _tls(fields: FieldReader, node: Node) -> TlsConfig:
    child = node.get_map("tls_config")
    if child is None:
        return TlsConfig()
    child.expect_keys(TLS_KEYS)
    cert, key = fields.existing_file(child, "cert_file"), fields.existing_file(child, "key_file")
    if (child.has("cert_file")) != (child.has("key_file")):
        child.error('"cert_file" and "key_file" go together')
    return TlsConfig(fields.existing_file(child, "ca_file"), cert, key,
                     child.get_str("server_name"),
                     child.get_bool("insecure_skip_verify", False))


def _headers(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("headers")
    if child is None:
        return ()
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, value in child.entries():
        lowered = name.lower()
        if not _HEADER_NAME.fullmatch(name):
            value.error(f'invalid header name "{name}"')
        elif lowered in RESERVED_HEADERS:
            value.error(f'header "{name}" is set by the email channel itself')
        elif lowered in seen:
            value.error(f'duplicate header "{name}" (header names are case-insensitive)')
        src = fields.template_string(value)
        seen.add(lowered)
        if src is not None and lowered not in RESERVED_HEADERS and _HEADER_NAME.fullmatch(name):
            out.append((name, src))
    return tuple(out)


def parse(fields: FieldReader, node: Node) -> EmailConfig | None:
    before = len(node.src.problems)
    to_node, from_node = node.require("to"), node.require("from")
    smarthost_node = node.require("smarthost")
    mark = len(node.src.problems)
    to = parse_addresses(to_node) if to_node is not None else ()
    if to_node is not None and not to and len(node.src.problems) == mark:
        to_node.error("at least one address is required")
    from_ = parse_addresses(from_node, single=True) if from_node is not None else ()
    smarthost = smarthost_node.as_str() if smarthost_node is not None else None
    if smarthost is not None and smarthost_node is not None:
        try:
            split_hostport(smarthost)
        except ValueError as exc:
            smarthost_node.error(str(exc))
    hello = node.get_str("hello", "localhost") or "localhost"
    if not _HOSTNAME.fullmatch(hello):
        hello_node = node.get("hello")
        assert hello_node is not None
        hello_node.error(f'"{hello}" is not a host name to greet with')
    if node.has("html") and node.has("template"):
        node.error('"html" and "template" both set the HTML part: keep one')
    config = EmailConfig(
        to=to, from_=from_[0] if from_ else "", smarthost=smarthost or "",
        hello=hello,
        auth_username=node.get_str("auth_username"),
        auth_password=fields.secret(node, "auth_password"),
        require_tls=node.get_bool("require_tls", True),
        force_implicit_tls=(node.get_bool("force_implicit_tls", False)
                            if node.has("force_implicit_tls") else None),
        tls_config=_tls(fields, node), headers=_headers(fields, node),
        html=fields.template_string(node.get("html")),
        text=fields.template_string(node.get("text")),
        send_resolved=node.get_bool("send_resolved", False),
        template=fields.template_key(node, "template"),
        timeout=fields.timeout(node), pacing=fields.pacing(node),
    )
    return config if len(node.src.problems) == before else None
