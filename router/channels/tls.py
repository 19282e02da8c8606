"""Client TLS from a `tls_config`: an `ssl.SSLContext` with the configured trust, client
certificate, verification and versions, rebuilt when a file it was made from changes.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

from router.config.types import TlsConfig

__all__ = ["VERSIONS", "TlsContexts", "build_context", "load_identity"]

# http_types.TLS_VERSIONS as OpenSSL versions (client and server TLS).
VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def build_context(cfg: TlsConfig, cls: type[ssl.SSLContext] = ssl.SSLContext
                  ) -> ssl.SSLContext:
    """The context for `cfg` (a `cls`, for SMTP's server-name subclass); OSError /
    ssl.SSLError when a file or PEM is unusable."""
    context = cls(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its name by default
    if cfg.ca_file or cfg.ca:
        context.load_verify_locations(cafile=cfg.ca_file, cadata=cfg.ca or None)
    else:
        context.load_default_certs()
    if cfg.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cfg.min_version:
        context.minimum_version = VERSIONS[cfg.min_version]
    if cfg.max_version:
        context.maximum_version = VERSIONS[cfg.max_version]
    if cfg.key is not None and (cfg.cert or cfg.cert_file):
        _load_identity(context, cfg)
    return context


def _load_identity(context: ssl.SSLContext, cfg: TlsConfig) -> None:
    assert cfg.key is not None
    key = cfg.key
    load_identity(context, cfg.cert_file, cfg.cert, key.file, key.reveal)


def load_identity(context: ssl.SSLContext, cert_file: str | None, cert: str | None,
                  key_file: str | None, key: Callable[[], str]) -> None:
    """A certificate and key from files or inline PEM (`key()` reveals the inline key
    only when there is no file). `load_cert_chain` takes paths only: inline PEM goes
    through private temporary files, removed at once."""
    with tempfile.TemporaryDirectory() as tmp:
        cert_path = cert_file or _private(Path(tmp) / "cert.pem", cert or "")
        key_path = key_file or _private(Path(tmp) / "key.pem", key())
        context.load_cert_chain(cert_path, key_path)


def _private(path: Path, text: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    return str(path)


def _stamp(cfg: TlsConfig) -> tuple[float, ...]:
    """Modification times of the files `cfg` reads: a rotated certificate is picked up."""
    out: list[float] = []
    for name in (cfg.ca_file, cfg.cert_file, cfg.key.file if cfg.key else None):
        if name:
            with contextlib.suppress(OSError):
                out.append(Path(name).stat().st_mtime)
    return tuple(out)


class TlsContexts:
    """One context per distinct `tls_config` (and file state), shared by every send."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[TlsConfig, tuple[tuple[float, ...], ssl.SSLContext]] = {}

    def get(self, cfg: TlsConfig) -> ssl.SSLContext | None:
        """None for the default config (the session's own verification applies)."""
        if cfg.is_default:
            return None
        stamp = _stamp(cfg)
        cached = self._cache.get(cfg)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        context = build_context(cfg)
        self._cache[cfg] = (stamp, context)
        return context
