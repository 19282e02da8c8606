"""Reads the `server:` section: listen address, external URL, body limit and `auth`.

`auth` lists the credentials the HTTP edge accepts (bearer tokens, inline or from files,
and basic-auth users); secrets stay `Secret` values and are never printed.
"""

from __future__ import annotations

from router.config.fields import FieldReader
from router.config.http_config import is_http_url
from router.config.types import IngestAuth, Secret, ServerConfig
from router.config.yaml_source import Node

__all__ = ["parse_server"]


def parse_server(fields: FieldReader, node: Node) -> ServerConfig:
    node.expect_keys(("listen", "external_url", "silence_url", "max_body_bytes", "auth"))
    default = ServerConfig()
    listen = node.get_str("listen", default.listen) or default.listen
    port = _listen_port(listen)
    if port is None:
        listen_node = node.get("listen")
        assert listen_node is not None
        listen_node.error(
            f'invalid listen address "{listen}": expected host:port, '
            "e.g. 127.0.0.1:9095 or :9095"
        )
    host = listen.rsplit(":", 1)[0]
    derived = (
        f"http://{listen}"
        if host not in ("", "0.0.0.0", "[::]")
        else f"http://localhost:{port}"
    )
    external_url = node.get_str("external_url", derived) or derived
    if not is_http_url(external_url):
        bad = node.get("external_url") or node
        bad.error(f'invalid external_url "{external_url}": expected http(s)://host[:port]')
    silence_url = node.get_str("silence_url", "") or ""
    if silence_url and not is_http_url(silence_url):
        bad = node.get("silence_url") or node
        bad.error(f'invalid silence_url "{silence_url}": expected http(s)://host[:port][/path]')
    auth = node.get_map("auth")
    return ServerConfig(
        listen=listen,
        external_url=external_url.rstrip("/"),
        silence_url=silence_url.rstrip("/"),
        auth=_ingest_auth(fields, auth) if auth else IngestAuth(),
        max_body_bytes=node.get_int("max_body_bytes", default.max_body_bytes, minimum=1),
    )

def _ingest_auth(fields: FieldReader, node: Node) -> IngestAuth:
    """`server.auth`. An empty or missing credentials file is an error, never "auth off"."""
    problems = len(node.src.problems)
    node.expect_keys(
        (
            "bearer_tokens",
            "bearer_tokens_file",
            "bearer_token",
            "bearer_token_file",
            "basic_auth",
            "public_read",
        )
    )
    tokens: list[Secret] = []
    single = fields.secret(node, "bearer_token", deployable=False)
    tokens.extend([single] if single else [])
    _require_content(node.get("bearer_token_file"), single)
    for item in node.get_list("bearer_tokens") or []:
        value = item.as_str()
        tokens.extend([Secret(value=value)] if value else [])
    for item in node.get_list("bearer_tokens_file") or []:
        text = item.as_str()
        if text is not None and not fields.path(text).is_file():
            item.error(f"file not found: {fields.path(text)}")
        elif text is not None:
            token = Secret(file=str(fields.path(text)))
            if _require_content(item, token):
                tokens.append(token)
    auth_node = node.get("basic_auth")
    entries = (
        [auth_node] if auth_node and auth_node.is_map else node.get_list("basic_auth") or []
    )
    users = []
    for entry in entries:
        user = fields.basic_auth(entry) if entry.expect_map() else None
        if user is not None and _require_content(entry.get("password_file"), user.password):
            users.append(user)
    auth = IngestAuth(tuple(tokens), tuple(users), node.get_bool("public_read", False))
    if not auth.enabled and len(node.src.problems) == problems:
        node.error("no credentials: set bearer_tokens or basic_auth, or remove `auth` "
                   "to run without authentication")
    return auth


def _require_content(node: Node | None, secret: Secret | None) -> bool:
    """False (and an error at `node`) when `secret` is a file that is empty or unreadable."""
    if node is None or secret is None or secret.file is None:
        return True
    try:
        content = secret.reveal()
    except (OSError, UnicodeDecodeError) as exc:
        node.error(f"cannot read credentials file {secret.file}: {type(exc).__name__}")
        return False
    if not content:
        node.error(f"credentials file is empty: {secret.file}")
        return False
    return True


def _listen_port(listen: str) -> int | None:
    """The port of `host:port` (host may be empty or a bracketed IPv6), None if invalid."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        return None
    return int(port)
