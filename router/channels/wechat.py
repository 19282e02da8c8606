"""WeChat Work (`wechat_configs`): `message/send` with an access token from `gettoken`.

The token is fetched with `corp_id` and `api_secret` (inherited from `global.wechat_api_*`
as Alertmanager does), cached until its `expires_in` (renewed a minute early, on the app's
clock) and dropped when WeChat calls it expired (42001) or invalid (40014), so the retry
fetches a new one. Neither the secret nor the token is ever stored or quoted in an error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, excerpt, json_object, reveal, target_id
from router.channels.http import HttpClient, Response, classify_http, cut_utf8
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://qyapi.weixin.qq.com/cgi-bin/"
MESSAGE_TYPES = ("text", "markdown")
MAX_CONTENT = {"text": 2048, "markdown": 4096}  # bytes WeChat accepts per message type
_RENEW_EARLY = 60.0
_STALE_TOKEN = frozenset({40014, 42001, 41001})  # invalid, expired, missing access token
_AUTH = frozenset({40001, 40013, 40091, 40056, 60020})  # bad secret, corp id, agent, IP
_RATE = frozenset({45009, 45011, 45033})  # API frequency limits
_RECIPIENTS = ("to_user", "to_party", "to_tag", "agent_id")


@dataclass(frozen=True, slots=True)
class WechatConfig:
    """Alertmanager's `wechat_configs` names; message and recipients are Jinja source."""

    api_secret: Secret
    corp_id: str
    api_url: str = DEFAULT_API_URL  # ends with "/"
    message: str | None = None  # None: Alertmanager's wechat.default.message
    to_user: str = ""
    to_party: str = ""
    to_tag: str = ""
    agent_id: str = ""
    message_type: str = "text"
    send_resolved: bool = False
    template: str | None = None
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced (45009 frequency limits are honoured)


