"""`http_config` as frozen dataclasses: Prometheus' common HTTP client settings (a value
module: channels read these, router/config/http_config.py parses them).

Authorization (`authorization`, `basic_auth`, `bearer_token`, `oauth2`), the proxy
(`proxy_url`, `no_proxy`, `proxy_from_environment`, `proxy_connect_header`), TLS
(`tls_config`) and `follow_redirects` / `enable_http2`, with Prometheus' defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.config.secret_types import Secret

# Go's crypto/tls version names, as `tls_config` and the web config's `tls_server_config`
# spell `min_version` / `max_version`; ascending.
TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """Basic credentials; `username_file` (http_config only) is read at send time."""

    username: str
    password: Secret
    username_file: str | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    """`Authorization: <type> <credentials>`; `bearer_token` becomes one of these."""

    type: str = "Bearer"
    credentials: Secret | None = None


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """Client TLS: trust (`ca`), identity (`cert` + `key`) and the versions allowed.

    Inline `ca` / `cert` are PEM text (`*_file`: a path); `key` is a Secret either way.
    Versions are "TLS10" .. "TLS13" (None: the library's defaults).
    """

    ca: str | None = None
    ca_file: str | None = None
    cert: str | None = None
    cert_file: str | None = None
    key: Secret | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: str | None = None
    max_version: str | None = None

    @property
    def is_default(self) -> bool:
        return self == TlsConfig()


@dataclass(frozen=True, slots=True)
class OAuth2:
    """OAuth 2.0 client credentials: a token from `token_url`, cached until it expires."""

    client_id: str
    client_secret: Secret
    token_url: str
    scopes: tuple[str, ...] = ()
    endpoint_params: tuple[tuple[str, str], ...] = ()
    tls_config: TlsConfig = field(default_factory=TlsConfig)
    proxy_url: Secret | None = None  # a proxy URL may embed credentials


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """One `http_config` block. At most one of `authorization`, `basic_auth`, `oauth2`
    is set (`bearer_token(_file)` is read into `authorization`, as Prometheus does)."""

    authorization: Authorization | None = None
    basic_auth: BasicAuth | None = None
    oauth2: OAuth2 | None = None
    proxy_url: Secret | None = None  # a proxy URL may embed credentials
    no_proxy: str | None = None  # comma-separated hosts, domains, CIDRs
    proxy_from_environment: bool = False  # HTTP_PROXY / HTTPS_PROXY / NO_PROXY
    proxy_connect_header: tuple[tuple[str, tuple[Secret, ...]], ...] = ()
    tls_config: TlsConfig = field(default_factory=TlsConfig)
    follow_redirects: bool = True
    enable_http2: bool = True  # accepted; aiohttp speaks HTTP/1.1
    # The legacy spelling, kept for code that builds configs directly.
    bearer_token: Secret | None = None

    @property
    def auth(self) -> Authorization | None:
        """The `Authorization` to send, `bearer_token` included."""
        if self.authorization is not None:
            return self.authorization
        if self.bearer_token is not None:
            return Authorization("Bearer", self.bearer_token)
        return None
