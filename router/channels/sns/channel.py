"""The SNS channel: one `Publish` (AWS Query API) per notification, signed at send time.

The stored payload is the form body (topic or phone, subject, message, attributes): no
credential is in it, and the signature (which covers the date) is made for each attempt.
Messages over SNS's limits are cut as Alertmanager does, with a `truncated` attribute.
"""

from __future__ import annotations

import hashlib
import logging
import urllib.parse
from typing import Any

from router.channels.base import SendContext, key_hash, target_id
from router.channels.http import HttpClient, cut_utf8
from router.channels.sns.aws import AwsCredentials, api_error, message_id, sign
from router.channels.sns.config import SnsConfig
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024  # a whole Publish request: message and attributes
MAX_SMS = 1600  # characters of an SMS publish
MAX_SUBJECT = 100  # printable ASCII, no line breaks (SNS refuses anything else)


def clean_subject(text: str) -> str:
    """A subject SNS accepts: ASCII without control characters, at most 100 of them."""
    ascii_only = "".join(c if " " <= c <= "~" else " " if c.isspace() else "?"
                         for c in text.strip())
    return ascii_only[:MAX_SUBJECT].rstrip()


class SnsChannel:
    kind = "sns"

    def __init__(self, cfg: SnsConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        destination = cfg.topic_arn or cfg.target_arn or cfg.phone_number or ""
        self.target = target_id("sns", cfg.api_url or cfg.sigv4.region, destination)
        self._renderer = renderer
        self._http = http
        self._credentials = AwsCredentials(cfg.sigv4)
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        compile_ = renderer.compile_string
        self._fields = {key: compile_(src) for key, src in (
            ("TopicArn", cfg.topic_arn), ("TargetArn", cfg.target_arn),
            ("PhoneNumber", cfg.phone_number)) if src}
        self._attributes = [(compile_(k), compile_(v)) for k, v in cfg.attributes]
        self._subject = renderer.compile_optional(cfg.subject)
        self._message = (renderer.template(cfg.template) if cfg.template
                         else renderer.compile_optional(cfg.message))
        self._m_subject = renderer.macro("sns.j2", "subject")
        self._m_message = renderer.macro("sns.j2", "message")

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            params = self._params(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            params = self._plain(n)
        return urllib.parse.urlencode(params).encode()

    def _params(self, n: Notification) -> list[tuple[str, str]]:
        d = template_data(n)
        params = [(key, tmpl.render(d).strip()) for key, tmpl in self._fields.items()]
        attributes = {k.render(d): v.render(d) for k, v in self._attributes}
        message = (self._message.render(d) if self._message is not None
                   else self._m_message(d))
        subject = self._subject.render(d) if self._subject is not None else self._m_subject(d)
        return self._assemble(n, params, subject, message, attributes)

    def _plain(self, n: Notification) -> list[tuple[str, str]]:
        """The template-free fallback (destinations without templating, Jinja-free)."""
        params = [(key, src) for key, src in (
            ("TopicArn", self.cfg.topic_arn), ("TargetArn", self.cfg.target_arn),
            ("PhoneNumber", self.cfg.phone_number)) if src and "{" not in src]
        plain = self._renderer.plain_text(n)
        return self._assemble(n, params, plain.split("\n", 1)[0], plain, {})

    def _assemble(self, n: Notification, params: list[tuple[str, str]], subject: str,
                  message: str, attributes: dict[str, str]) -> list[tuple[str, str]]:
        sms = self.cfg.phone_number is not None
        if sms:
            message, cut = message[:MAX_SMS], len(message) > MAX_SMS
        else:
            room = MAX_MESSAGE_BYTES - sum(len(k.encode()) + len(v.encode()) + 6
                                           for k, v in attributes.items()) - 32
            message, cut = cut_utf8(message, room)
        if cut:
            attributes["truncated"] = "true"
        out = [("Action", "Publish"), ("Version", "2010-03-31"), *params,
               ("Message", message)]
        subject = clean_subject(subject)
        if subject and not sms:
            out.append(("Subject", subject))
        for i, (name, value) in enumerate(sorted(attributes.items()), 1):
            prefix = f"MessageAttributes.entry.{i}"
            out += [(f"{prefix}.Name", name), (f"{prefix}.Value.DataType", "String"),
                    (f"{prefix}.Value.StringValue", value)]
        topic = dict(params).get("TopicArn", "")
        if topic.endswith(".fifo"):
            # Alertmanager's group id: the group key's SHA-256. The deduplication id also
            # covers the content, so a retry is dropped by SNS but a new state is not.
            group = key_hash(n.group_key)
            dedup = hashlib.sha256(f"{n.group_key}\x1f{message}\x1f{sorted(attributes.items())}"
                                   .encode()).hexdigest()
            out += [("MessageGroupId", group), ("MessageDeduplicationId", dedup)]
        return out

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        creds, region = await self._credentials.get()
        if not region:
            raise DeliveryError(FailureReason.OTHER, "sns: region not configured in "
                                "sigv4.region or in the default credentials chain",
                                retryable=False)
        url = self.cfg.api_url or f"https://sns.{region}.amazonaws.com/"
        headers = sign(url, payload, creds, region, self._http.now())
        response = await self._http.post(url, payload, headers=headers, timeout=ctx.timeout,
                                         endpoint="sns endpoint",
                                         http_config=self.cfg.http_config)
        status, _, text = response
        if not 200 <= status < 300:
            raise api_error(response)
        found = message_id(text)
        return {} if found is None else {"message_id": found}


def build(cfg: Any, renderer: Renderer, http: HttpClient) -> SnsChannel:
    if not isinstance(cfg, SnsConfig):
        raise TypeError(f"sns channel needs a SnsConfig, got {type(cfg).__name__}")
    return SnsChannel(cfg, renderer, http)
