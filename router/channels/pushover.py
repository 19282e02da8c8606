"""Pushover messages API: a push to a user's (or group's) devices, as Alertmanager sends it.

Firing groups go out at emergency priority (2) by default, which Pushover repeats every
`retry` until someone acknowledges it or `expire` passes. When the group resolves, the
receipt of that emergency message is cancelled, so phones stop ringing for an alert that
is over (Alertmanager leaves them ringing until `expire`); a newer emergency message of the
same group cancels the older one too. The application token and the
user key are form fields added at send time: the stored payload holds neither.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, excerpt, reveal, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.config.fields import FieldReader
from router.config.secrets import REDACTED
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.pushover.net/1/messages.json"
# pushover.net/api#limits, in characters (Alertmanager cuts in runes too).
MAX_TITLE, MAX_MESSAGE, MAX_URL, MAX_URL_TITLE = 250, 1024, 512, 100
MIN_RETRY, MAX_EXPIRE = 30.0, 10800.0  # emergency priority bounds Pushover enforces
_TEXT_KEYS = ("title", "message", "url", "url_title", "device", "sound", "priority")
_LIMITS = {"title": MAX_TITLE, "message": MAX_MESSAGE, "url": MAX_URL,
           "url_title": MAX_URL_TITLE}


@dataclass(frozen=True, slots=True)
class PushoverConfig:
    """Alertmanager's `pushover_configs` names; text keys are Jinja (None: pushover.j2)."""

    user_key: Secret
    token: Secret
    title: str | None = None
    message: str | None = None
    url: str | None = None
    url_title: str | None = None
    device: str | None = None
    sound: str | None = None
    priority: str | None = None  # None: 2 (emergency) while firing, 0 once resolved
    retry: float = 60.0
    expire: float = 3600.0
    ttl: float = 0.0  # 0: kept until read
    html: bool = False
    monospace: bool = False
    send_resolved: bool = True
    api_url: str = DEFAULT_API_URL  # not in Alertmanager (fixed there); tests use a fake
    template: str | None = None  # a Jinja file rendering a JSON object of parameters
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced


