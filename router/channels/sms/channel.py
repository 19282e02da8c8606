"""SMS: Twilio's Messages API, or any HTTP SMS gateway through a templated JSON or form POST.

The text is one line sized to `max_segments` (router.channels.sms.text); one message per recipient.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import (
    DeliveryError,
    FailureReason,
    SendContext,
    classify_http,
    excerpt,
    post_json,
    target_id,
)
from router.channels.sms import text as sms_text
from router.channels.webhook import auth_headers, user_agent
from router.config.fields import FieldReader
from router.config.redact import scrub as scrub_secrets
from router.config.redact import secret_values
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

TWILIO_API = "https://api.twilio.com"
PROVIDERS = ("twilio", "webhook")
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
MAX_SEGMENTS = 10  # Twilio concatenates at most 10 segments (1,600 characters)

# Twilio error codes (twilio.com/docs/api/errors) that a later attempt can get through.
_RETRYABLE_CODES = frozenset({21611, 20429})  # sender queue full, too many requests
_NUMBER = re.compile(r"\+?\d{7,15}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_SENDER_ID = re.compile(r"\d{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")  # short code, alphanumeric


@dataclass(frozen=True, slots=True)
class SmsConfig:
    provider: str  # "twilio" | "webhook"
    to: tuple[str, ...]  # E.164 numbers; one message each
    # provider: twilio
    account_sid: str | None = None
    auth_token: Secret | None = None
    from_: str | None = None  # YAML `from`; exclusive with messaging_service_sid
    messaging_service_sid: str | None = None
    api_url: str = TWILIO_API  # /2010-04-01/Accounts/{sid}/Messages.json is appended
    status_callback: str | None = None
    # provider: webhook
    url: Secret | None = None
    http_config: HttpConfig = field(default_factory=HttpConfig)
    # Jinja: a string (the whole body) or (key, template) pairs; data adds `text` and `to`.
    body: str | tuple[tuple[str, str], ...] | None = None
    content_type: str = "json"
    # both
    max_segments: int = 1
    # A recovery SMS wakes the on-call a second time for nothing to do: opt in.
    send_resolved: bool = False
    template: str | None = None  # Jinja file rendering the whole text
    timeout: float | None = None
    pacing: Pacing | None = None


def scrub(text: str, secrets: tuple[str, ...] = (), numbers: tuple[str, ...] = ()) -> str:
    """Secrets and phone numbers (personal data) removed from a vendor's message."""
    for value, mask in [*((v, "<redacted>") for v in secrets), *((n, "<number>") for n in numbers)]:
        if value:
            text = text.replace(value, mask)
    return _NUMBER.sub("<number>", text)


def twilio_error(
    status: int, headers: Mapping[str, str], body: str, secrets: tuple[str, ...] = (),
    numbers: tuple[str, ...] = (),
) -> DeliveryError | None:
    """Twilio's answer as a DeliveryError: `{code, message}` bodies, 21611 retryable."""
    base = classify_http(status, headers, "")
    if base is None:
        return None
    try:
        fault = json.loads(body)
    except ValueError:
        fault = None
    if isinstance(fault, dict) and "code" in fault:
        code = fault.get("code")
        message = f"twilio answered HTTP {status}, error {code}: {fault.get('message', '')}"
    else:
        code = None
        message = f"twilio answered HTTP {status}" + (f": {excerpt(body)}" if body.strip() else "")
    message = excerpt(scrub(message, secrets, numbers), 300)
    if code in _RETRYABLE_CODES and not base.retryable:
        return DeliveryError(FailureReason.RATE_LIMITED, message, retryable=True,
                             retry_after=base.retry_after)
    return DeliveryError(base.reason, message, retryable=base.retryable,
                         retry_after=base.retry_after)


def _with_message(err: DeliveryError, message: str) -> DeliveryError:
    return DeliveryError(err.reason, message, retryable=err.retryable,
                         retry_after=err.retry_after)


