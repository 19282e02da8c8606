"""The `slack_configs` entries: keys and the parser into SlackConfig."""

from __future__ import annotations

from router.channels.slack_attachment import ATTACHMENT_KEYS, parse_attachment
from router.config.fields import FieldReader
from router.config.types import SlackConfig
from router.config.yaml_source import Node

CONFIG_KEY = "slack_configs"
KEYS = (
    "api_url",
    "api_url_file",
    "token",
    "token_file",
    "app_url",
    "channel",
    "username",
    "icon_emoji",
    "title",
    "text",
    "send_resolved",
    "max_alerts",
    "template",
    "http_config",
    "timeout",
    "pacing",
    "update_message",
    *ATTACHMENT_KEYS,
)


def parse(fields: FieldReader, node: Node) -> SlackConfig | None:
    api_url = fields.secret(node, "api_url")
    token = fields.secret(node, "token")
    channel = node.get_str("channel")
    has_url = node.has("api_url") or node.has("api_url_file")
    has_token = node.has("token") or node.has("token_file")
    if not has_url and not has_token and fields.global_.slack_api_url is not None:
        api_url, has_url = fields.global_.slack_api_url, True  # Alertmanager's inheritance
    if has_url and has_token:
        node.error('"api_url" (incoming webhook) and "token" (Web API) are exclusive')
    elif not has_url and not has_token:
        node.error('one of "api_url", "api_url_file", "token" or "token_file" is required '
                   "(no global Slack API URL set either inline or in a file)")
    elif has_token and channel is None:
        node.error('"channel" is required with "token"')
    update_message = node.get_bool("update_message", False)
    if update_message and has_url and (flag := node.get("update_message")) is not None:
        flag.error('needs the Web API ("token" and "channel"): an incoming webhook '
                   "cannot edit its messages")
    default = SlackConfig()
    config = SlackConfig(
        api_url=api_url,
        token=token,
        app_url=node.get_str("app_url", default.app_url) or default.app_url,
        channel=channel,
        username=node.get_str("username"),
        icon_emoji=node.get_str("icon_emoji"),
        title=fields.template_string(node.get("title")),
        text=fields.template_string(node.get("text")),
        send_resolved=node.get_bool("send_resolved", False),
        max_alerts=node.get_int("max_alerts", default.max_alerts, minimum=1),
        template=fields.template_key(node, "template"),
        http_config=fields.http_config(node),
        timeout=fields.timeout(node),
        pacing=fields.pacing(node),
        icon_url=fields.template_string(node.get("icon_url")),
        link_names=node.get_bool("link_names", False),
        attachment=parse_attachment(fields, node),
        update_message=update_message,
    )
    return config if (api_url is None) != (token is None) else None