class WechatChannel:
    kind = "wechat"

    def __init__(self, cfg: WechatConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("wechat", cfg.api_url, cfg.corp_id, cfg.agent_id)
        self._renderer = renderer
        self._http = http
        self._token: tuple[str, float] | None = None  # access token, renew at
        self._lock = asyncio.Lock()
        c = renderer.compile_string
        self._recipients = {key: c(getattr(cfg, key)) for key in _RECIPIENTS}
        self._message = (renderer.template(cfg.template) if cfg.template
                         else renderer.compile_optional(cfg.message))
        self._m_message = renderer.macro("wechat.j2", "message")

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        d = template_data(n)
        try:
            content = (self._message.render(d) if self._message is not None
                       else self._m_message(d))
            to = {key: tmpl.render(d).strip() for key, tmpl in self._recipients.items()}
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            content = self._renderer.plain_text(n)
            to = {key: getattr(self.cfg, key) for key in _RECIPIENTS
                  if "{" not in getattr(self.cfg, key)}
        kind = self.cfg.message_type
        body: dict[str, Any] = {
            key: value for key, value in (("touser", to.get("to_user")),
                                          ("toparty", to.get("to_party")),
                                          ("totag", to.get("to_tag")),
                                          ("agentid", to.get("agent_id"))) if value}
        body.update({"safe": "0", "msgtype": kind,
                     kind: {"content": cut_utf8(content, MAX_CONTENT[kind])[0]}})
        return json.dumps(body, ensure_ascii=False).encode()

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        token = await self._access_token(ctx.timeout)
        url = f"{self.cfg.api_url}message/send?" + urllib.parse.urlencode(
            {"access_token": token})
        status, headers, text = await self._http.post(
            url, payload, headers={"Content-Type": "application/json"}, timeout=ctx.timeout,
            endpoint="wechat api", http_config=self.cfg.http_config)
        answer = json_object(text) or {}
        code = answer.get("errcode", 0)
        if classify_http(status, headers, text) is None and code == 0:
            msgid = answer.get("msgid")
            return {"msgid": msgid} if isinstance(msgid, str) and msgid else {}
        if code in _STALE_TOKEN:
            self._token = None  # the retry fetches a new one
        raise api_error("message/send", (status, headers, _hide(text, token)), answer, token)

    async def _access_token(self, timeout: float) -> str:  # noqa: ASYNC109 - per attempt
        async with self._lock:
            now = self._http.now()
            if self._token is not None and now < self._token[1]:
                return self._token[0]
            secret = reveal(self.cfg.api_secret, "the wechat api_secret_file")
            query = urllib.parse.urlencode({"corpid": self.cfg.corp_id, "corpsecret": secret})
            status, headers, text = await self._http.get(
                f"{self.cfg.api_url}gettoken?{query}", timeout=timeout,
                endpoint="wechat gettoken", http_config=self.cfg.http_config)
            answer = json_object(text) or {}
            token = answer.get("access_token")
            if (classify_http(status, headers, text) is not None or answer.get("errcode", 0)
                    or not isinstance(token, str) or not token):
                raise api_error("gettoken", (status, headers, _hide(text, secret)), answer,
                                secret)
            expires = answer.get("expires_in")
            ttl = float(expires) if isinstance(expires, int) and expires > 0 else 7200.0
            self._token = (token, now + max(ttl - _RENEW_EARLY, 1.0))
            return token


def _hide(text: str, secret: str) -> str:
    """`text` without `secret` (the token or corp secret a proxy or WeChat may echo);
    shorter values are too common to replace blindly (policy.scrubbed's rule too)."""
    return text.replace(secret, "<secret>") if len(secret) >= 4 else text


def api_error(call: str, response: Response, answer: dict[str, Any],
              secret: str = "") -> DeliveryError:
    """WeChat's `{"errcode": 40001, "errmsg": "invalid credential, hint: …"}` (mostly under
    HTTP 200) as the failure the retry policy acts on; `secret` never appears in it."""
    status, headers, text = response
    code = answer.get("errcode")
    detail = _hide(str(answer.get("errmsg") or text or "no access_token in the answer"),
                   secret)
    message = f"wechat {call} failed: HTTP {status}"
    message += f" errcode {code}: {excerpt(detail)}" if code else f": {excerpt(detail)}"
    http_error = classify_http(status, headers, text)
    if http_error is not None:
        return http_error.with_message(message)
    if code in _RATE:
        return DeliveryError(FailureReason.RATE_LIMITED, message, retryable=True)
    if code in _STALE_TOKEN or code == -1:  # -1: "system busy"
        return DeliveryError(FailureReason.SERVER_ERROR, message, retryable=True)
    if code in _AUTH:
        return DeliveryError(FailureReason.AUTH, message, retryable=False)
    return DeliveryError(FailureReason.CLIENT_ERROR, message, retryable=False)


def build(cfg: Any, renderer: Renderer, http: HttpClient) -> WechatChannel:
    if not isinstance(cfg, WechatConfig):
        raise TypeError(f"wechat channel needs a WechatConfig, got {type(cfg).__name__}")
    return WechatChannel(cfg, renderer, http)


# --- configuration: the `wechat_configs` entries ------------------------------------

CONFIG_KEY = "wechat_configs"
KEYS = ("api_url", "api_secret", "api_secret_file", "corp_id", "message", *_RECIPIENTS,
        "message_type", "send_resolved", "template", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> WechatConfig | None:
    g = fields.global_
    secret = _secret(fields, node, g.wechat_api_secret)
    corp_id = node.get_str("corp_id", "") or g.wechat_api_corp_id
    if not corp_id:
        node.error("no global Wechat CorpID set")
    api_url = node.get_str("api_url", g.wechat_api_url) or DEFAULT_API_URL
    if not api_url.startswith(("https://", "http://")):
        (node.get("api_url") or node).error("must be an http(s) URL")
    api_url = api_url if api_url.endswith("/") else api_url + "/"
    message_type = node.get_str("message_type", "text") or "text"
    if message_type not in MESSAGE_TYPES:
        (node.get("message_type") or node).error(
            f'weChat message type "{message_type}" does not match valid options '
            "^(text|markdown)$")
    message = fields.template_string(node.get("message"))
    recipients = {key: fields.template_string(node.get(key)) or "" for key in _RECIPIENTS}
    send_resolved = node.get_bool("send_resolved", False)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if secret is None or not corp_id or message_type not in MESSAGE_TYPES:
        return None
    return WechatConfig(secret, corp_id, api_url, message, **recipients,
                        message_type=message_type, send_resolved=send_resolved,
                        template=template, http_config=http_config, timeout=timeout,
                        pacing=pacing)


def _secret(fields: FieldReader, node: Node, inherited: Secret | None) -> Secret | None:
    if node.get_str("api_secret") and node.has("api_secret_file"):
        (node.get("api_secret_file") or node).error(
            "at most one of api_secret & api_secret_file must be configured")
        return None
    if node.get_str("api_secret") or node.has("api_secret_file"):
        return fields.secret(node, "api_secret")
    if inherited is None:
        node.error("no global Wechat Api Secret set either inline or in a file")
    return inherited
