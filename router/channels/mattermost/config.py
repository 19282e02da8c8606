"""The `mattermost_configs` entries (Alertmanager 0.30+): MattermostConfig and its parser.

The webhook URL is a secret (its path is the hook's credential), inherited from
`global.mattermost_webhook_url(_file)` when the entry has none. The entry's own attachment
keys (`title`, `color`, `fields`, ...) describe the one default attachment; `attachments`
replaces it with a list, exactly as Alertmanager reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.channels.slack_attachment import parse_field
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret, SlackField
from router.config.yaml_source import Node

PRIORITIES = ("urgent", "important", "standard")
TEXT_KEYS = ("fallback", "color", "pretext", "text", "author_name", "author_link",
             "author_icon", "title", "title_link", "thumb_url", "footer", "footer_icon",
             "image_url")


# Alertmanager's Mattermost fields are Slack's: title and value (Jinja), short.
MattermostField = SlackField


@dataclass(frozen=True, slots=True)
class MattermostAttachment:
    """A Slack-compatible attachment; None: the default of mattermost.j2 (top level only)."""

    fallback: str | None = None
    color: str | None = None
    pretext: str | None = None
    text: str | None = None
    author_name: str | None = None
    author_link: str | None = None
    author_icon: str | None = None
    title: str | None = None
    title_link: str | None = None
    thumb_url: str | None = None
    footer: str | None = None
    footer_icon: str | None = None
    image_url: str | None = None
    fields: tuple[MattermostField, ...] = ()


@dataclass(frozen=True, slots=True)
class MattermostProps:
    card: str  # Jinja: Markdown shown in the post's side panel


@dataclass(frozen=True, slots=True)
class MattermostPriority:
    priority: str  # urgent, important or standard (Jinja)
    requested_ack: bool = False
    persistent_notifications: bool = False


@dataclass(frozen=True, slots=True)
class MattermostConfig:
    """Alertmanager's `mattermost_configs` names; strings are Jinja."""

    webhook_url: Secret  # the entry's, else `global.mattermost_webhook_url(_file)`
    channel: str | None = None
    username: str | None = None  # None: "Alertmanager"
    icon_url: str | None = None
    icon_emoji: str | None = None
    type: str | None = None
    props: MattermostProps | None = None
    priority: MattermostPriority | None = None
    # The top-level attachment keys, flat in the YAML (`inline` for redaction).
    attachment: MattermostAttachment = field(default_factory=MattermostAttachment,
                                             metadata={"inline": True})
    attachments: tuple[MattermostAttachment, ...] = ()
    send_resolved: bool = True
    template: str | None = None  # a Jinja file rendering a JSON object merged over the body
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced


CONFIG_KEY = "mattermost_configs"
KEYS = ("webhook_url", "webhook_url_file", "channel", "username", "icon_url", "icon_emoji",
        "type", "props", "priority", *TEXT_KEYS, "fields", "attachments", "send_resolved",
        "template", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> MattermostConfig | None:
    url = fields.inherited_secret(node, "webhook_url", fields.global_.mattermost_webhook_url,
                                  "missing webhook_url or webhook_url_file on mattermost_config")
    text = {key: fields.template_string(node.get(key))
            for key in ("channel", "username", "icon_url", "icon_emoji", "type")}
    props = None
    props_node = node.get_map("props")
    if props_node is not None:
        props_node.expect_keys(("card",))
        card = fields.template_string(props_node.get("card"))
        props = MattermostProps(card) if card else None
    priority = _priority(fields, node)
    attachment = _attachment(fields, node)
    attachments = tuple(a for item in node.get_list("attachments") or []
                        if item.expect_map() and (a := _attachment(fields, item, True)))
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if url is None:
        return None
    return MattermostConfig(url, text["channel"], text["username"], text["icon_url"],
                            text["icon_emoji"], text["type"], props, priority, attachment,
                            attachments, send_resolved, template, http_config, timeout,
                            pacing)


def _attachment(fields: FieldReader, node: Node, listed: bool = False) -> MattermostAttachment:
    if listed:
        node.expect_keys((*TEXT_KEYS, "fields"))
    text = {key: fields.template_string(node.get(key)) for key in TEXT_KEYS}
    return MattermostAttachment(**text, fields=tuple(
        f for item in node.get_list("fields") or []
        if (f := parse_field(fields, item, "Mattermost"))))


def _priority(fields: FieldReader, node: Node) -> MattermostPriority | None:
    child = node.get_map("priority")
    if child is None:
        return None
    child.expect_keys(("priority", "requested_ack", "persistent_notifications"))
    value = fields.template_string(child.get("priority"))
    if value and "{" not in value and value.strip().lower() not in PRIORITIES:
        (child.get("priority") or child).error(
            f'"{value}" is not a Mattermost priority: use urgent, important or standard')
    ack = child.get_bool("requested_ack", False)
    persistent = child.get_bool("persistent_notifications", False)
    # Alertmanager sends no priority at all while `priority.priority` is empty.
    return MattermostPriority(value, ack, persistent) if value else None
