"""Slack (incoming webhooks and the Web API): the channel's registry face and public names.

Split by concern: `config` (the parser of `slack_configs`), `channel` (rendering and
sending, edit-in-place) and `history` (finding a delivery's earlier message after a crash).
The registry reads CONFIG_KEY, KEYS, `parse` and `build` from here.
"""

from __future__ import annotations

from router.channels.slack.channel import (
    MAX_BLOCKS,
    SLACK_PACING,
    SlackAPIError,
    SlackChannel,
    api_error,
    build,
)
from router.channels.slack.config import CONFIG_KEY, KEYS, parse

__all__ = [
    "CONFIG_KEY", "KEYS", "MAX_BLOCKS", "SLACK_PACING", "SlackAPIError", "SlackChannel",
    "api_error", "build", "parse",
]
