"""The `email_configs` entries: EmailConfig and its parser (`tls_config` is the common one).

Addresses, the smarthost, the EHLO name and custom headers are all checked at load, so a
typo fails there and not on the first alert; the channel and the SMTP sender only read
the parsed dataclasses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import formataddr, getaddresses

from router.config.fields import FieldReader
from router.config.global_config import split_hostport
from router.config.http_config import parse_tls_config
from router.config.types import Pacing, Secret
from router.config.types import TlsConfig as TlsConfig
from router.config.yaml_source import Node

# Headers the channel writes itself: a template must not replace the MIME structure or
# the ids mail clients thread by.
RESERVED_HEADERS = frozenset({"message-id", "date", "mime-version", "content-type",
                              "content-transfer-encoding", "in-reply-to", "references"})
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})*")
_HOSTNAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*|\[[^\]\s]+\]")  # EHLO domain or [literal]
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 §2.2: printable ASCII except ":"


@dataclass(frozen=True, slots=True)
class EmailConfig:
    """One `email_configs` entry; `to`/`from_` hold validated, formatted addresses."""

    to: tuple[str, ...] = ()
    from_: str = ""
    smarthost: str = ""  # host:port
    hello: str = "localhost"
    auth_username: str | None = None
    auth_password: Secret | None = None
    auth_secret: Secret | None = None  # CRAM-MD5 (accepted as in Alertmanager)
    auth_identity: str | None = None  # PLAIN identity (accepted as in Alertmanager)
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


CONFIG_KEY = "email_configs"
KEYS = (
    "to", "from", "smarthost", "hello", "auth_username", "auth_password",
    "auth_password_file", "auth_secret", "auth_identity", "require_tls",
    "force_implicit_tls", "tls_config", "headers",
    "html", "text", "send_resolved", "template", "timeout", "pacing",
)


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
    """The common `tls_config` (Alertmanager's email `tls_config` is Prometheus' one)."""
    child = node.get_map("tls_config")
    return parse_tls_config(fields, child) if child is not None else TlsConfig()


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


def _required(node: Node, key: str, inherited: str) -> Node | None:
    """The entry's `key`, else the global value (None); an error when neither is set."""
    child = node.get(key)
    if (child is None or child.is_null) and not inherited:
        node.error(f'missing required key "{key}" (and no global smtp_{key} set)',
                   path=f"{node.path}.{key}")
    return child if child is not None and not child.is_null else None


def parse(fields: FieldReader, node: Node) -> EmailConfig | None:
    before = len(node.src.problems)
    g = fields.global_
    to_node = node.require("to")
    from_node = _required(node, "from", g.smtp_from)
    smarthost_node = _required(node, "smarthost", g.smtp_smarthost)
    mark = len(node.src.problems)
    to = parse_addresses(to_node) if to_node is not None else ()
    if to_node is not None and not to and len(node.src.problems) == mark:
        to_node.error("at least one address is required")
    from_ = parse_addresses(from_node, single=True) if from_node is not None else ()
    if from_node is None and g.smtp_from:
        from_ = _global_from(node, g.smtp_from)
    smarthost = smarthost_node.as_str() if smarthost_node is not None else g.smtp_smarthost
    if smarthost is not None and smarthost_node is not None:
        try:
            split_hostport(smarthost)
        except ValueError as exc:
            smarthost_node.error(str(exc))
    # Alertmanager: an empty hello takes the global one (whose own default is localhost).
    hello = node.get_str("hello") or g.smtp_hello or "localhost"
    if not _HOSTNAME.fullmatch(hello):
        (node.get("hello") or node).error(f'"{hello}" is not a host name to greet with')
    if node.has("html") and node.has("template"):
        node.error('"html" and "template" both set the HTML part: keep one')
    has_password = node.has("auth_password") or node.has("auth_password_file")
    auth_secret = node.get_str("auth_secret")
    config = EmailConfig(
        to=to, from_=from_[0] if from_ else "", smarthost=smarthost or "",
        hello=hello,
        auth_username=node.get_str("auth_username") or g.smtp_auth_username or None,
        auth_password=(fields.secret(node, "auth_password") if has_password
                       else g.smtp_auth_password),
        auth_secret=Secret(value=auth_secret) if auth_secret else g.smtp_auth_secret,
        auth_identity=node.get_str("auth_identity") or g.smtp_auth_identity or None,
        require_tls=node.get_bool("require_tls", g.smtp_require_tls),
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


def _global_from(node: Node, text: str) -> tuple[str, ...]:
    """`global.smtp_from`, checked where an entry uses it (Alertmanager checks it at send)."""
    pairs = getaddresses([text])
    if len(pairs) != 1 or not _ADDR_SPEC.fullmatch(pairs[0][1]):
        node.error(f'invalid email address "{text}" in global.smtp_from')
        return ()
    return (formataddr(pairs[0]),)
