"""Rocket.Chat (`rocketchat_configs`): the channel's registry face and public names.

`config` holds RocketchatConfig and the parser (with `global.rocketchat_*` inheritance),
`channel` the rendering and sending. The registry reads CONFIG_KEY, KEYS, `parse` and
`build` from here.
"""

from __future__ import annotations

from router.channels.rocketchat.channel import RocketchatChannel, build
from router.channels.rocketchat.config import (
    CONFIG_KEY,
    KEYS,
    RocketchatAction,
    RocketchatConfig,
    RocketchatField,
    parse,
)

__all__ = ["CONFIG_KEY", "KEYS", "RocketchatAction", "RocketchatChannel", "RocketchatConfig",
           "RocketchatField", "build", "parse"]
