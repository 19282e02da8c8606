"""Mattermost incoming webhooks: the channel's registry face and public names.

`config` holds MattermostConfig and the parser of `mattermost_configs`; `channel` renders
the Slack-compatible body and posts it. The registry reads CONFIG_KEY, KEYS, `parse` and
`build` from here.
"""

from __future__ import annotations

from router.channels.mattermost.channel import MAX_TEXT, MattermostChannel, build
from router.channels.mattermost.config import (
    CONFIG_KEY,
    KEYS,
    MattermostAttachment,
    MattermostConfig,
    MattermostField,
    MattermostPriority,
    MattermostProps,
    parse,
)

__all__ = ["CONFIG_KEY", "KEYS", "MAX_TEXT", "MattermostAttachment", "MattermostChannel",
           "MattermostConfig", "MattermostField", "MattermostPriority", "MattermostProps",
           "build", "parse"]
