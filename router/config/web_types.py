"""The web config (`--web.config.file`, Prometheus exporter-toolkit's format) as values:
server TLS, basic-auth users with bcrypt hashes, response headers. Parsed by
config/web_config.py; read by the HTTP edge (router/web/) and the server's TLS.
"""

from __future__ import annotations

from dataclasses import dataclass

from router.config.secret_types import Secret

# exporter-toolkit's names and Go's crypto/tls semantics, with OpenSSL's spelling of each
# (the version names are http_types.TLS_VERSIONS, shared with the client `tls_config`).
CLIENT_AUTH_TYPES = ("NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                     "RequireClientCert", "VerifyClientCertIfGiven",
                     "RequireAndVerifyClientCert")
# Go's tls.CipherSuites() (the secure ones) → OpenSSL. TLS 1.3 suites are accepted and, as
# in Go, not configurable: they are always on.
CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_AES_128_GCM_SHA256": "",
    "TLS_AES_256_GCM_SHA384": "",
    "TLS_CHACHA20_POLY1305_SHA256": "",
}
# exporter-toolkit's allowed headers; a non-empty tuple lists the only values allowed.
HEADERS: dict[str, tuple[str, ...]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}


@dataclass(frozen=True, slots=True)
class TlsServerConfig:
    """`tls_server_config`: file paths are absolute (resolved against the web config's
    directory). Inline `cert`/`client_ca` are PEM text; an inline `key` is a Secret."""

    cert_file: str | None = None
    key_file: str | None = None
    cert: str | None = None
    key: Secret | None = None
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    client_ca: str | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    cipher_suites: tuple[str, ...] = ()
    prefer_server_cipher_suites: bool = True

    @property
    def files(self) -> tuple[str, ...]:
        """The files a renewal rewrites: watched for changes."""
        return tuple(f for f in (self.cert_file, self.key_file, self.client_ca_file) if f)


@dataclass(frozen=True, slots=True)
class WebConfig:
    """The whole file; the default (no `--web.config.file`) is plain HTTP, no users."""

    tls: TlsServerConfig | None = None
    headers: tuple[tuple[str, str], ...] = ()
    http2: bool = True  # accepted; the server speaks HTTP/1.1
    # user → bcrypt hash (a Secret, as exporter-toolkit's config_util.Secret)
    users: tuple[tuple[str, Secret], ...] = ()
