"""The channel registry: config `<kind>_configs` entries → Channel instances.

An explicit table; a kind missing here is a config error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from router.channels import log, slack, webhook
from router.channels.base import Channel
from router.config_types import ChannelConfig
from router.rendering import Renderer

Builder = Callable[[Any, Renderer], Channel]

CHANNELS: Final[Mapping[str, Builder]] = MappingProxyType({
    "slack": slack.build,
    "webhook": webhook.build,
    "log": log.build,
})


def build_channel(kind: str, cfg: ChannelConfig, renderer: Renderer) -> Channel:
    try:
        builder = CHANNELS[kind]
    except KeyError:
        raise ValueError(f"unknown channel type {kind!r}") from None
    return builder(cfg, renderer)