class PushoverChannel:
    kind = "pushover"

    def __init__(self, cfg: PushoverConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("pushover", cfg.token, cfg.user_key)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._texts = {}
        for key in _TEXT_KEYS:
            src = getattr(cfg, key)
            if key == "message" and src and cfg.html:
                # HTML mode: every interpolated value is text, as Alertmanager's TmplHTML.
                src = f"{{% autoescape true %}}{src}{{% endautoescape %}}"
            self._texts[key] = renderer.compile_optional(src)
        self._defaults = {key: renderer.macro("pushover.j2", key)
                          for key in ("title", "message", "url", "priority")}

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            params = self._params(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            text = self._renderer.plain_text(n)
            params = {"title": cut(text.splitlines()[0], MAX_TITLE),
                      "message": cut(text, MAX_MESSAGE),
                      "priority": "0" if n.all_resolved else "2"}
            params.update(self._options(n, params))
        return json.dumps(params, ensure_ascii=False).encode()

    def _params(self, n: Notification) -> dict[str, str]:
        d = template_data(n)
        params: dict[str, str] = {}
        for key in _TEXT_KEYS:
            tmpl, default = self._texts[key], self._defaults.get(key)
            if tmpl is not None:
                params[key] = tmpl.render(d).strip()
            elif default is not None:
                params[key] = default(d).strip()
        if self._body_tmpl is not None:
            custom = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom, dict):
                raise ValueError("pushover template must render a JSON object")
            params.update((str(k), str(v)) for k, v in custom.items())
        for key, limit in _LIMITS.items():
            if key in params:
                params[key] = cut(params[key], limit)
        # Pushover refuses an empty message.
        params["message"] = params.get("message", "").strip() or "(no details)"
        params.update(self._options(n, params))
        return {k: v for k, v in params.items() if v != ""}

    def _options(self, n: Notification, params: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        priority = params.get("priority", "").strip()
        if priority not in ("-2", "-1", "0", "1", "2"):
            # An unknown value would be refused, and the alert not delivered at all.
            priority = "0" if n.all_resolved else "2"
        out["priority"] = priority
        if priority == "2":
            out["retry"] = str(int(self.cfg.retry))
            out["expire"] = str(int(self.cfg.expire))
        if self.cfg.ttl > 0 and priority != "2":  # Pushover ignores ttl on emergencies
            out["ttl"] = str(int(self.cfg.ttl))
        if self.cfg.html:
            out["html"] = "1"
        elif self.cfg.monospace:
            out["monospace"] = "1"
        return out

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        params: dict[str, str] = json.loads(payload)
        token, user = self._credentials()
        answer = await self._post(self.cfg.api_url, {"token": token, "user": user, **params},
                                  ctx, "pushover messages api", (token, user))
        receipt = answer.get("receipt")
        receipt = receipt if isinstance(receipt, str) else ""
        previous = ctx.state.get("receipt", "")
        if previous and previous != receipt:
            # Resolved, or superseded by this newer message of the same group: the older
            # emergency must not keep repeating on the phones.
            await self._cancel(previous, token, ctx)
        return {"receipt": receipt} if receipt or previous else {}

    async def _cancel(self, receipt: str, token: str, ctx: SendContext) -> None:
        """Stop the emergency retries of the firing message: the alert is over."""
        base = self.cfg.api_url.rsplit("/", 1)[0]
        url = f"{base}/receipts/{urllib.parse.quote(receipt, safe='')}/cancel.json"
        try:
            await self._post(url, {"token": token}, ctx, "pushover receipts api", (token,))
        except DeliveryError as exc:
            # The resolution was delivered; an expired or acknowledged receipt is no fault.
            log.info("pushover receipt not cancelled", extra={"reason": str(exc.reason)})

    def _credentials(self) -> tuple[str, str]:
        what = "pushover token_file or user_key_file"
        return reveal(self.cfg.token, what), reveal(self.cfg.user_key, what)

    async def _post(self, url: str, form: dict[str, str], ctx: SendContext, endpoint: str,
                    secrets: tuple[str, ...]) -> dict[str, Any]:
        body = urllib.parse.urlencode(form).encode()
        status, headers, text = await self._http.post(
            url, body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                "User-Agent": user_agent()},
            timeout=ctx.timeout, endpoint=endpoint, http_config=self.cfg.http_config,
        )
        for secret in secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        answer = answer if isinstance(answer, dict) else {}
        error = classify_http(status, headers, text)
        if error is None:
            return answer
        raise pushover_error(error, status, answer, text)


def pushover_error(error: DeliveryError, status: int, answer: dict[str, Any],
                   text: str) -> DeliveryError:
    """Pushover's 4xx body: `{"status": 0, "token": "invalid", "errors": [...]}`. A bad
    token or user key is an `auth` failure although Pushover answers 400."""
    errors = answer.get("errors")
    detail = "; ".join(str(e) for e in errors) if isinstance(errors, list) and errors else text
    reason = error.reason
    if status == 400 and ("invalid" in (answer.get("token"), answer.get("user"))):
        reason = FailureReason.AUTH
    return DeliveryError(reason, f"pushover: HTTP {status}: {excerpt(detail)}".rstrip(": "),
                         retryable=error.retryable, retry_after=error.retry_after)


def build(cfg: PushoverConfig, renderer: Renderer, http: HttpClient) -> PushoverChannel:
    if not isinstance(cfg, PushoverConfig):
        raise TypeError(f"pushover channel needs a PushoverConfig, got {type(cfg).__name__}")
    return PushoverChannel(cfg, renderer, http)


# --- configuration: the `pushover_configs` entries ----------------------------------

CONFIG_KEY = "pushover_configs"
KEYS = ("user_key", "user_key_file", "token", "token_file", *_TEXT_KEYS, "retry", "expire",
        "ttl", "html", "monospace", "send_resolved", "api_url", "template", "http_config",
        "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> PushoverConfig | None:
    user_key = _secret(fields, node, "user_key")
    token = _secret(fields, node, "token")
    text = {key: fields.template_string(node.get(key)) for key in _TEXT_KEYS}
    _check_priority(node, text["priority"])
    retry = node.get_duration("retry", 60.0) or 60.0
    expire = node.get_duration("expire", 3600.0) or 3600.0
    if retry < MIN_RETRY:
        (node.get("retry") or node).error("must be at least 30s (Pushover's minimum)")
    if expire > MAX_EXPIRE:
        (node.get("expire") or node).error("must be at most 3h (Pushover's maximum)")
    ttl = node.get_duration("ttl", 0.0) or 0.0
    html, monospace = node.get_bool("html", False), node.get_bool("monospace", False)
    if html and monospace:
        node.error("at most one of monospace & html must be configured")
    api_url = node.get_str("api_url", DEFAULT_API_URL) or DEFAULT_API_URL
    if urllib.parse.urlsplit(api_url).scheme not in ("http", "https"):
        (node.get("api_url") or node).error("must be an http:// or https:// URL")
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if user_key is None or token is None:
        return None
    return PushoverConfig(user_key, token, text["title"], text["message"], text["url"],
                          text["url_title"], text["device"], text["sound"], text["priority"],
                          retry, expire, ttl, html, monospace, send_resolved, api_url,
                          template, http_config, timeout, pacing)


def _secret(fields: FieldReader, node: Node, key: str) -> Secret | None:
    if not node.get_str(key) and not node.has(f"{key}_file"):
        node.error(f"one of {key} or {key}_file must be configured")
        return None
    return fields.secret(node, key)


def _check_priority(node: Node, priority: str | None) -> None:
    """A literal priority Pushover would refuse is a typo better caught at load."""
    if priority is None or "{" in priority or priority.strip() in ("-2", "-1", "0", "1", "2"):
        return
    (node.get("priority") or node).error(
        f'"{priority}" is not a Pushover priority: use -2, -1, 0, 1 or 2 (or a template)')
