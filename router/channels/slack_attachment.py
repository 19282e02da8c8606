"""Alertmanager's Slack attachment keys for `slack_configs`: `color`, `title_link`,
`pretext`, `fields`, `short_fields`, `footer`, `fallback`, `image_url`, `thumb_url`,
`actions`, `callback_id`, `mrkdwn_in` (plus `icon_url`, `link_names` on the message).

An entry that sets any of them gets one legacy attachment beside its Block Kit blocks, as
Alertmanager sends it; every string is a Jinja template rendered per notification.
"""

from __future__ import annotations

from typing import Any

from router.config.fields import FieldReader
from router.config.types import SlackAction, SlackAttachment, SlackField
from router.config.yaml_source import Node
from router.rendering import Renderer

__all__ = ["ATTACHMENT_KEYS", "AttachmentRenderer", "parse_attachment", "parse_field"]

_TEXT_KEYS = ("color", "title_link", "pretext", "footer", "fallback", "callback_id",
              "image_url", "thumb_url")
ATTACHMENT_KEYS = (*_TEXT_KEYS, "fields", "short_fields", "mrkdwn_in", "actions",
                   "icon_url", "link_names")
_ACTION_KEYS = ("type", "text", "url", "style", "name", "value", "confirm")
_CONFIRM_KEYS = ("text", "title", "ok_text", "dismiss_text")


def parse_attachment(fields: FieldReader, node: Node) -> SlackAttachment | None:
    """The entry's attachment keys, or None when it sets none of them."""
    if not any(node.has(key) for key in ATTACHMENT_KEYS if key not in ("icon_url",
                                                                       "link_names")):
        return None
    text = {key: fields.template_string(node.get(key)) for key in _TEXT_KEYS}
    mrkdwn = node.get("mrkdwn_in")
    return SlackAttachment(
        **text,
        fields=tuple(f for item in node.get_list("fields") or []
                     if (f := parse_field(fields, item)) is not None),
        short_fields=node.get_bool("short_fields", False),
        mrkdwn_in=tuple(mrkdwn.as_str_list() or ()) if mrkdwn and not mrkdwn.is_null else (),
        actions=tuple(a for item in node.get_list("actions") or []
                      if (a := _action(fields, item)) is not None),
    )


def parse_field(fields: FieldReader, node: Node, vendor: str = "Slack") -> SlackField | None:
    """One `fields` item with Alertmanager's checks (Mattermost's attachments share it)."""
    if not node.expect_map():
        return None
    node.expect_keys(("title", "value", "short"))
    title = fields.template_string(node.get("title"))
    value = fields.template_string(node.get("value"))
    if not title:
        node.error(f"missing title in {vendor} field configuration")
    elif not value:
        node.error(f"missing value in {vendor} field configuration")
    short = node.get_bool("short", False) if node.has("short") else None
    return SlackField(title, value, short) if title and value else None


def _action(fields: FieldReader, node: Node) -> SlackAction | None:
    """Alertmanager's checks: type and text required, then a `url` or a `name`."""
    if not node.expect_map():
        return None
    node.expect_keys(_ACTION_KEYS)
    got = {key: fields.template_string(node.get(key)) or "" for key in _ACTION_KEYS
           if key != "confirm"}
    confirm = node.get_map("confirm")
    if confirm is not None:
        confirm.expect_keys(_CONFIRM_KEYS)
    for key in ("type", "text"):
        if not got[key]:
            node.error(f"missing {key} in Slack action configuration")
            return None
    if not got["url"] and not got["name"]:
        node.error("missing name or url in Slack action configuration")
        return None
    pairs = tuple((k, fields.template_string(v) or "") for k, v in confirm.entries()
                  ) if confirm is not None and not got["url"] else ()
    if got["url"]:  # a link button: message-action fields are dropped, as Alertmanager does
        got["name"] = got["value"] = ""
    return SlackAction(got["type"], got["text"], got["url"], got["style"], got["name"],
                       got["value"], pairs)


class AttachmentRenderer:
    """Compiles an entry's attachment templates once; `apply` adds the rendered
    attachment (and `icon_url` / `link_names`) to a message body."""

    def __init__(self, renderer: Renderer, attachment: SlackAttachment | None,
                 icon_url: str | None, link_names: bool) -> None:
        self._spec = attachment
        self._icon_url = icon_url
        self._link_names = link_names
        self._renderer = renderer

    def _render(self, src: str, data: dict[str, Any]) -> str:
        # compile_string caches: each source compiles once.
        return self._renderer.compile_string(src).render(data).strip()

    def apply(self, body: dict[str, Any], data: dict[str, Any], title: str) -> dict[str, Any]:
        if self._icon_url:
            body.setdefault("icon_url", self._render(self._icon_url, data))
        if self._link_names:
            body["link_names"] = True
        spec = self._spec
        if spec is None:
            return body
        att: dict[str, Any] = {"title": title}
        for key in _TEXT_KEYS:
            src = getattr(spec, key)
            if src:
                att[key] = self._render(src, data)
        if "color" not in att:  # Alertmanager's default: red while firing, green resolved
            att["color"] = "danger" if data.get("status") == "firing" else "good"
        if spec.fields:
            att["fields"] = [{"title": self._render(f.title, data),
                              "value": self._render(f.value, data),
                              "short": spec.short_fields if f.short is None else f.short}
                             for f in spec.fields]
        if spec.mrkdwn_in:
            att["mrkdwn_in"] = list(spec.mrkdwn_in)
        if spec.actions:
            att["actions"] = [self._action(a, data) for a in spec.actions]
        body.setdefault("attachments", []).append(att)
        return body

    def _action(self, action: SlackAction, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {key: self._render(getattr(action, key), data)
               for key in ("type", "text", "url", "style", "name", "value")
               if getattr(action, key)}
        if action.confirm:
            out["confirm"] = {k: self._render(v, data) for k, v in action.confirm}
        return out