class SmsChannel:
    kind = "sms"

    def __init__(self, cfg: SmsConfig, renderer: Renderer) -> None:
        if cfg.provider not in PROVIDERS:
            raise ValueError(f"sms: unknown provider {cfg.provider!r}")
        if not cfg.to:
            raise ValueError("sms: at least one recipient")
        if cfg.provider == "twilio":
            if cfg.account_sid is None or cfg.auth_token is None:
                raise ValueError("sms: twilio needs account_sid and auth_token")
            if (cfg.from_ is None) == (cfg.messaging_service_sid is None):
                raise ValueError("sms: twilio needs exactly one of from or messaging_service_sid")
            sender = cfg.from_ or cfg.messaging_service_sid or ""
            self.target = target_id("sms", cfg.account_sid, sender)
            # A Twilio long code sends about one segment per second and every recipient is
            # a message of its own, so one delivery takes segments x recipients seconds.
            self.pacing: Pacing | None = cfg.pacing or Pacing(
                rate=1.0 / (cfg.max_segments * len(cfg.to)), burst=1)
        else:
            if cfg.url is None:
                raise ValueError("sms: webhook provider needs url")
            self.target = target_id("sms", cfg.url.file or cfg.url.reveal())
            self.pacing = cfg.pacing  # a gateway's limits are unknown: unpaced by default
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self._renderer = renderer
        self._user_agent = user_agent()
        self._template = renderer.template(cfg.template) if cfg.template else None
        self._parts: list[Callable[..., str]] = [
            renderer.macro("sms.j2", name) for name in ("head", "summary", "more", "link")]
        body = cfg.body
        self._body_string = renderer.compile_string(body) if isinstance(body, str) else None
        self._body_map = [(k, renderer.compile_string(v)) for k, v in body or ()
                          ] if isinstance(body, tuple) else None

    # --- rendering: {"text": ..., "to": [...], "bodies": [...] (webhook provider)} ------

    def render(self, n: Notification) -> bytes:
        d = template_data(n)
        text = self._text(n, d)
        out: dict[str, Any] = {"text": text, "to": list(self.cfg.to)}
        if self.cfg.provider == "webhook":
            out["bodies"] = [self._gateway_body(n, d, text, to) for to in self.cfg.to]
        return json.dumps(out, ensure_ascii=False).encode()

    def _text(self, n: Notification, d: dict[str, Any]) -> str:
        try:
            if self._template is not None:
                return sms_text.cut(self._template.render(d).strip(), self.cfg.max_segments)
            head, summary, more, link = (sms_text.one_line(part(d)) for part in self._parts)
            return sms_text.compose(head, summary, more, link, self.cfg.max_segments)
        except Exception:
            self._failed(n)
            plain = sms_text.one_line(self._renderer.plain_text(n))
            return sms_text.cut(plain, self.cfg.max_segments)

    def _gateway_body(self, n: Notification, d: dict[str, Any], text: str, to: str) -> str:
        data = {**d, "text": text, "to": to}
        form = self.cfg.content_type == "form"
        try:
            if self._body_string is not None:
                body = self._body_string.render(data)
                if not form:
                    json.loads(body)  # a gateway is better served by the default than by junk
                return body
            if self._body_map is not None:
                return _encode({k: t.render(data) for k, t in self._body_map}, form=form)
        except Exception:
            self._failed(n)
        return _encode({"to": to, "text": text}, form=form)

    def _failed(self, n: Notification) -> None:
        self._renderer.failed(self.kind, n.receiver)

    # --- sending --------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        message = json.loads(payload)
        text, recipients = str(message["text"]), [str(to) for to in message["to"]]
        if self.cfg.provider == "twilio":
            url, auth = self._twilio_url(), self._twilio_auth()

            async def post(i: int) -> str:
                return await self._post_twilio(ctx, url, auth, recipients[i], text)
        else:
            bodies = [str(b) for b in message["bodies"]]

            async def post(i: int) -> str:
                return await self._post_gateway(ctx, recipients[i], bodies[i])

        sids = await _each(len(recipients), post)
        return {"sids": ",".join(sids)} if sids else {}

    def _twilio_url(self) -> str:
        sid = urllib.parse.quote(self.cfg.account_sid or "", safe="")
        return f"{self.cfg.api_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"

    def _twilio_auth(self) -> str:
        assert self.cfg.auth_token is not None
        pair = f"{self.cfg.account_sid}:{self.cfg.auth_token.reveal()}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def twilio_form(self, to: str, text: str) -> bytes:
        """The form-encoded Messages API body for one recipient."""
        pairs = [("To", to)]
        if self.cfg.from_ is not None:
            pairs.append(("From", self.cfg.from_))
        else:
            pairs.append(("MessagingServiceSid", self.cfg.messaging_service_sid or ""))
        pairs.append(("Body", text))
        if self.cfg.status_callback:
            pairs.append(("StatusCallback", self.cfg.status_callback))
        return urllib.parse.urlencode(pairs).encode()

    async def _post_twilio(
        self, ctx: SendContext, url: str, auth: str, to: str, text: str
    ) -> str:
        headers = {"Content-Type": CONTENT_TYPES["form"], "Accept": "application/json",
                   "Authorization": auth, "User-Agent": self._user_agent}
        status, resp_headers, body = await post_json(
            ctx.session, url, self.twilio_form(to, text), headers=headers,
            timeout=ctx.timeout, endpoint="twilio messages api")
        assert self.cfg.auth_token is not None
        error = twilio_error(status, resp_headers, body, (self.cfg.auth_token.reveal(),), (to,))
        if error is not None:
            raise _with_message(error, scrub_secrets(error.message, secret_values(self.cfg)))
        try:
            answer = json.loads(body)
        except ValueError:
            return ""
        return str(answer.get("sid", "")) if isinstance(answer, dict) else ""

    async def _post_gateway(self, ctx: SendContext, to: str, body: str) -> str:
        assert self.cfg.url is not None
        headers = {"Content-Type": CONTENT_TYPES[self.cfg.content_type],
                   "User-Agent": self._user_agent}
        headers.update(auth_headers(self.cfg.http_config))
        status, resp_headers, text = await post_json(
            ctx.session, self.cfg.url.reveal(), body.encode(), headers=headers,
            timeout=ctx.timeout, endpoint="sms gateway")
        error = classify_http(status, resp_headers, text)
        if error is not None:
            message = "sms gateway answered " + scrub(
                scrub_secrets(error.message, secret_values(self.cfg)), numbers=(to,))
            raise _with_message(error, message)
        return ""


