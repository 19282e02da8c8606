"""Reads Alertmanager's `global:` block: its defaults, the SMTP, Slack, PagerDuty, ...
settings receivers inherit, and the global `http_config`, with Alertmanager's checks
and texts (`at most one of slack_api_url & slack_api_url_file must be configured`).
"""

from __future__ import annotations

from router.config.fields import FieldReader
from router.config.http_config import is_http_url, parse_http_config
from router.config.types import GlobalConfig, Secret
from router.config.yaml_source import Node

__all__ = ["GLOBAL_KEYS", "parse_global", "split_hostport"]

_URL_KEYS = ("pagerduty_url", "opsgenie_api_url", "victorops_api_url", "telegram_api_url",
             "webex_api_url", "wechat_api_url", "rocketchat_api_url")
# URLs without a default: unset unless given.
_OPTIONAL_URL_KEYS = ("jira_api_url",)
# Secrets taking an `x_file` form, with Alertmanager's exclusivity check.
_FILE_SECRETS = ("smtp_auth_password", "slack_api_url", "opsgenie_api_key",
                 "victorops_api_key", "mattermost_webhook_url", "wechat_api_secret",
                 "rocketchat_token", "rocketchat_token_id")
GLOBAL_KEYS = (
    "resolve_timeout", "http_config", "smtp_from", "smtp_hello", "smtp_smarthost",
    "smtp_auth_username", "smtp_auth_password", "smtp_auth_password_file",
    "smtp_auth_secret", "smtp_auth_identity", "smtp_require_tls", "slack_api_url",
    "slack_api_url_file", *_URL_KEYS, "opsgenie_api_key", "opsgenie_api_key_file",
    "victorops_api_key", "victorops_api_key_file", "wechat_api_secret", "wechat_api_corp_id",
    "mattermost_webhook_url", "mattermost_webhook_url_file",
    "wechat_api_secret_file", "rocketchat_token", "rocketchat_token_file", "rocketchat_token_id",
    "rocketchat_token_id_file",
    *_OPTIONAL_URL_KEYS,
)


def split_hostport(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port); ValueError when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f'smarthost "{text}" must be host:port')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def parse_global(fields: FieldReader, node: Node) -> GlobalConfig:
    node.expect_keys(GLOBAL_KEYS)
    d = GlobalConfig()
    secrets = {key: _file_secret(fields, node, key) for key in _FILE_SECRETS}
    urls = {key: _url(node, key, getattr(d, key)) for key in _URL_KEYS}
    urls |= {key: _url(node, key, "") if node.get_str(key) else ""
             for key in _OPTIONAL_URL_KEYS}
    smarthost = node.get_str("smtp_smarthost", "") or ""
    if smarthost:
        try:
            split_hostport(smarthost)
        except ValueError as exc:
            (node.get("smtp_smarthost") or node).error(str(exc))
    slack_url = secrets["slack_api_url"]
    if slack_url is not None and slack_url.file is None:
        _check_url(node, "slack_api_url", slack_url.reveal())
    mattermost_url = secrets["mattermost_webhook_url"]
    if mattermost_url is not None and mattermost_url.file is None:
        _check_url(node, "mattermost_webhook_url", mattermost_url.reveal())
    http_node = node.get_map("http_config")
    return GlobalConfig(
        resolve_timeout=node.get_duration("resolve_timeout", d.resolve_timeout,
                                          allow_zero=False) or d.resolve_timeout,
        http_config=parse_http_config(fields, http_node) if http_node else d.http_config,
        smtp_from=node.get_str("smtp_from", "") or "",
        # An explicit empty value stays empty, as in Alertmanager (the default is "localhost").
        smtp_hello=node.get_str("smtp_hello", d.smtp_hello) or "",
        smtp_smarthost=smarthost,
        smtp_auth_username=node.get_str("smtp_auth_username", "") or "",
        smtp_auth_password=secrets["smtp_auth_password"],
        smtp_auth_secret=_inline_secret(node, "smtp_auth_secret"),
        smtp_auth_identity=node.get_str("smtp_auth_identity", "") or "",
        smtp_require_tls=node.get_bool("smtp_require_tls", True),
        slack_api_url=slack_url,
        opsgenie_api_key=secrets["opsgenie_api_key"],
        victorops_api_key=secrets["victorops_api_key"],
        mattermost_webhook_url=mattermost_url,
        wechat_api_secret=secrets["wechat_api_secret"],
        rocketchat_token=secrets["rocketchat_token"],
        rocketchat_token_id=secrets["rocketchat_token_id"],
        wechat_api_corp_id=node.get_str("wechat_api_corp_id", "") or "",
        **urls,
    )


def _file_secret(fields: FieldReader, node: Node, key: str) -> Secret | None:
    """`x` or `x_file`; an empty inline value is unset, as Go's zero value is."""
    if node.get_str(key) and node.has(f"{key}_file"):
        (node.get(f"{key}_file") or node).error(
            f"at most one of {key} & {key}_file must be configured")
        return None
    if not node.get_str(key) and not node.has(f"{key}_file"):
        return None
    return fields.secret(node, key)


def _inline_secret(node: Node, key: str) -> Secret | None:
    value = node.get_str(key)
    return Secret(value=value) if value else None


def _url(node: Node, key: str, default: str) -> str:
    text = node.get_str(key, default) or default
    _check_url(node, key, text)
    return text


def _check_url(node: Node, key: str, text: str) -> None:
    """Alertmanager's URL type: an absolute http(s) URL with a host."""
    if not is_http_url(text):
        child = node.get(key) or node
        shown = "<secret>" if child.is_secret else f'"{text}"'
        child.error(f"unsupported scheme or missing host in URL {shown}: "
                    "must be http:// or https://")
