"""Slack: Block Kit messages through an incoming webhook or the Web API (chat.postMessage).

In Web API mode the message `ts` is remembered so an all-resolved notification (with
`update_message`, every later notification) edits the group's message in place
(`chat.update`) instead of posting another. Each message carries metadata naming its
delivery, so a repeat after a crash finds the message already posted (slack_history).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from router.channels.base import SendContext, excerpt, target_id
from router.channels.http import HttpClient, classify_http, cut
from router.channels.slack import history
from router.channels.slack_attachment import AttachmentRenderer
from router.config.types import Pacing, SlackConfig
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
# A post that failed this way may still have been posted: its retry looks first.
_UNSURE = frozenset({FailureReason.TIMEOUT, FailureReason.NETWORK, FailureReason.SERVER_ERROR})
_MAX_UNSURE = 1024  # deliveries remembered as unsure (the oldest forgotten first)
# Slack refused the metadata itself: post without it (the message matters more).
_METADATA_REFUSED = frozenset({"invalid_metadata_format", "invalid_metadata_schema",
                               "metadata_too_large", "metadata_must_be_sent_from_app"})


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
        self._metadata = True  # until Slack refuses it
        self._channel_id: str | None = None  # learned from Slack's answers
        self._logged: set[str] = set()  # problems already logged at warning level
        self._unsure: dict[int, None] = {}  # deliveries whose post may have gone through
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
        meta = history.metadata(ctx, payload)
        if meta is not None and self._metadata:
            body["metadata"] = meta
        ts, channel = ctx.state.get("ts"), ctx.state.get("channel")
        # Editing is idempotent: a repeat of an edit shows once whatever happened before.
        if ts and channel and (ctx.all_resolved or self.cfg.update_message):
            edited = await self._update(body, channel, ts, ctx)
            if edited is not None:
                return edited
        unsure = ctx.in_doubt or ctx.delivery_id in self._unsure
        if unsure and "metadata" in body:  # without it, no message names a delivery
            found = await self._recall(body, payload, ctx)
            if found is not None:
                self._unsure.pop(ctx.delivery_id, None)
                return found
        return await self._post(body, ctx)

    async def _update(self, body: dict[str, Any], channel: str, ts: str, ctx: SendContext
                      ) -> dict[str, str] | None:
        """Edit message `ts`; None if Slack cannot edit it any more (post anew instead)."""
        try:
            await self._call("chat.update", {**body, "channel": channel, "ts": ts}, ctx)
        except SlackAPIError as exc:
            if exc.code not in _UPDATE_GONE:
                raise
            return None
        return {"ts": ts, "channel": channel}

    async def _post(self, body: dict[str, Any], ctx: SendContext) -> dict[str, str]:
        """chat.postMessage; a failure that leaves the outcome unknown (a timeout, a dropped
        connection, a 5xx) makes this delivery's next attempt look for the message first."""
        try:
            posted = await self._post_once(body, ctx)
        except DeliveryError as exc:
            if exc.reason in _UNSURE and ctx.delivery_id > 0:
                self._unsure[ctx.delivery_id] = None
                if len(self._unsure) > _MAX_UNSURE:
                    del self._unsure[next(iter(self._unsure))]
            raise
        self._unsure.pop(ctx.delivery_id, None)
        return posted

    async def _post_once(self, body: dict[str, Any], ctx: SendContext) -> dict[str, str]:
        try:
            answer = await self._call("chat.postMessage", body, ctx)
        except SlackAPIError as exc:
            if exc.code not in _METADATA_REFUSED or "metadata" not in body:
                raise
            self._metadata = False
            self._note("slack refused message metadata; posting without it (a repeat "
                       "after a crash may then show twice)", exc.code)
            answer = await self._call("chat.postMessage",
                                      {k: v for k, v in body.items() if k != "metadata"}, ctx)
        channel = str(answer.get("channel", ""))
        self._channel_id = channel or self._channel_id
        return {"ts": str(answer.get("ts", "")), "channel": channel}

    async def _recall(self, body: dict[str, Any], payload: bytes, ctx: SendContext
                      ) -> dict[str, str] | None:
        """A delivery in doubt: its message if an earlier attempt posted it (edited to the
        current payload if it shows an older one); None to post (a repeat beats a loss)."""
        channel = history.channel_id(ctx, self._channel_id, self.cfg.channel)
        if channel is None:
            self._note("slack history lookup needs the channel ID (set channel: C…); "
                       "posting again", "channel_name_only")
            return None

        async def call(method: str, args: Mapping[str, str]) -> dict[str, Any]:
            return await self._call(method, args, ctx, form=True)

        try:
            found = await history.find(call, channel, ctx, payload)
        except DeliveryError as exc:
            code = exc.code if isinstance(exc, SlackAPIError) else str(exc.reason)
            self._note("slack history lookup failed; posting again (the repeat may show "
                       "twice)", code)
            return None
        if found is None:
            return None
        if found.current:
            return {"ts": found.ts, "channel": channel}
        return await self._update(body, channel, found.ts, ctx)

    def _note(self, message: str, code: str) -> None:
        """Log a problem at warning level once per cause, then at debug."""
        level = logging.DEBUG if code in self._logged else logging.WARNING
        self._logged.add(code)
        log.log(level, message, extra={"error": code})

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

    async def _call(self, method: str, body: Mapping[str, Any], ctx: SendContext, *,
                    form: bool = False) -> dict[str, Any]:
        """One Web API call: JSON, or form fields for the read methods (`form`)."""
        assert self.cfg.token is not None
        url = self.cfg.app_url.rstrip("/") + "/" + method
        data, kind = ((urlencode(body).encode(), "application/x-www-form-urlencoded") if form
                      else (json.dumps(body, ensure_ascii=False).encode(),
                            "application/json; charset=utf-8"))
        status, headers, text = await self._http.post(
            url, data, headers={"Content-Type": kind,
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
