"""Server TLS from the web config's `tls_server_config`: the listening socket's SSLContext,
and certificate renewal without a restart.

Every new connection runs the context's SNI callback (OpenSSL calls it with or without a
server name) before the certificate is chosen. It stats the certificate, key and client CA
files; when one changed, a new context is built from them and swapped into this and later
connections (`SSLObject.context`), so a renewed certificate (cert-manager, certbot) is
served from the next connection on. A half-written renewal that does not load keeps the
previous context and is tried again at the next connection. Versions, ciphers and
`client_auth_type` are read at start-up.
"""

from __future__ import annotations

import logging
import ssl
import time
from pathlib import Path

from router.channels.tls import VERSIONS, load_identity
from router.config.web_types import CIPHER_SUITES, TlsServerConfig
from router.logs import RepeatLog

__all__ = ["ServerTls", "build_server_context"]

log = logging.getLogger(__name__)

# Go's crypto/tls client auth types as OpenSSL verify modes. Go's "Request" and
# "RequireAny" ask for a certificate without verifying it; OpenSSL can only ask and verify,
# so both verify against the client CA (or the system's) when one is sent.
_VERIFY = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def build_server_context(cfg: TlsServerConfig) -> ssl.SSLContext:
    """The context for `cfg`; OSError or ssl.SSLError when a file or PEM is unusable."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = VERSIONS[cfg.min_version]
    context.maximum_version = VERSIONS[cfg.max_version]
    ciphers = [CIPHER_SUITES[c] for c in cfg.cipher_suites if CIPHER_SUITES[c]]
    if ciphers:  # TLS 1.2 and below; TLS 1.3 suites are always on, as in Go
        context.set_ciphers(":".join(ciphers))
    if cfg.prefer_server_cipher_suites:
        context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    _load_identity(context, cfg)
    context.verify_mode = _VERIFY[cfg.client_auth_type]
    if context.verify_mode != ssl.CERT_NONE:
        if cfg.client_ca_file or cfg.client_ca:
            context.load_verify_locations(cafile=cfg.client_ca_file, cadata=cfg.client_ca)
        else:
            context.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return context


def _load_identity(context: ssl.SSLContext, cfg: TlsServerConfig) -> None:
    key = cfg.key
    load_identity(context, cfg.cert_file, cfg.cert, cfg.key_file,
                  key.reveal if key is not None else str)


def _stamp(files: tuple[str, ...]) -> tuple[tuple[int, int, int], ...]:
    out = []
    for name in files:
        try:
            st = Path(name).stat()
        except OSError:
            out.append((0, 0, 0))
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class ServerTls:
    """`context` goes to the listening socket; it hands each new connection the context
    built from the files as they are now."""

    def __init__(self, cfg: TlsServerConfig) -> None:
        self._cfg = cfg
        self._stamp = _stamp(cfg.files)
        self.context = build_server_context(cfg)  # raises: a start-up error
        self.context.sni_callback = self._on_hello
        self._current = self.context
        self._failures = RepeatLog(log, time.monotonic)

    def _on_hello(self, conn: ssl.SSLObject, server_name: str | None,
                  context: ssl.SSLContext) -> None:
        stamp = _stamp(self._cfg.files)
        if stamp != self._stamp:
            self._rebuild(stamp)
        if self._current is not context:
            conn.context = self._current

    def _rebuild(self, stamp: tuple[tuple[int, int, int], ...]) -> None:
        try:
            fresh = build_server_context(self._cfg)
        except (OSError, ssl.SSLError, ValueError) as exc:
            # Only the type: an SSL error's text may quote bytes of the key.
            self._failures.failure("TLS files changed but do not load; serving the "
                                   "previous certificate", cause=type(exc).__name__,
                                   level=logging.WARNING)
            return
        self._current, self._stamp = fresh, stamp
        log.info("TLS certificate reloaded", extra={"files": ",".join(self._cfg.files)})
