"""Rocket.Chat's sender: `POST /api/v1/chat.postMessage` with one attachment, as
Alertmanager sends it.

`token` and `token_id` (the `X-Auth-Token` / `X-User-Id` headers of a bot user) are added
at send time, never stored with the payload. Rocket.Chat may refuse a message with HTTP
200 and `"success": false`; that is a permanent failure, as Alertmanager treats it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from router.channels.base import SendContext, excerpt, reveal, target_id
from router.channels.http import HttpClient, classify_http, cut, header, parse_retry_after
from router.channels.rocketchat.config import RocketchatConfig
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

MAX_TITLE = 1024  # characters (Alertmanager cuts the title there)
_TEXT_KEYS = ("title", "title_link", "text", "image_url", "thumb_url", "color")


class RocketchatChannel:
    kind = "rocketchat"

    def __init__(self, cfg: RocketchatConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("rocketchat", cfg.api_url, cfg.token_id, cfg.channel)
        self._renderer = renderer
        self._http = http
        c = renderer.compile_string
        self._text = {key: c(src) for key in (*_TEXT_KEYS, "channel", "emoji", "icon_url")
                      if (src := getattr(cfg, key))}
        self._fields = [(c(f.title), c(f.value), f.short) for f in cfg.fields]
        self._actions = [(c(a.text), c(a.url), c(a.msg)) for a in cfg.actions]
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._defaults = {key: renderer.macro("rocketchat.j2", key)
                          for key in ("title", "title_link", "color")}

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            body = self._body(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = {"attachments": [{"title": cut(self._renderer.plain_text(n), MAX_TITLE)}]}
            if self.cfg.channel and "{" not in self.cfg.channel:
                body["channel"] = self.cfg.channel
        return json.dumps(body, ensure_ascii=False).encode()

    def _body(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        if self._body_tmpl is not None:
            custom = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom, dict):
                raise ValueError("rocketchat template must render a JSON object")
            return custom
        text = {key: t.render(d) for key, t in self._text.items()}
        for key, macro in self._defaults.items():
            if key not in text:
                text[key] = macro(d)
        attachment: dict[str, Any] = {k: text[k] for k in _TEXT_KEYS if text.get(k)}
        if "title" in attachment:
            attachment["title"] = cut(attachment["title"], MAX_TITLE)
        if self._fields:
            attachment["fields"] = [
                {"short": self.cfg.short_fields if short is None else short,
                 **({"title": t} if (t := title.render(d)) else {}),
                 **({"value": v} if (v := value.render(d)) else {})}
                for title, value, short in self._fields]
        if self._actions:
            attachment["actions"] = [_action(t.render(d), u.render(d), m.render(d))
                                     for t, u, m in self._actions]
        body: dict[str, Any] = {}
        for key, name in (("channel", "channel"), ("emoji", "emoji"), ("icon_url", "avatar")):
            if text.get(key):
                body[name] = text[key]
        body["attachments"] = [attachment]
        return body

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        what = "the rocketchat token_file or token_id_file"
        headers = {"Content-Type": "application/json",
                   "X-Auth-Token": reveal(self.cfg.token, what),
                   "X-User-Id": reveal(self.cfg.token_id, what)}
        url = self.cfg.api_url.rstrip("/") + "/api/v1/chat.postMessage"
        status, resp_headers, text = await self._http.post(
            url, payload, headers=headers, timeout=ctx.timeout,
            endpoint="rocketchat api", http_config=self.cfg.http_config)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        error = classify_http(status, resp_headers, text)
        if error is None and answer.get("success") is not False:
            message = answer.get("message")
            mid = message.get("_id") if isinstance(message, dict) else None
            return {"message_id": mid} if isinstance(mid, str) else {}
        raise api_error(status, resp_headers, text, answer, error, now=self._http.now())


def _action(text: str, url: str, msg: str) -> dict[str, Any]:
    """Alertmanager's action: always a button, `is_webview` and `msg_in_chat_window` false."""
    out: dict[str, Any] = {"type": "button"}
    out.update({k: v for k, v in (("text", text), ("url", url)) if v})
    out["is_webview"] = False
    if msg:
        out["msg"] = msg
    out["msg_in_chat_window"] = False
    return out


def api_error(status: int, headers: dict[str, str], text: str, answer: dict[str, Any],
              error: DeliveryError | None, *, now: float) -> DeliveryError:
    """`{"success": false, "error": …, "errorType": …}` or `{"status": "error", "message":
    …}`; a rate limit is a 429 (or `error-too-many-requests`) with `X-RateLimit-Reset`
    (epoch milliseconds)."""
    reason = str(answer.get("error") or answer.get("message") or text)
    message = f"rocketchat chat.postMessage failed: HTTP {status}: {excerpt(reason)}"
    if status == 429 or answer.get("errorType") == "error-too-many-requests":
        retry = parse_retry_after(header(headers, "Retry-After"), now)
        reset = header(headers, "X-RateLimit-Reset")
        if retry is None and reset and reset.isdigit():
            retry = max(0.0, int(reset) / 1000 - now)
        return DeliveryError(FailureReason.RATE_LIMITED, message, retryable=True,
                             retry_after=retry)
    if error is None:  # HTTP 200 with "success": false
        return DeliveryError(FailureReason.CLIENT_ERROR, message, retryable=False)
    return error.with_message(message)


def build(cfg: Any, renderer: Renderer, http: HttpClient) -> RocketchatChannel:
    if not isinstance(cfg, RocketchatConfig):
        raise TypeError(f"rocketchat channel needs a RocketchatConfig, got {type(cfg).__name__}")
    return RocketchatChannel(cfg, renderer, http)
