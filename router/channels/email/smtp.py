"""The SMTP transport of the email channel: one aiosmtplib conversation per message.

STARTTLS or implicit TLS, AUTH, one deadline for the whole conversation, and SMTP replies
classified like HTTP answers (4xx retryable, 5xx permanent, 535 bad credentials) so the
retry policy treats mail like every other channel. Errors never quote the host or the
server's reply to AUTH.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from email.utils import parseaddr
from typing import Any

import aiosmtplib

from router.channels.base import excerpt
from router.channels.email.config import EmailConfig, TlsConfig
from router.channels.tls import build_context
from router.config.global_config import split_hostport
from router.errors import DeliveryError, FailureReason
from router.logs import RepeatLog

log = logging.getLogger(__name__)

_ENDPOINT = "smtp server"


def envelope_address(formatted: str) -> str:
    return parseaddr(formatted)[1]


class _NamedContext(ssl.SSLContext):
    """Verifies the server certificate against `server_name` instead of the host dialled.

    asyncio passes the connected host name to `wrap_bio` for both implicit TLS and
    STARTTLS; aiosmtplib has no separate setting for it.
    """

    server_name: str | None = None

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        if self.server_name:
            kwargs["server_hostname"] = self.server_name
        return super().wrap_bio(*args, **kwargs)


def tls_context(cfg: TlsConfig) -> ssl.SSLContext:
    """The common `tls_config` (router/channels/tls.py), verifying `server_name`."""
    context = build_context(cfg, _NamedContext)
    assert isinstance(context, _NamedContext)
    context.server_name = cfg.server_name
    return context


class SmtpSender:
    """Delivers rendered messages for one `email_configs` entry."""

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg
        self.host, self.port = split_hostport(cfg.smarthost)
        implicit = cfg.force_implicit_tls
        self.implicit_tls = self.port == 465 if implicit is None else implicit
        self._tls = tls_context(cfg.tls_config)
        self._refusals = RepeatLog(log, time.monotonic)  # every message: a line a minute

    async def send(self, message: bytes, timeout: float) -> None:  # noqa: ASYNC109
        cfg = self.cfg
        smtp = aiosmtplib.SMTP(
            hostname=self.host, port=self.port, local_hostname=cfg.hello,
            use_tls=self.implicit_tls, start_tls=cfg.require_tls and not self.implicit_tls,
            tls_context=self._tls, timeout=timeout,
        )
        try:
            try:
                # One deadline for the whole conversation, like an HTTP channel's total timeout.
                async with asyncio.timeout(timeout):
                    await smtp.connect()
                    if cfg.auth_username and cfg.auth_password is not None:
                        await smtp.login(cfg.auth_username, cfg.auth_password.reveal())
                    _, refused = await smtp.sendmail(
                        envelope_address(cfg.from_), [envelope_address(a) for a in cfg.to],
                        message,
                    )
            except Exception as exc:
                # Not chained: aiosmtplib's text names the host, and a reply to AUTH is not
                # ours to forward into logs.
                raise classify_smtp(exc) from None
            await _quit(smtp)
        finally:
            smtp.close()
        if refused:
            # Retrying would mail the accepted recipients twice: report and move on.
            self._refusals.failure("smtp server refused some recipients",
                                   cause=", ".join(sorted(refused)), level=logging.WARNING,
                                   channel="email", refused=sorted(refused))


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """QUIT politely; DATA was already accepted, so a failure here changes nothing."""
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
        await smtp.quit()


def classify_smtp(exc: Exception) -> DeliveryError:
    """SMTP 4xx is temporary, 5xx permanent (RFC 5321 §4.2.1); 535 means bad credentials."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        # Retry only when every refusal is temporary.
        worst = max(exc.recipients, key=lambda r: r.code)
        return classify_reply(worst.code, worst.message, "recipients refused")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return classify_reply(exc.code, exc.message, "authentication failed")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return classify_reply(exc.code, exc.message, "rejected the message")
    if _tls_failure(exc):
        return DeliveryError(FailureReason.OTHER, f"TLS handshake with {_ENDPOINT} failed",
                             retryable=False)
    if isinstance(exc, TimeoutError):
        return DeliveryError(FailureReason.TIMEOUT, f"no answer from {_ENDPOINT} in time",
                             retryable=True)
    if isinstance(exc, ConnectionError | OSError):
        refused = any(isinstance(e, ConnectionRefusedError) for e in _chain(exc))
        what = "connection refused by" if refused else "lost the connection to"
        return DeliveryError(FailureReason.NETWORK, f"{what} {_ENDPOINT}", retryable=True)
    if isinstance(exc, aiosmtplib.SMTPException):
        # e.g. STARTTLS or AUTH not offered: a configuration mismatch, not a hiccup.
        return DeliveryError(FailureReason.CLIENT_ERROR, f"{_ENDPOINT}: {excerpt(exc.message)}",
                             retryable=False)
    return DeliveryError(FailureReason.OTHER, f"{type(exc).__name__} talking to {_ENDPOINT}",
                         retryable=True)


def classify_reply(code: int, message: str, what: str) -> DeliveryError:
    detail = f"{_ENDPOINT} {what}: {code} {excerpt(message)}".rstrip()
    if 400 <= code < 500:
        return DeliveryError(FailureReason.SERVER_ERROR, detail, retryable=True)
    if code in (530, 534, 535, 538):  # authentication required / failed (RFC 4954)
        return DeliveryError(FailureReason.AUTH, detail, retryable=False)
    if 500 <= code < 600:
        return DeliveryError(FailureReason.CLIENT_ERROR, detail, retryable=False)
    return DeliveryError(FailureReason.OTHER, detail, retryable=False)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


def _tls_failure(exc: Exception) -> bool:
    return any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in _chain(exc))
