"""SMS (Twilio or an HTTP gateway): the channel's registry face and public names.

Split by concern so each module stays small: `config` (SmsConfig and the parser of
`sms_configs`), `text` (GSM-7/UCS-2 fitting, E.164, number scrubbing), `twilio` (the
Messages API sender) and `channel` (rendering, the gateway POST, one message per
recipient). The registry reads CONFIG_KEY, KEYS, `parse` and `build` from here.
"""

from __future__ import annotations

from router.channels.sms.channel import SmsChannel, build
from router.channels.sms.config import CONFIG_KEY, KEYS, SmsConfig, parse
from router.channels.sms.text import scrub
from router.channels.sms.twilio import TwilioSender, twilio_error

__all__ = [
    "CONFIG_KEY", "KEYS", "SmsChannel", "SmsConfig", "TwilioSender", "build", "parse", "scrub",
    "twilio_error",
]
