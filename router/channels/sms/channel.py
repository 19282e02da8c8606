"""SMS: Twilio's Messages API, or any HTTP SMS gateway through a templated JSON or form POST.

The text is one line sized to `max_segments` (router.channels.sms.text); one message per
recipient, through the shared HttpClient. Twilio's sender lives in `twilio`, the entry's
parser in `config`; this module renders and posts to a gateway.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from router.channels.base import SendContext, target_id
from router.channels.http import HttpClient, classify_http, user_agent
from router.channels.sms import text as sms_text
from router.channels.sms.config import CONTENT_TYPES, PROVIDERS, SmsConfig
from router.channels.sms.twilio import TwilioSender
from router.config.secrets import scrub as scrub_secrets
from router.config.secrets import secret_values
from router.config.types import Pacing
from router.errors import DeliveryError, FailureReason
from router.logs import RepeatLog
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)
_rejections = RepeatLog(log, time.monotonic)  # every notification: a line a minute


class SmsChannel:
    kind = "sms"

    def __init__(self, cfg: SmsConfig, renderer: Renderer, http: HttpClient) -> None:
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
            self.target = target_id("sms", cfg.url)
            self.pacing = cfg.pacing  # a gateway's limits are unknown: unpaced by default
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self._renderer = renderer
        self._http = http
        self._user_agent = user_agent()
        self._twilio = (TwilioSender(cfg, http, self._user_agent) if cfg.provider == "twilio"
                        else None)
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
        if self._twilio is not None:
            twilio = self._twilio
            url, auth = twilio.url(), twilio.auth()

            async def post(i: int) -> str:
                return await twilio.post(url, auth, recipients[i], text, ctx.timeout)
        else:
            bodies = [str(b) for b in message["bodies"]]

            async def post(i: int) -> str:
                return await self._post_gateway(ctx, recipients[i], bodies[i])

        sids = await _each(len(recipients), post)
        return {"sids": ",".join(sids)} if sids else {}

    async def _post_gateway(self, ctx: SendContext, to: str, body: str) -> str:
        assert self.cfg.url is not None
        headers = {"Content-Type": CONTENT_TYPES[self.cfg.content_type],
                   "User-Agent": self._user_agent}
        status, resp_headers, text = await self._http.post(
            self.cfg.url.reveal(), body.encode(), headers=headers,
            timeout=ctx.timeout, endpoint="sms gateway",
            http_config=self.cfg.http_config)
        error = classify_http(status, resp_headers, text)
        if error is not None:
            # Scrubbed here, before the excerpt is wrapped: a cut inside a secret must go too.
            message = "sms gateway answered " + sms_text.scrub(
                scrub_secrets(error.message, secret_values(self.cfg)), numbers=(to,))
            raise error.with_message(message)
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
                raise err.with_message(f"{where}: {err.message}{note}") from None
            _rejections.failure("sms recipient rejected", cause=err.message,
                                per=("recipient",), level=logging.WARNING, channel="sms",
                                recipient=i + 1)
            rejected.append(f"{where}: {err.message}")
    if rejected:
        delivered = count - len(rejected)
        raise DeliveryError(FailureReason.CLIENT_ERROR,
                            f"{'; '.join(rejected)} ({delivered} of {count} delivered)",
                            retryable=False)
    return [sid for sid in sent if sid]


def build(cfg: SmsConfig, renderer: Renderer, http: HttpClient) -> SmsChannel:
    if not isinstance(cfg, SmsConfig):
        raise TypeError(f"sms channel needs an SmsConfig, got {type(cfg).__name__}")
    return SmsChannel(cfg, renderer, http)
