"""Webex: one message (`POST /v1/messages`, markdown) to a room, as Alertmanager sends it.

The bot token is the `http_config.authorization` credential (Alertmanager requires it on
the entry), added at send time; the stored payload holds only `roomId` and `markdown`,
cut to Webex's 7,439 bytes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from router.channels.base import SendContext, excerpt, json_object, target_id
from router.channels.http import HttpClient, classify_http, cut_utf8
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing
from router.config.yaml_source import Node
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

MAX_MESSAGE = 7439  # bytes of markdown Webex accepts
DEFAULT_API_URL = "https://webexapis.com/v1/messages"


@dataclass(frozen=True, slots=True)
class WebexConfig:
    """Alertmanager's `webex_configs` names; `room_id` and `message` are Jinja source."""

    room_id: str
    http_config: HttpConfig  # its `authorization` carries the bot token
    api_url: str = DEFAULT_API_URL
    message: str | None = None  # None: Alertmanager's webex.default.message
    send_resolved: bool = True
    template: str | None = None  # a Jinja file rendering the message
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced (a 429's Retry-After is honoured)


class WebexChannel:
    kind = "webex"

    def __init__(self, cfg: WebexConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        auth = cfg.http_config.auth
        token = auth.credentials if auth is not None else None
        self.target = target_id("webex", cfg.api_url, token, cfg.room_id)
        self._renderer = renderer
        self._http = http
        self._room = renderer.compile_string(cfg.room_id)
        self._message = (renderer.template(cfg.template) if cfg.template
                         else renderer.compile_optional(cfg.message))
        self._m_message = renderer.macro("webex.j2", "message")

    def render(self, n: Notification) -> bytes:
        d = template_data(n)
        try:
            text = self._message.render(d) if self._message is not None else self._m_message(d)
            room = self._room.render(d).strip()
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            text, room = self._renderer.plain_text(n), self.cfg.room_id
        markdown, _ = cut_utf8(text, MAX_MESSAGE)
        body: dict[str, Any] = {"markdown": markdown}
        if room:
            body["roomId"] = room
        return json.dumps(body, ensure_ascii=False).encode()

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        status, headers, text = await self._http.post(
            self.cfg.api_url, payload, headers={"Content-Type": "application/json"},
            timeout=ctx.timeout, endpoint="webex api", http_config=self.cfg.http_config)
        error = classify_http(status, headers, text)
        if error is None:
            message_id = (json_object(text) or {}).get("id")
            return {"message_id": message_id} if isinstance(message_id, str) else {}
        raise error.with_message(f"webex message failed: HTTP {status}: "
                                 f"{excerpt(_reason(text))}")


def _reason(text: str) -> str:
    """Webex's `{"message": …, "errors": [{"description": …}], "trackingId": …}`."""
    answer = json_object(text)
    if answer is None:
        return text
    message = str(answer.get("message") or "")
    tracking = answer.get("trackingId")
    return f"{message} (trackingId {tracking})" if message and tracking else message or text


def build(cfg: Any, renderer: Renderer, http: HttpClient) -> WebexChannel:
    if not isinstance(cfg, WebexConfig):
        raise TypeError(f"webex channel needs a WebexConfig, got {type(cfg).__name__}")
    return WebexChannel(cfg, renderer, http)


# --- configuration: the `webex_configs` entries -------------------------------------

CONFIG_KEY = "webex_configs"
KEYS = ("api_url", "room_id", "message", "send_resolved", "template", "http_config",
        "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> WebexConfig | None:
    room_id = fields.template_string(node.get("room_id"))
    if not room_id:
        node.error("missing room_id on webex_config", path=f"{node.path}.room_id")
    # Alertmanager checks the entry's own http_config, before the global one is inherited.
    own = node.get_map("http_config")
    http_config = fields.http_config(node)
    if own is None or http_config.auth is None:
        (own or node).error("missing webex_configs.http_config.authorization")
    # Alertmanager: `global.webex_api_url` unless the entry sets its own.
    api_url = node.get_str("api_url", fields.global_.webex_api_url) or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        (node.get("api_url") or node).error("must be an http(s) URL")
    message = fields.template_string(node.get("message"))
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if not room_id or own is None or http_config.auth is None:
        return None
    return WebexConfig(room_id, http_config, api_url, message, send_resolved, template,
                       timeout, pacing)
