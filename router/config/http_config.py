"""Reads an `http_config` block (and a client `tls_config`) with Prometheus' common HTTP
client semantics and error texts: one authorization method at most, `bearer_token` read as
`authorization: {type: Bearer}`, the proxy rules of `ProxyConfig.Validate`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from router.config.http_types import (
    TLS_VERSIONS,
    Authorization,
    BasicAuth,
    HttpConfig,
    OAuth2,
    TlsConfig,
)
from router.config.secret_types import Secret
from router.config.yaml_source import Node

if TYPE_CHECKING:
    from router.config.fields import FieldReader

__all__ = ["HTTP_KEYS", "TLS_KEYS", "parse_http_config", "parse_tls_config"]

HTTP_KEYS = (
    "authorization", "basic_auth", "bearer_token", "bearer_token_file", "oauth2",
    "proxy_url", "no_proxy", "proxy_from_environment", "proxy_connect_header",
    "tls_config", "follow_redirects", "enable_http2",
)
TLS_KEYS = ("ca", "ca_file", "cert", "cert_file", "key", "key_file", "server_name",
            "insecure_skip_verify", "min_version", "max_version")
_OAUTH2_KEYS = ("client_id", "client_secret", "client_secret_file", "scopes", "token_url",
                "endpoint_params", "tls_config", "proxy_url")


def parse_http_config(fields: FieldReader, node: Node) -> HttpConfig:
    node.expect_keys(HTTP_KEYS)
    bearer = fields.secret(node, "bearer_token")
    authorization = _authorization(fields, node.get_map("authorization"))
    basic_node, oauth_node = node.get_map("basic_auth"), node.get_map("oauth2")
    basic = _basic_auth(fields, basic_node) if basic_node else None
    oauth2 = _oauth2(fields, oauth_node) if oauth_node else None
    has_bearer = node.has("bearer_token") or node.has("bearer_token_file")
    if has_bearer and (basic_node or oauth_node):
        node.error("at most one of basic_auth, oauth2, bearer_token & bearer_token_file "
                   "must be configured")
    if authorization is not None and has_bearer:
        node.error("authorization is not compatible with bearer_token & bearer_token_file")
    elif (authorization is not None and (basic_node or oauth_node)) or (basic_node and oauth_node):
        node.error("at most one of basic_auth, oauth2 & authorization must be configured")
    if authorization is None and bearer is not None:
        authorization = Authorization("Bearer", bearer)
    proxy_url = _proxy_url(node, "proxy_url")
    no_proxy = node.get_str("no_proxy") or None
    from_env = node.get_bool("proxy_from_environment", False)
    headers = _connect_headers(node)
    _check_proxy(node, proxy_url is not None, no_proxy, from_env, bool(headers))
    tls_node = node.get_map("tls_config")
    return HttpConfig(
        authorization=authorization, basic_auth=basic, oauth2=oauth2,
        proxy_url=proxy_url, no_proxy=no_proxy, proxy_from_environment=from_env,
        proxy_connect_header=headers,
        tls_config=parse_tls_config(fields, tls_node) if tls_node else TlsConfig(),
        follow_redirects=node.get_bool("follow_redirects", True),
        enable_http2=node.get_bool("enable_http2", True),
    )


def _authorization(fields: FieldReader, node: Node | None) -> Authorization | None:
    if node is None:
        return None
    node.expect_keys(("type", "credentials", "credentials_file"))
    kind = (node.get_str("type") or "").strip() or "Bearer"
    if kind.lower() == "basic":
        (node.get("type") or node).error(
            'authorization type cannot be set to "basic", use "basic_auth" instead')
    return Authorization(kind, fields.secret(node, "credentials"))


def _basic_auth(fields: FieldReader, node: Node) -> BasicAuth | None:
    node.expect_keys(("username", "username_file", "password", "password_file"))
    if node.has("username") and node.has("username_file"):
        (node.get("username_file") or node).error(
            "at most one of basic_auth username & username_file must be configured")
    username_file = fields.existing_file(node, "username_file", deployable=True)
    password = fields.secret(node, "password") or Secret(value="")
    return BasicAuth(node.get_str("username", "") or "", password, username_file)


def _oauth2(fields: FieldReader, node: Node) -> OAuth2 | None:
    node.expect_keys(_OAUTH2_KEYS)
    client_id = node.get_str("client_id") or ""
    if not client_id:
        node.error("oauth2 client_id must be configured")
    secret = fields.secret(node, "client_secret")
    if secret is None and not (node.has("client_secret") or node.has("client_secret_file")):
        node.error("either oauth2 client_secret or client_secret_file must be configured")
    token_url = node.get_str("token_url") or ""
    if not token_url:
        node.error("oauth2 token_url must be configured")
    elif not is_http_url(token_url):
        (node.get("token_url") or node).error("must be an http:// or https:// URL")
    params = node.get_map("endpoint_params")
    scopes = node.get("scopes")
    tls_node = node.get_map("tls_config")
    if secret is None or not client_id or not token_url:
        return None
    return OAuth2(
        client_id, secret, token_url,
        tuple(scopes.as_str_list() or ()) if scopes is not None and not scopes.is_null else (),
        tuple((k, v.as_str() or "") for k, v in params.entries()) if params else (),
        parse_tls_config(fields, tls_node) if tls_node else TlsConfig(),
        _proxy_url(node, "proxy_url"),
    )


def parse_tls_config(fields: FieldReader, node: Node) -> TlsConfig:
    """A client `tls_config`; files must exist where the router serves."""
    node.expect_keys(TLS_KEYS)
    for name in ("ca", "cert"):
        if node.has(name) and node.has(f"{name}_file"):
            (node.get(f"{name}_file") or node).error(
                f"at most one of {name} and {name}_file must be configured")
    key = fields.secret(node, "key")
    has_cert = node.has("cert") or node.has("cert_file")
    has_key = node.has("key") or node.has("key_file")
    if has_cert != has_key:
        node.error("exactly one of key or key_file must be configured when a client "
                   "certificate is configured" if has_cert else
                   "exactly one of cert or cert_file must be configured when a client "
                   "key is configured")
    versions = [_tls_version(node, name) for name in ("min_version", "max_version")]
    if versions[0] and versions[1] and versions[0] > versions[1]:
        (node.get("max_version") or node).error(
            f"max_version must be greater than or equal to min_version, got "
            f"min_version {versions[0]} and max_version {versions[1]}")
    return TlsConfig(
        ca=node.get_str("ca"), ca_file=fields.existing_file(node, "ca_file", deployable=True),
        cert=node.get_str("cert"),
        cert_file=fields.existing_file(node, "cert_file", deployable=True),
        key=key, server_name=node.get_str("server_name"),
        insecure_skip_verify=node.get_bool("insecure_skip_verify", False),
        min_version=versions[0], max_version=versions[1],
    )


def _tls_version(node: Node, key: str) -> str | None:
    value = node.get_str(key)
    if value is None or value in TLS_VERSIONS:
        return value
    (node.get(key) or node).error(f'unknown TLS version: {value} (use one of '
                                  f'{", ".join(TLS_VERSIONS)})')
    return None


def _proxy_url(node: Node, key: str) -> Secret | None:
    """Go's url.Parse accepts nearly anything (`foo` is a relative URL), and so do we."""
    text = node.get_str(key)
    return Secret(value=text) if text else None


def _connect_headers(node: Node) -> tuple[tuple[str, tuple[Secret, ...]], ...]:
    child = node.get_map("proxy_connect_header")
    if child is None:
        return ()
    out: list[tuple[str, tuple[Secret, ...]]] = []
    for name, value in child.entries():
        values = value.as_str_list() if value.is_list else [value.as_str() or ""]
        out.append((name, tuple(Secret(value=v) for v in values or [])))
    return tuple(out)


def _check_proxy(node: Node, has_url: bool, no_proxy: str | None, from_env: bool,
                 has_headers: bool) -> None:
    """Prometheus' `ProxyConfig.Validate`, same texts."""
    if has_headers and not from_env and not has_url:
        node.error("if proxy_connect_header is configured, proxy_url or "
                   "proxy_from_environment must also be configured")
    if from_env and has_url:
        node.error("if proxy_from_environment is configured, proxy_url must not be configured")
    if from_env and no_proxy:
        node.error("if proxy_from_environment is configured, no_proxy must not be configured")
    if not has_url and no_proxy and not from_env:
        node.error("if no_proxy is configured, proxy_url must also be configured")


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host (Alertmanager's URL type)."""
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
