"""Reads the `receivers:` list: each receiver's name and its channel entries.

Each channel module owns its keys and parser (`CHANNELS[kind].parse`, see
router/channels/); this module only finds the entries, checks names are unique and keeps
the integrations in the registry's order, which is Alertmanager's integration naming.
"""

from __future__ import annotations

from router.channels import CHANNELS
from router.config.fields import FieldReader
from router.config.types import ChannelConfig, Receiver
from router.config.yaml_source import Node

__all__ = ["UNSUPPORTED", "parse_receivers"]

# Alertmanager integrations alert-router has no channel for yet: named as such instead of
# "unknown key", so a migrating team sees what is missing (and nothing else is wrong).
UNSUPPORTED: tuple[str, ...] = ()


def parse_receivers(fields: FieldReader, items: list[Node]) -> dict[str, Receiver]:
    out: dict[str, Receiver] = {}
    for item in items:
        if not item.expect_map():
            continue
        item.expect_keys(("name", "send_resolved_when_silenced",
                          *(spec.config_key for spec in CHANNELS.values()),
                          *(f"{kind}_configs" for kind in UNSUPPORTED)))
        for kind in UNSUPPORTED:
            key_node = item.key_node(f"{kind}_configs")
            if key_node is not None:
                key_node.error(f"Alertmanager's {kind} integration is not supported yet "
                               "(see \"Migrating from Alertmanager\" in README.md)")
        name_node = item.require("name")
        name = item.get_str("name")
        integrations: list[tuple[str, ChannelConfig]] = []
        for kind, spec in CHANNELS.items():
            for entry in item.get_list(spec.config_key) or []:
                if entry.expect_map():
                    entry.expect_keys(spec.keys)
                    parsed = spec.parse(fields, entry)
                    if parsed is not None:
                        integrations.append((kind, parsed))
        if name is None or name_node is None:
            continue
        if not name:
            name_node.error("missing name in receiver")
            continue
        if name in out:
            name_node.error(f'duplicate receiver name "{name}"')
            continue
        out[name] = Receiver(
            name, tuple(integrations), item.get_bool("send_resolved_when_silenced", False)
        )
    return out
