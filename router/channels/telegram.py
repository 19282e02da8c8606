"""Telegram: Bot API `sendMessage` in HTML parse mode, every interpolated value escaped.

The bot token lives in the request path, so it is added at send time and scrubbed from
every error; the stored payload holds only chat, text and options.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, excerpt, target_id
from router.channels.http import HttpClient, classify_http
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

MAX_MESSAGE = 4096  # characters after entity parsing; we count the HTML source (longer)
PARSE_MODES = ("HTML", "MarkdownV2", "Markdown", "")
DEFAULT_API_URL = "https://api.telegram.org"
# About one message per second per chat (20 a minute in groups): no bursts.
TELEGRAM_PACING = Pacing(rate=1.0, burst=1)

_TAG_OR_ENTITY = re.compile(r"<(/?)([a-zA-Z]+)[^>]*>|&#?\w+;")


@dataclass(frozen=True, slots=True)
class TelegramConfig:
    """Alertmanager's `telegram_configs` names."""

    bot_token: Secret
    chat_id: int
    api_url: str = DEFAULT_API_URL
    message: str | None = None  # Jinja source; HTML-escaped when parse_mode is HTML
    parse_mode: str = "HTML"
    disable_notifications: bool = False
    message_thread_id: int | None = None  # a topic of a forum supergroup
    send_resolved: bool = True
    template: str | None = None  # a Jinja file used as the message template
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: Telegram's ~1 message/s per chat


