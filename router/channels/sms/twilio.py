"""Twilio's Messages API: one form POST per recipient, and Twilio's answers classified.

Twilio answers `{code, message}` bodies; 21611 (sender queue full) and 20429 are worth a
retry although they come as 4xx. Messages are scrubbed of the auth token and of phone
numbers (personal data) before they reach an error or a log.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping

from router.channels.base import excerpt
from router.channels.http import HttpClient, classify_http
from router.channels.sms.config import CONTENT_TYPES, SmsConfig
from router.channels.sms.text import scrub
from router.config.secrets import scrub as scrub_secrets
from router.config.secrets import secret_values
from router.errors import DeliveryError, FailureReason

# Twilio error codes (twilio.com/docs/api/errors) that a later attempt can get through.
_RETRYABLE_CODES = frozenset({21611, 20429})  # sender queue full, too many requests


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
    return base.with_message(message)


class TwilioSender:
    """Sends for one `sms_configs` entry with provider twilio."""

    def __init__(self, cfg: SmsConfig, http: HttpClient, user_agent: str) -> None:
        self.cfg = cfg
        self._http = http
        self._user_agent = user_agent

    def url(self) -> str:
        sid = urllib.parse.quote(self.cfg.account_sid or "", safe="")
        return f"{self.cfg.api_url.rstrip('/')}/2010-04-01/Accounts/{sid}/Messages.json"

    def auth(self) -> str:
        """The Authorization header, read at send time (never part of a stored payload)."""
        assert self.cfg.auth_token is not None
        pair = f"{self.cfg.account_sid}:{self.cfg.auth_token.reveal()}"
        return "Basic " + base64.b64encode(pair.encode()).decode()

    def form(self, to: str, text: str) -> bytes:
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

    async def post(
        self, url: str, auth: str, to: str, text: str, timeout: float  # noqa: ASYNC109
    ) -> str:
        """Send to one recipient; return the message SID Twilio answered ("" if none)."""
        headers = {"Content-Type": CONTENT_TYPES["form"], "Accept": "application/json",
                   "Authorization": auth, "User-Agent": self._user_agent}
        status, resp_headers, body = await self._http.post(
            url, self.form(to, text), headers=headers,
            timeout=timeout, endpoint="twilio messages api")
        assert self.cfg.auth_token is not None
        error = twilio_error(status, resp_headers, body, (self.cfg.auth_token.reveal(),), (to,))
        if error is not None:
            raise error.with_message(scrub_secrets(error.message, secret_values(self.cfg)))
        try:
            answer = json.loads(body)
        except ValueError:
            return ""
        return str(answer.get("sid", "")) if isinstance(answer, dict) else ""
