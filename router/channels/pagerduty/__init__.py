"""PagerDuty (Events API v2): the channel's registry face and public names.

Split by concern so each module stays small: `config` (PagerdutyConfig and the parser of
`pagerduty_configs`), `events` (PagerDuty's rules for one event) and `channel` (rendering
and sending). The registry reads CONFIG_KEY, KEYS, `parse` and `build` from here.
"""

from __future__ import annotations

from router.channels.pagerduty.channel import PAGERDUTY_PACING, PagerdutyChannel, build
from router.channels.pagerduty.config import (
    CONFIG_KEY,
    DEFAULT_URL,
    KEYS,
    PagerdutyConfig,
    PagerdutyImage,
    PagerdutyLink,
    parse,
)
from router.channels.pagerduty.events import dedup_key, pagerduty_severity

__all__ = [
    "CONFIG_KEY", "DEFAULT_URL", "KEYS", "PAGERDUTY_PACING", "PagerdutyChannel",
    "PagerdutyConfig", "PagerdutyImage", "PagerdutyLink", "build", "dedup_key",
    "pagerduty_severity", "parse",
]