def _units(text: str) -> int:
    """Telegram counts UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def cut_html(html: str, limit: int) -> str:
    """`html` cut to at most `limit` units without splitting a tag or an entity, with every
    tag still open at the cut closed again (Telegram rejects unbalanced HTML)."""
    if _units(html) <= limit:
        return html
    budget = limit - 1  # the ellipsis
    out: list[str] = []
    open_tags: list[str] = []
    used = 0
    pos = 0

    def closing() -> int:
        return sum(len(t) + 3 for t in open_tags)

    for m in [*_TAG_OR_ENTITY.finditer(html), None]:
        text = html[pos: m.start() if m else len(html)]
        room = budget - used - closing()
        if _units(text) > room:
            out.append(_cut_units(text, room))
            break
        out.append(text)
        used += _units(text)
        if m is None:
            break
        token = m.group(0)
        name = (m.group(2) or "").lower()
        extra = _units(token) + (0 if m.group(1) or not name else len(name) + 3)
        if used + extra + closing() > budget:
            break
        out.append(token)
        used += _units(token)
        if name and m.group(1):
            if name in open_tags:
                open_tags.remove(name)
        elif name:
            open_tags.append(name)
        pos = m.end()
    return "".join(out) + "…" + "".join(f"</{t}>" for t in reversed(open_tags))


def _cut_units(text: str, room: int) -> str:
    out = text[: max(room, 0)]
    while out and _units(out) > room:
        out = out[:-1]
    return out


class TelegramChannel:
    kind = "telegram"

    def __init__(self, cfg: TelegramConfig, renderer: Renderer, http: HttpClient) -> None:
        if cfg.parse_mode != "HTML" and cfg.message is None and cfg.template is None:
            raise ValueError("telegram: the default message is HTML; set message with "
                             f"parse_mode {cfg.parse_mode!r}")
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or TELEGRAM_PACING
        self.target = target_id("telegram", cfg.bot_token, str(cfg.chat_id))
        self._renderer = renderer
        self._http = http
        self._html = cfg.parse_mode == "HTML"
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._message = None
        if cfg.template:
            self._message = renderer.template(cfg.template)
        elif cfg.message:
            # Autoescape makes every interpolated value text: only the template's own
            # tags reach Telegram (`|safeHtml` opts out).
            src = f"{{% autoescape true %}}{cfg.message}{{% endautoescape %}}"
            self._message = renderer.compile_string(src if self._html else cfg.message)
        self._m_header = renderer.macro("telegram.j2", "header")
        self._m_alert = renderer.macro("telegram.j2", "alert")
        self._m_more = renderer.macro("telegram.j2", "more")

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        body: dict[str, Any] = {"chat_id": self.cfg.chat_id}
        if self.cfg.message_thread_id is not None:
            body["message_thread_id"] = self.cfg.message_thread_id
        try:
            body["text"] = self._text(n)
            if self.cfg.parse_mode:
                body["parse_mode"] = self.cfg.parse_mode
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            # No parse_mode: the plain text is shown as is, whatever characters it holds.
            body["text"] = _cut_units(self._renderer.plain_text(n), MAX_MESSAGE)
        if self.cfg.disable_notifications:
            body["disable_notification"] = True
        body["link_preview_options"] = {"is_disabled": True}
        return json.dumps(body, ensure_ascii=False).encode()

    def _text(self, n: Notification) -> str:
        d = template_data(n)
        if self._message is not None:
            text = self._message.render(d).strip()
            if not text:
                raise ValueError("telegram message rendered empty")
            if self._html:
                return cut_html(text, MAX_MESSAGE)
            return text if _units(text) <= MAX_MESSAGE else _cut_units(text, MAX_MESSAGE - 1) + "…"
        return self._default_text(d)

    def _default_text(self, d: dict[str, Any]) -> str:
        parts = [cut_html(self._m_header(d).strip(), 1024)]
        used = _units(parts[0])
        reserve = 400  # the "+N more" line
        # Firing first: at 3 a.m. what is still burning matters more than what recovered.
        alerts = d["alerts"].firing + d["alerts"].resolved
        shown = 0
        for a in alerts:
            chunk = self._m_alert(a, d).strip()
            if shown == 0:  # the first alert is always shown, cut if it must be
                chunk = cut_html(chunk, MAX_MESSAGE - used - reserve - 2)
            cost = _units(chunk) + 2  # the blank line before it
            if used + cost > MAX_MESSAGE - reserve:
                break
            parts.append(chunk)
            used += cost
            shown += 1
        hidden = alerts[shown:]
        if hidden:
            parts.append(cut_html(self._m_more(d, hidden).strip(), reserve - 2))
        return "\n\n".join(parts)

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        token = self.cfg.bot_token.reveal()
        url = f"{self.cfg.api_url.rstrip('/')}/bot{token}/sendMessage"
        headers = {"Content-Type": "application/json"}
        status, resp_headers, text = await self._http.post(
            url, payload, headers=headers, timeout=ctx.timeout,
            endpoint="telegram bot api", http_config=self.cfg.http_config,
        )
        # Telegram never echoes the token, but a proxy in front of it might.
        text = text.replace(token, "<redacted>") if token else text
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            answer = {}
        if 200 <= status < 300 and answer.get("ok") is not False:
            result = answer.get("result")
            message_id = result.get("message_id") if isinstance(result, dict) else None
            # A 2xx without the usual JSON (a proxy) was still accepted: resending would
            # duplicate it, so it counts as delivered, with no id to remember.
            return {} if message_id is None else {"message_id": str(message_id)}
        raise api_error(status, resp_headers, text, answer)


def api_error(status: int, headers: dict[str, str], text: str,
              answer: dict[str, Any]) -> DeliveryError:
    """Bot API failures: `{"ok": false, "error_code": 400, "description": "..."}`, with
    `parameters.retry_after` on 429 and `parameters.migrate_to_chat_id` when a group
    became a supergroup."""
    code = answer.get("error_code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else status
    code = code if code >= 400 else 400  # an `ok: false` under HTTP 200
    description = str(answer.get("description", "")) or text
    params = answer.get("parameters")
    params = params if isinstance(params, dict) else {}
    migrate = params.get("migrate_to_chat_id")
    if migrate is not None:
        description += f" (the group is now chat_id {migrate}: update chat_id)"
    error = classify_http(code, headers, description)
    assert error is not None
    message = f"telegram sendMessage failed: HTTP {code}: {excerpt(description)}"
    retry = params.get("retry_after")
    if isinstance(retry, int | float) and not isinstance(retry, bool) and retry >= 0:
        return DeliveryError(FailureReason.RATE_LIMITED, message, retryable=True,
                             retry_after=float(retry))
    return error.with_message(message)


def build(cfg: TelegramConfig, renderer: Renderer, http: HttpClient) -> TelegramChannel:
    if not isinstance(cfg, TelegramConfig):
        raise TypeError(f"telegram channel needs a TelegramConfig, got {type(cfg).__name__}")
    return TelegramChannel(cfg, renderer, http)


# --- configuration: the `telegram_configs` entries ----------------------------------

CONFIG_KEY = "telegram_configs"
KEYS = (
    "api_url",
    "bot_token",
    "bot_token_file",
    "chat_id",
    "message_thread_id",
    "message",
    "parse_mode",
    "disable_notifications",
    "send_resolved",
    "template",
    "http_config",
    "timeout",
    "pacing",
)


def parse(fields: FieldReader, node: Node) -> TelegramConfig | None:
    token = fields.secret(node, "bot_token", required=True)
    chat_node = node.require("chat_id")
    chat_id = chat_node.as_int() if chat_node is not None else None
    # Read every field even without a token, so all of the entry's problems are reported.
    message = fields.template_string(node.get("message"))
    template = fields.template_key(node, "template")
    parse_mode = _parse_mode(node, custom=message is not None or template is not None)
    # Alertmanager: `global.telegram_api_url` unless the entry sets its own.
    inherited = fields.global_.telegram_api_url or DEFAULT_API_URL
    api_url = node.get_str("api_url", inherited) or inherited
    if not api_url.startswith(("https://", "http://")):
        child = node.get("api_url")
        assert child is not None
        child.error("must be an http(s) URL")
    thread = node.get_int("message_thread_id", 0, minimum=1) or None
    disable = node.get_bool("disable_notifications", False)
    send_resolved = node.get_bool("send_resolved", True)
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if token is None or chat_id is None:
        return None
    return TelegramConfig(token, chat_id, api_url, message, parse_mode, disable, thread,
                          send_resolved, template, http_config, timeout, pacing)


def _parse_mode(node: Node, *, custom: bool) -> str:
    parse_mode = node.get_str("parse_mode", "HTML") or ""
    child = node.get("parse_mode")
    if parse_mode not in PARSE_MODES:
        assert child is not None
        child.error(f"must be one of {', '.join(repr(m) for m in PARSE_MODES)}")
        return "HTML"
    if parse_mode != "HTML" and not custom:
        assert child is not None
        child.error(f'{parse_mode or "plain text"} needs a "message" template '
                    "(the default message is HTML)")
    return parse_mode