def _encode(fields: dict[str, str], *, form: bool) -> str:
    if form:
        return urllib.parse.urlencode(fields)
    return json.dumps(fields, ensure_ascii=False)


async def _each(count: int, post: Callable[[int], Awaitable[str]]) -> list[str]:
    """Post to every recipient in turn; return the message ids.

    A recipient the provider rejects for good (an invalid number) does not keep the others
    from being paged: they are still sent to, and the failure is raised at the end. A
    retryable or auth failure stops at once; the retry then sends to every recipient
    again, so those before the failure may get the SMS twice (at-least-once).
    """
    sent: list[str] = []
    rejected: list[str] = []
    for i in range(count):
        try:
            sent.append(await post(i))
        except DeliveryError as err:
            where = f"recipient {i + 1} of {count}"
            if err.retryable or err.reason is FailureReason.AUTH:
                note = f" ({i} already sent: a retry sends to them again)" if i else ""
                raise _with_message(err, f"{where}: {err.message}{note}") from None
            log.warning("sms recipient rejected",
                        extra={"channel": "sms", "recipient": i + 1, "error": err.message})
            rejected.append(f"{where}: {err.message}")
    if rejected:
        delivered = count - len(rejected)
        raise DeliveryError(FailureReason.CLIENT_ERROR,
                            f"{'; '.join(rejected)} ({delivered} of {count} delivered)",
                            retryable=False)
    return [sid for sid in sent if sid]


def build(cfg: SmsConfig, renderer: Renderer) -> SmsChannel:
    if not isinstance(cfg, SmsConfig):
        raise TypeError(f"sms channel needs an SmsConfig, got {type(cfg).__name__}")
    return SmsChannel(cfg, renderer)


# --- configuration: the `sms_configs` entries ------------------------------------------

CONFIG_KEY = "sms_configs"
_TWILIO_KEYS = ("account_sid", "auth_token", "auth_token_file", "from",
                "messaging_service_sid", "api_url", "status_callback")
