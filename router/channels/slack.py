"""Slack: Block Kit messages through an incoming webhook or the Web API (chat.postMessage).

In Web API mode the message `ts` is remembered so an all-resolved notification edits the
firing message in place (`chat.update`) instead of posting a second one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from router.channels.base import SendContext, excerpt, target_id
from router.channels.http import HttpClient, classify_http, cut
from router.channels.slack_attachment import ATTACHMENT_KEYS, AttachmentRenderer, parse_attachment
from router.config.fields import FieldReader
from router.config.types import Pacing, SlackConfig
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# Block Kit limits (api.slack.com/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_TEXT = 3000
_FIXED_BLOCKS = 3  # header, context, "+N more"

_AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                          "token_expired", "no_permission", "missing_scope"})
# chat.update cannot edit this message any more: post a fresh one instead.
_UPDATE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})


SLACK_PACING = Pacing(rate=1.0, burst=3)


class SlackChannel:
    kind = "slack"

    def __init__(self, cfg: SlackConfig, renderer: Renderer, http: HttpClient) -> None:
        if (cfg.api_url is None) == (cfg.token is None):
            raise ValueError("slack: exactly one of api_url or token")
        if cfg.token is not None and not cfg.channel:
            raise ValueError("slack: token needs a channel")
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        # Slack allows about one message per second per channel, with short bursts.
        self.pacing = cfg.pacing or SLACK_PACING
        destination = cfg.channel or "" if cfg.token is not None else ""
        secret = cfg.token if cfg.token is not None else cfg.api_url
        assert secret is not None
        self.target = target_id("slack", secret.reveal() if secret.file is None else secret.file,
                                destination)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._title = renderer.compile_string(cfg.title) if cfg.title else None
        self._text = renderer.compile_string(cfg.text) if cfg.text else None
        self._header: Callable[..., str] = renderer.macro("slack.j2", "header")
        self._context: Callable[..., str] = renderer.macro("slack.j2", "context")
        self._alert: Callable[..., str] = renderer.macro("slack.j2", "alert_text")
        self._more: Callable[..., str] = renderer.macro("slack.j2", "more")
        self._fallback: Callable[..., str] = renderer.macro("slack.j2", "fallback")
        self._attachment = AttachmentRenderer(renderer, cfg.attachment, cfg.icon_url,
                                              cfg.link_names)

    @property
    def api_mode(self) -> bool:
        return self.cfg.token is not None

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            body = self._render_body(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = self._envelope({"text": cut(self._renderer.plain_text(n), MAX_TEXT)})
        return json.dumps(body, ensure_ascii=False).encode()

    def _render_body(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        if self._body_tmpl is not None:
            body = json.loads(self._body_tmpl.render(d))
            if not isinstance(body, dict):
                raise ValueError("slack template must render a JSON object")
            body.setdefault("text", cut(self._fallback(d).strip(), MAX_TEXT))
            return self._envelope(body)
        body = self._blocks(d)
        return self._envelope(self._attachment.apply(body, d, body["blocks"][0]["text"]["text"]))

    def _blocks(self, d: dict[str, Any]) -> dict[str, Any]:
        title = self._title.render(d) if self._title else self._header(d)
        text = self._text.render(d) if self._text else self._fallback(d)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                        "text": cut(title.strip(), MAX_HEADER)}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": cut(self._context(d).strip(), MAX_SECTION)}]},
        ]
        limit = MAX_BLOCKS - _FIXED_BLOCKS
        if self.cfg.max_alerts > 0:
            limit = min(limit, self.cfg.max_alerts)
        # Firing first: at 3 a.m. what is still burning matters more than what recovered.
        alerts = d["alerts"].firing + d["alerts"].resolved
        for a in alerts[:limit]:
            blocks.append({"type": "section",
                           "text": {"type": "mrkdwn", "text": cut(self._alert(a, d).strip(),
                                                                 MAX_SECTION)}})
        hidden = alerts[limit:]
        if hidden:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": cut(self._more(d, hidden).strip(), MAX_SECTION)}]})
        return {"text": cut(text.strip() or title.strip(), MAX_TEXT), "blocks": blocks}

    def _envelope(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cfg.channel:
            out["channel"] = self.cfg.channel
        if self.cfg.username:
            out["username"] = self.cfg.username
        if self.cfg.icon_emoji:
            out["icon_emoji"] = self.cfg.icon_emoji
        out.update(body)
        return out

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        if not self.api_mode:
            await self._send_webhook(payload, ctx)
            return {}
        body = json.loads(payload)
        ts, channel = ctx.state.get("ts"), ctx.state.get("channel")
        if ctx.all_resolved and ts and channel:
            update = {**body, "channel": channel, "ts": ts}
            try:
                await self._call("chat.update", update, ctx)
            except SlackAPIError as exc:
                if exc.code not in _UPDATE_GONE:
                    raise
            else:
                return {"ts": ts, "channel": channel}
        answer = await self._call("chat.postMessage", body, ctx)
        return {"ts": str(answer.get("ts", "")), "channel": str(answer.get("channel", ""))}

    async def _send_webhook(self, payload: bytes, ctx: SendContext) -> None:
        assert self.cfg.api_url is not None
        status, headers, text = await self._http.post(
            self.cfg.api_url.reveal(), payload,
            headers={"Content-Type": "application/json"}, timeout=ctx.timeout,
            endpoint="slack webhook endpoint", http_config=self.cfg.http_config,
        )
        error = classify_http(status, headers, text)
        if error is not None:
            raise error
        # Incoming webhooks answer a plain-text `ok`; anything else was not posted.
        if text.strip() != "ok":
            raise DeliveryError(
                FailureReason.CLIENT_ERROR,
                f"slack webhook answered HTTP {status}: {excerpt(text)}",
                retryable=False,
            )

    async def _call(self, method: str, body: dict[str, Any], ctx: SendContext) -> dict[str, Any]:
        assert self.cfg.token is not None
        url = self.cfg.app_url.rstrip("/") + "/" + method
        status, headers, text = await self._http.post(
            url, json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8",
                     "Authorization": f"Bearer {self.cfg.token.reveal()}"},
            timeout=ctx.timeout, endpoint=f"slack api ({method})",
            http_config=self.cfg.http_config,
        )
        error = classify_http(status, headers, text)
        if error is not None:
            raise error
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError(FailureReason.OTHER,
                                f"slack {method} answered a non-JSON body: {excerpt(text)}",
                                retryable=False)
        if answer.get("ok") is not True:
            raise api_error(method, str(answer.get("error", "unknown_error")), headers)
        return answer


class SlackAPIError(DeliveryError):
    """A Web API `{"ok": false}` answer; `code` is Slack's error string."""

    def __init__(self, code: str, reason: FailureReason, message: str, *, retryable: bool,
                 retry_after: float | None = None) -> None:
        super().__init__(reason, message, retryable=retryable, retry_after=retry_after)
        self.code = code


def api_error(method: str, code: str, headers: dict[str, str]) -> SlackAPIError:
    """Slack Web API failures arrive as HTTP 200 with `{"ok": false, "error": code}`."""
    message = f"slack {method} failed: {excerpt(code, 100)}"
    if code == "ratelimited":
        retry = classify_http(429, headers, "")
        return SlackAPIError(code, FailureReason.RATE_LIMITED, message, retryable=True,
                             retry_after=retry.retry_after if retry else None)
    if code in _AUTH_ERRORS:
        return SlackAPIError(code, FailureReason.AUTH, message, retryable=False)
    if code in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
        return SlackAPIError(code, FailureReason.SERVER_ERROR, message, retryable=True)
    return SlackAPIError(code, FailureReason.CLIENT_ERROR, message, retryable=False)


def build(cfg: SlackConfig, renderer: Renderer, http: HttpClient) -> SlackChannel:
    if not isinstance(cfg, SlackConfig):
        raise TypeError(f"slack channel needs a SlackConfig, got {type(cfg).__name__}")
    return SlackChannel(cfg, renderer, http)


# --- configuration: the `slack_configs` entries -----------------------------------

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
    )
    return config if (api_url is None) != (token is None) else None
