"""Reads `--web.config.file` (Prometheus exporter-toolkit's format) into a `WebConfig`, with
every problem as `file:line:col: path: message`, and `WebConfigFile`, which reads it again
when it changes (exporter-toolkit re-reads it per request; a stat per request is cheaper).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from router.config.http_types import TLS_VERSIONS
from router.config.secret_types import Secret
from router.config.web_types import (
    CIPHER_SUITES,
    CLIENT_AUTH_TYPES,
    HEADERS,
    TlsServerConfig,
    WebConfig,
)
from router.config.yaml_source import Node, Source
from router.errors import ConfigError
from router.logs import RepeatLog

__all__ = ["WebConfigFile", "load_web_config"]

log = logging.getLogger(__name__)

_TLS_KEYS = ("cert", "key", "cert_file", "key_file", "client_auth_type", "client_ca_file",
             "client_ca", "min_version", "max_version", "cipher_suites",
             "prefer_server_cipher_suites")
# Known to exporter-toolkit, refused by name rather than silently ignored: at the root and
# in tls_server_config.
_ROOT_NOT_SUPPORTED = ("rate_limit",)
_TLS_NOT_SUPPORTED = ("client_allowed_sans", "curve_preferences")
# bcrypt's modular crypt format: $2a$/$2b$/$2y$, a two-digit cost, 53 characters of salt+hash.
_BCRYPT = re.compile(r"^\$2[abxy]?\$(\d\d)\$[./A-Za-z0-9]{53}$")


def load_web_config(path: str) -> WebConfig:
    """The web config at `path`; ConfigError listing every problem."""
    src = Source(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        src.add(1, 1, "", f"cannot read web config: {reason}")
        raise ConfigError(src.problems) from None
    root = src.compose(text)
    config = None
    if root is not None and root.expect_map():
        config = _read(root, Path(path).absolute().parent)
    if src.problems or config is None:
        raise ConfigError(src.sorted_problems())
    return config


def _read(root: Node, base: Path) -> WebConfig:
    root.expect_keys(("tls_server_config", "http_server_config", "basic_auth_users",
                      *_ROOT_NOT_SUPPORTED))
    _refuse_unsupported(root, _ROOT_NOT_SUPPORTED)
    tls_node = root.get_map("tls_server_config")
    http_node = root.get_map("http_server_config")
    headers: list[tuple[str, str]] = []
    http2 = True
    if http_node is not None:
        http_node.expect_keys(("http2", "headers"))
        http2 = http_node.get_bool("http2", True)
        headers = _headers(http_node.get_map("headers"))
    return WebConfig(
        tls=_tls(tls_node, base) if tls_node is not None and tls_node.entries() else None,
        headers=tuple(headers), http2=http2, users=_users(root.get_map("basic_auth_users")))


def _refuse_unsupported(node: Node, keys: tuple[str, ...]) -> None:
    for key in keys:
        child = node.get(key)
        if child is not None:
            child.error(f"exporter-toolkit's {key} is not supported yet")


def _headers(node: Node | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, child in node.entries() if node is not None else []:
        value = child.as_str()
        if name not in HEADERS:
            child.error(f'HTTP header "{name}" can not be configured')
        elif value is not None and HEADERS[name] and value not in HEADERS[name]:
            allowed = ", ".join(f'"{v}"' for v in HEADERS[name])
            child.error(f"invalid value for {name}. Expected one of: {allowed}, "
                        f'but got: "{value}"')
        elif value is not None:
            out.append((name, value))
    return out


def _users(node: Node | None) -> tuple[tuple[str, Secret], ...]:
    out: list[tuple[str, Secret]] = []
    for user, child in node.entries() if node is not None else []:
        hashed = child.as_str()
        if hashed is None:
            continue
        match = _BCRYPT.match(hashed)
        # The hash is never quoted: it is a secret's digest, and shown nowhere.
        if match is None:
            child.error(f'user "{user}": not a bcrypt hash (want $2y$<cost>$..., '
                        "e.g. from htpasswd -nBC 10)")
        elif not 4 <= int(match.group(1)) <= 31:
            child.error(f'user "{user}": bcrypt cost {match.group(1)} outside 4..31')
        else:
            out.append((user, Secret(value=hashed)))
    return tuple(out)


def _file(node: Node, key: str, base: Path) -> str | None:
    child = node.get(key)
    text = node.get_str(key)
    if not text or child is None:
        return None
    path = base / text
    if not path.is_file():
        child.error(f"file not found: {path}")
    return str(path)


def _tls(node: Node, base: Path) -> TlsServerConfig:
    node.expect_keys((*_TLS_KEYS, *_TLS_NOT_SUPPORTED))
    _refuse_unsupported(node, _TLS_NOT_SUPPORTED)
    cert_file, key_file = _file(node, "cert_file", base), _file(node, "key_file", base)
    cert, key = node.get_str("cert"), node.get_str("key")
    for one, other in (("cert", "cert_file"), ("key", "key_file")):
        if node.has(one) and node.has(other):
            node.error(f"at most one of {one} & {other} must be configured")
        elif not node.has(one) and not node.has(other):
            node.error(f"missing one of {one} or {other}")
    client_auth = node.get_str("client_auth_type", "NoClientCert") or "NoClientCert"
    if client_auth not in CLIENT_AUTH_TYPES:
        bad = node.get("client_auth_type")
        assert bad is not None
        bad.error(f"invalid ClientAuth: {client_auth} (want one of "
                  f"{', '.join(CLIENT_AUTH_TYPES)})")
    ca_file, ca = _file(node, "client_ca_file", base), node.get_str("client_ca")
    if (ca_file or ca) and client_auth == "NoClientCert":
        node.error("client CA's have been configured without a Client Auth Policy")
    versions = [_version(node, k, d) for k, d in (("min_version", "TLS12"),
                                                   ("max_version", "TLS13"))]
    if TLS_VERSIONS.index(versions[0]) > TLS_VERSIONS.index(versions[1]):
        node.error(f"min_version {versions[0]} is above max_version {versions[1]}")
    return TlsServerConfig(
        cert_file=cert_file, key_file=key_file, cert=cert,
        key=Secret(value=key) if key else None, client_auth_type=client_auth,
        client_ca_file=ca_file, client_ca=ca, min_version=versions[0],
        max_version=versions[1], cipher_suites=_ciphers(node),
        prefer_server_cipher_suites=node.get_bool("prefer_server_cipher_suites", True))


def _version(node: Node, key: str, default: str) -> str:
    value = node.get_str(key, default) or default
    if value in TLS_VERSIONS:
        return value
    bad = node.get(key)
    assert bad is not None
    bad.error(f"unknown TLS version: {value}")
    return default


def _ciphers(node: Node) -> tuple[str, ...]:
    out: list[str] = []
    for item in node.get_list("cipher_suites") or []:
        name = item.as_str()
        if name is not None and name not in CIPHER_SUITES:
            item.error(f"unknown cipher: {name}")
        elif name is not None:
            out.append(name)
    return tuple(out)


class WebConfigFile:
    """The web config of a running server: `current()` reads the file again when its
    stat changed (basic_auth_users and headers take effect without a restart). A file
    that no longer loads keeps the last good config; each such version is read once and
    logged (the same problem at most once a minute)."""

    def __init__(self, path: str | None, config: WebConfig | None = None) -> None:
        self.path = path
        self._config = config if config is not None else (
            load_web_config(path) if path else WebConfig())
        self._stamp = self._stat()
        self._failures = RepeatLog(log, time.monotonic)

    def _stat(self) -> tuple[int, int, int] | None:
        if self.path is None:
            return None
        try:
            st = Path(self.path).stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> WebConfig:
        if self.path is None:
            return self._config
        stamp = self._stat()
        if stamp != self._stamp:
            self._stamp = stamp  # a bad version too: read and parsed once, not per request
            try:
                self._config = load_web_config(self.path)
            except ConfigError as exc:
                self._failures.failure("web config does not load; the previous one stays",
                                       cause=str(exc.problems[0]), level=logging.WARNING)
                return self._config
            log.info("web config reloaded", extra={"file": self.path})
        return self._config
