"""The `rocketchat_configs` entries: RocketchatConfig and its parser.

Alertmanager's keys, defaults and inheritance: `api_url`, `token` and `token_id` come from
`global.rocketchat_*` when the entry has none ("no global Rocketchat Token set either
inline or in a file"); `x` and `x_file` exclude each other. Strings are Jinja source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret, SlackField
from router.config.yaml_source import Node

CONFIG_KEY = "rocketchat_configs"
DEFAULT_API_URL = "https://open.rocket.chat/"
_TEMPLATES = ("channel", "color", "title", "title_link", "text", "emoji", "icon_url",
              "image_url", "thumb_url")
_ACTION_KEYS = ("type", "text", "url", "image_url", "is_webview", "webview_height_ratio",
                "msg", "msg_in_chat_window", "msg_processing_type")
KEYS = ("api_url", "token", "token_file", "token_id", "token_id_file", *_TEMPLATES, "fields",
        "short_fields", "link_names", "actions", "send_resolved", "template", "http_config",
        "timeout", "pacing")


RocketchatField = SlackField  # title, value (Jinja source), short (None: `short_fields`)


@dataclass(frozen=True, slots=True)
class RocketchatAction:
    """A button (Alertmanager sends only `text`, `url` and `msg` of an action)."""

    text: str = ""
    url: str = ""
    msg: str = ""


@dataclass(frozen=True, slots=True)
class RocketchatConfig:
    token: Secret  # X-Auth-Token of the bot user
    token_id: Secret  # X-User-Id of the bot user
    api_url: str = DEFAULT_API_URL
    channel: str = ""  # "": the bot's default (a `#channel` or `@user` otherwise)
    color: str = ""  # "": red firing, green resolved
    title: str = ""  # "": Alertmanager's __subject
    title_link: str = ""  # "": the Alertmanager view of the receiver
    text: str = ""
    emoji: str = ""
    icon_url: str = ""  # sent as `avatar`
    image_url: str = ""
    thumb_url: str = ""
    fields: tuple[RocketchatField, ...] = ()
    short_fields: bool = False
    link_names: bool = False  # accepted, as Alertmanager, which never sends it
    actions: tuple[RocketchatAction, ...] = ()
    send_resolved: bool = False
    template: str | None = None  # a Jinja file rendering the whole JSON body
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced (429s are honoured)


def parse(fields: FieldReader, node: Node) -> RocketchatConfig | None:
    g = fields.global_
    token = _secret(fields, node, "token", g.rocketchat_token, "Token")
    token_id = _secret(fields, node, "token_id", g.rocketchat_token_id, "TokenID")
    api_url = node.get_str("api_url", g.rocketchat_api_url) or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        (node.get("api_url") or node).error("must be an http(s) URL")
    text = {key: fields.template_string(node.get(key)) or "" for key in _TEMPLATES}
    attachment_fields = tuple(_field(fields, item) for item in node.get_list("fields") or []
                              if item.expect_map())
    actions = tuple(_action(fields, item) for item in node.get_list("actions") or []
                    if item.expect_map())
    short_fields = node.get_bool("short_fields", False)
    link_names = node.get_bool("link_names", False)
    send_resolved = node.get_bool("send_resolved", False)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if token is None or token_id is None:
        return None
    return RocketchatConfig(token, token_id, api_url, **text, fields=attachment_fields,
                            short_fields=short_fields, link_names=link_names, actions=actions,
                            send_resolved=send_resolved, template=template,
                            http_config=http_config, timeout=timeout, pacing=pacing)


def _secret(fields: FieldReader, node: Node, key: str, inherited: Secret | None,
            name: str) -> Secret | None:
    if node.get_str(key) is not None and node.has(f"{key}_file"):
        (node.get(f"{key}_file") or node).error(
            f"at most one of {key} & {key}_file must be configured")
        return None
    own = fields.secret(node, key)
    if own is None and not node.has(f"{key}_file"):
        if inherited is None:
            node.error(f"no global Rocketchat {name} set either inline or in a file")
        return inherited
    return own


def _field(fields: FieldReader, node: Node) -> RocketchatField:
    node.expect_keys(("title", "value", "short"))
    short = node.get("short")
    return RocketchatField(fields.template_string(node.get("title")) or "",
                           fields.template_string(node.get("value")) or "",
                           None if short is None or short.is_null else short.as_bool())


def _action(fields: FieldReader, node: Node) -> RocketchatAction:
    node.expect_keys(_ACTION_KEYS)
    kind = node.get_str("type", "button")
    if kind not in ("button", ""):
        (node.get("type") or node).error('only "button" actions are supported')
    return RocketchatAction(*(fields.template_string(node.get(k)) or ""
                              for k in ("text", "url", "msg")))
