"""Email over SMTP: the channel's registry face and public names.

Split by concern so each module stays small: `config` (EmailConfig, TlsConfig and the
parser of `email_configs`), `channel` (rendering and threading) and `smtp` (the aiosmtplib
conversation and reply classification). The registry reads CONFIG_KEY, KEYS, `parse` and
`build` from here.
"""

from __future__ import annotations

from router.channels.email.channel import EmailChannel, build
from router.channels.email.config import CONFIG_KEY, KEYS, EmailConfig, TlsConfig, parse
from router.channels.email.smtp import SmtpSender, classify_reply, classify_smtp

__all__ = [
    "CONFIG_KEY", "KEYS", "EmailChannel", "EmailConfig", "SmtpSender", "TlsConfig", "build",
    "classify_reply", "classify_smtp", "parse",
]
