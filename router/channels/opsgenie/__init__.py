"""OpsGenie (Alert API v2): the channel's registry face and public names.

`config` holds OpsgenieConfig and the parser of `opsgenie_configs`; `channel` renders the
create / close requests and sends them. The registry reads CONFIG_KEY, KEYS, `parse` and
`build` from here.
"""

from __future__ import annotations

from router.channels.opsgenie.channel import OpsgenieChannel, alias, build
from router.channels.opsgenie.config import (
    CONFIG_KEY,
    DEFAULT_API_URL,
    KEYS,
    OpsgenieConfig,
    OpsgenieResponder,
    parse,
)

__all__ = ["CONFIG_KEY", "DEFAULT_API_URL", "KEYS", "OpsgenieChannel", "OpsgenieConfig",
           "OpsgenieResponder", "alias", "build", "parse"]