_WEBHOOK_KEYS = ("url", "url_file", "http_config", "body", "content_type")
KEYS = ("provider", "to", *_TWILIO_KEYS, *_WEBHOOK_KEYS, "max_segments", "send_resolved",
        "template", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> SmsConfig | None:
    provider_node = node.require("provider")
    provider = node.get_str("provider")
    if provider_node is not None and provider is not None and provider not in PROVIDERS:
        provider_node.error(f'unknown provider "{provider}": use "twilio" or "webhook"')
        provider = None
    to = _recipients(node)
    max_segments = node.get_int("max_segments", 1, minimum=1)
    if max_segments > MAX_SEGMENTS:
        _error_at(node, "max_segments",
                  f"must be <= {MAX_SEGMENTS} (1,600 characters), got {max_segments}")
        max_segments = MAX_SEGMENTS
    common: dict[str, Any] = {
        "max_segments": max_segments,
        "send_resolved": node.get_bool("send_resolved", False),
        "template": fields.template_key(node, "template"),
        "timeout": fields.timeout(node),
        "pacing": fields.pacing(node),
    }
    if provider is None:
        return None
    _only(node, _WEBHOOK_KEYS if provider == "twilio" else _TWILIO_KEYS, provider)
    if provider == "twilio":
        return _twilio(fields, node, to, common)
    return _gateway(fields, node, to, common)


def _error_at(node: Node, key: str, message: str) -> None:
    (node.get(key) or node).error(message)


def _only(node: Node, keys: tuple[str, ...], provider: str) -> None:
    for key in keys:
        key_node = node.key_node(key)
        if key_node is not None:
            key_node.error(f'"{key}" does not apply to provider "{provider}"')


def _recipients(node: Node) -> tuple[str, ...] | None:
    if node.require("to") is None:
        return None
    items = node.get_list("to")
    if items is None:
        return None
    if not items:
        _error_at(node, "to", "needs at least one phone number")
        return None
    out: list[str] = []
    for item in items:
        number = item.as_str()
        if number is None:
            continue
        if not sms_text.is_e164(number):
            item.error(f'"{number}" is not an E.164 phone number: "+", the country code and '
                       "the number, at most 15 digits, no spaces (e.g. +15551230000)")
        elif number in out:
            item.error(f'"{number}" is listed twice')
        else:
            out.append(number)
    return tuple(out) if len(out) == len(items) else None


def _checked(node: Node, key: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = node.get_str(key)
    if value is not None and pattern.fullmatch(value) is None:
        _error_at(node, key, f'"{value}" is not {what}')
        return None
    return value


def _twilio(fields: FieldReader, node: Node, to: tuple[str, ...] | None,
            common: dict[str, Any]) -> SmsConfig | None:
    sid_ok = node.require("account_sid") is not None
    sid = _checked(node, "account_sid", _ACCOUNT_SID, 'a Twilio account SID ("AC" and 32 hex)')
    token = fields.secret(node, "auth_token", required=True)
    sender = node.get_str("from")
    if sender is not None and not (sms_text.is_e164(sender) or _SENDER_ID.fullmatch(sender)):
        _error_at(node, "from",
                  f'"{sender}" is not an E.164 number, short code or alphanumeric sender ID')
        sender = None
    service = _checked(node, "messaging_service_sid", _SERVICE_SID,
                       'a messaging service SID ("MG" and 32 hex)')
    if node.has("from") and node.has("messaging_service_sid"):
        _error_at(node, "messaging_service_sid",
                  '"from" and "messaging_service_sid" are mutually exclusive')
    elif not node.has("from") and not node.has("messaging_service_sid"):
        node.error('one of "from" or "messaging_service_sid" is required')
    api_url = node.get_str("api_url", TWILIO_API) or TWILIO_API
    if not api_url.startswith(("http://", "https://")):
        _error_at(node, "api_url", "must be an http:// or https:// URL")
    if not (sid_ok and sid and token and to) or (sender is None) == (service is None):
        return None
    return SmsConfig("twilio", to, account_sid=sid, auth_token=token, from_=sender,
                     messaging_service_sid=service, api_url=api_url,
                     status_callback=node.get_str("status_callback"), **common)


def _gateway(fields: FieldReader, node: Node, to: tuple[str, ...] | None,
             common: dict[str, Any]) -> SmsConfig | None:
    url = fields.secret(node, "url", required=True)
    content_type = node.get_str("content_type", "json") or "json"
    if content_type not in CONTENT_TYPES:
        _error_at(node, "content_type",
                  f'unknown content_type "{content_type}": use "json" or "form"')
        content_type = "json"
    body: str | tuple[tuple[str, str], ...] | None = None
    body_node = node.get("body")
    if body_node is not None and body_node.is_map:
        body = tuple((key, fields.template_string(value) or "")
                     for key, value in body_node.entries())
    elif body_node is not None and not body_node.is_null:
        body = fields.template_string(body_node)
    http_config = fields.http_config(node)
    if url is None or to is None:
        return None
    return SmsConfig("webhook", to, url=url, http_config=http_config, body=body,
                     content_type=content_type, **common)
