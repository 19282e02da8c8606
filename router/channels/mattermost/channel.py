"""Mattermost: an incoming-webhook post with Slack-compatible attachments, as Alertmanager
builds it (one red/green attachment listing the alerts, or the configured `attachments`).

Texts are cut to Mattermost's 16,383-character post limit; `priority` is normalised the way
Alertmanager does it (unknown → standard; acknowledgement needs more than standard;
persistent notifications need urgent). The webhook URL is never quoted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jinja2

from router.channels.base import SendContext, json_object, reveal, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.channels.mattermost.config import (
    PRIORITIES,
    TEXT_KEYS,
    MattermostAttachment,
    MattermostConfig,
)
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

MAX_TEXT = 16383  # runes in a post's message (developers.mattermost.com, incoming webhooks)
_DEFAULTED = ("color", "text", "title", "title_link", "fallback")  # mattermost.j2 macros

Template = jinja2.Template | None
Compiled = tuple[dict[str, Template], list[tuple[jinja2.Template, jinja2.Template,
                                                  bool | None]]]


class MattermostChannel:
    kind = "mattermost"

    def __init__(self, cfg: MattermostConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("mattermost", cfg.webhook_url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        opt = renderer.compile_optional
        self._post = {key: opt(getattr(cfg, key)) for key in
                      ("channel", "username", "icon_url", "icon_emoji", "type")}
        self._card = opt(cfg.props.card if cfg.props else None)
        self._priority = opt(cfg.priority.priority if cfg.priority else None)
        self._main = self._compile(cfg.attachment)
        self._listed = [self._compile(a) for a in cfg.attachments]
        self._macros = {key: renderer.macro("mattermost.j2", key)
                        for key in (*_DEFAULTED, "username")}

    def _compile(self, a: MattermostAttachment) -> Compiled:
        texts = {key: self._renderer.compile_optional(getattr(a, key)) for key in TEXT_KEYS}
        fields = [(self._renderer.compile_string(f.title),
                   self._renderer.compile_string(f.value), f.short) for f in a.fields]
        return texts, fields

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            body = self._body(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = {"text": cut(self._renderer.plain_text(n), MAX_TEXT),
                    **self._envelope({}, plain=True)}
            body = {k: v for k, v in body.items() if v}
        return json.dumps(body, ensure_ascii=False).encode()

    def _body(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        body = self._envelope(d)
        text = self._text("text", self._main[0], d, default=True)
        if self._listed:
            # Alertmanager: the configured attachments, the entry's `text` above them.
            body["attachments"] = [self._attachment(a, d, default=False)
                                   for a in self._listed]
            body["text"] = cut(text, MAX_TEXT)
        else:
            body["attachments"] = [self._attachment(self._main, d, default=True)]
        if self._body_tmpl is not None:
            custom = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom, dict):
                raise ValueError("mattermost template must render a JSON object")
            body.update(custom)
            if isinstance(body.get("text"), str):
                body["text"] = cut(body["text"], MAX_TEXT)
        return {k: v for k, v in body.items() if v not in ("", None, [], {})}

    def _envelope(self, d: dict[str, Any], *, plain: bool = False) -> dict[str, Any]:
        if plain:  # after a template failure: nothing that could fail again
            channel = self.cfg.channel or ""
            return {"username": "Alertmanager", "channel": "" if "{" in channel else channel}
        out: dict[str, Any] = {key: tmpl.render(d).strip() if tmpl is not None else ""
                               for key, tmpl in self._post.items()}
        out["username"] = out["username"] or self._macros["username"](d).strip()
        if self._card is not None:
            out["props"] = {"card": self._card.render(d)}
        if self._priority is not None:
            out["priority"] = self._priority_of(self._priority.render(d))
        return out

    def _priority_of(self, rendered: str) -> dict[str, Any]:
        """Alertmanager's sanitizeRequest rules."""
        assert self.cfg.priority is not None
        priority = rendered.strip().lower()
        if priority not in PRIORITIES:
            priority = "standard"
        out: dict[str, Any] = {"priority": priority}
        if self.cfg.priority.requested_ack and priority != "standard":
            out["requested_ack"] = True
        if self.cfg.priority.persistent_notifications and priority == "urgent":
            out["persistent_notifications"] = True
        return out

    def _text(self, key: str, texts: dict[str, Template], d: dict[str, Any], *,
              default: bool) -> str:
        tmpl = texts.get(key)
        if tmpl is not None:
            return tmpl.render(d).strip()
        if default and key in _DEFAULTED:
            return self._macros[key](d).strip()
        return ""

    def _attachment(self, compiled: Compiled, d: dict[str, Any], *,
                    default: bool) -> dict[str, Any]:
        texts, fields = compiled
        out: dict[str, Any] = {}
        for key in TEXT_KEYS:
            value = self._text(key, texts, d, default=default)
            if value:
                out[key] = cut(value, MAX_TEXT) if key == "text" else value
        rendered = []
        for title_tmpl, value_tmpl, short in fields:
            item: dict[str, Any] = {"title": title_tmpl.render(d),
                                    "value": value_tmpl.render(d)}
            if short is not None:
                item["short"] = short
            rendered.append(item)
        if rendered:
            out["fields"] = rendered
        return out

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        url = reveal(self.cfg.webhook_url, "mattermost webhook_url_file")
        status, headers, text = await self._http.post(
            url, payload, headers={"Content-Type": "application/json",
                                   "User-Agent": user_agent()},
            timeout=ctx.timeout, endpoint="mattermost webhook", http_config=self.cfg.http_config,
        )
        error = classify_http(status, headers, _reason(text))
        if error is not None:
            raise error.with_message(f"mattermost webhook: {error.message}")
        return {}


def _reason(text: str) -> str:
    """Mattermost's error body `{"id": ..., "message": ..., "status_code": ...}`: its message."""
    message = (json_object(text) or {}).get("message")
    return message if isinstance(message, str) else text


def build(cfg: MattermostConfig, renderer: Renderer, http: HttpClient) -> MattermostChannel:
    if not isinstance(cfg, MattermostConfig):
        raise TypeError(f"mattermost channel needs a MattermostConfig, got {type(cfg).__name__}")
    return MattermostChannel(cfg, renderer, http)
