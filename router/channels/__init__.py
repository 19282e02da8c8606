"""The channel registry: config `<kind>_configs` entries → Channel instances.

An explicit table, so a kind missing here is a config error and the config loader and the
app find every channel in one place. Each channel module (or subpackage) exposes
CONFIG_KEY, KEYS, `parse` (YAML entry → its config dataclass) and `build`
(config, renderer, shared HttpClient → Channel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from router.channels import (
    discord,
    email,
    incidentio,
    jira,
    log,
    mattermost,
    msteams,
    msteamsv2,
    opsgenie,
    pagerduty,
    pushover,
    rocketchat,
    slack,
    sms,
    sns,
    teams,
    telegram,
    victorops,
    webex,
    webhook,
    webpush,
    wechat,
)
from router.channels.base import Channel
from router.channels.http import HttpClient
from router.config.fields import FieldReader
from router.config.types import ChannelConfig
from router.config.yaml_source import Node
from router.rendering import Renderer

Builder = Callable[[Any, Renderer, HttpClient], Channel]
Parser = Callable[[FieldReader, Node], Any]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """How one channel type is configured and built; its module owns both."""

    config_key: str  # e.g. "slack_configs"
    keys: tuple[str, ...]  # allowed keys of one entry
    parse: Parser  # entry node → config dataclass, or None after reporting problems
    build: Builder


def _spec(module: Any) -> ChannelSpec:
    return ChannelSpec(module.CONFIG_KEY, module.KEYS, module.parse, module.build)


# Order matters: it is the order integrations are listed in (and indexed within) a receiver.
CHANNELS: Final[Mapping[str, ChannelSpec]] = MappingProxyType({
    "slack": _spec(slack),
    "webhook": _spec(webhook),
    "pagerduty": _spec(pagerduty),
    "email": _spec(email),
    "sms": _spec(sms),
    "teams": _spec(teams),
    "msteams": _spec(msteams),
    "msteamsv2": _spec(msteamsv2),
    "discord": _spec(discord),
    "telegram": _spec(telegram),
    "jira": _spec(jira),
    "incidentio": _spec(incidentio),
    "webpush": _spec(webpush),
    "opsgenie": _spec(opsgenie),
    "victorops": _spec(victorops),
    "pushover": _spec(pushover),
    "mattermost": _spec(mattermost),
    "sns": _spec(sns),
    "webex": _spec(webex),
    "wechat": _spec(wechat),
    "rocketchat": _spec(rocketchat),
    "log": _spec(log),
})


def build_channel(kind: str, cfg: ChannelConfig, renderer: Renderer, http: HttpClient) -> Channel:
    """A channel of `kind`; HTTP channels send through `http` once the app has started it."""
    try:
        spec = CHANNELS[kind]
    except KeyError:
        raise ValueError(f"unknown channel type {kind!r}") from None
    return spec.build(cfg, renderer, http)
