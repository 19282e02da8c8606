"""Runtime: everything compiled from one config, immutable; RuntimeRef: the one swap.

Components never hold a config of their own: they read `ref.current` when they need the
routes, receivers, channels, source mappings or muter. A reload compiles a whole new
Runtime on the side (any error leaves the running one untouched) and swaps one reference,
so no object is ever half-reconfigured and nothing assigns fields from outside.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TextIO

from router.channels import build_channel, webpush
from router.channels import log as log_channel
from router.channels.base import Channel
from router.channels.http import HttpClient
from router.clock import Clock
from router.config.types import LogConfig, Receiver, RouterConfig
from router.ingest.formats import EventMapper
from router.metrics import Metrics
from router.model import Alert
from router.noise.inhibition import Inhibitor
from router.noise.muting import Muter, SilenceLookup
from router.rendering import Renderer
from router.routing.tree import Router

ChannelKey = tuple[str, str, int]  # (receiver, channel type, index among that type)


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything compiled from one config; replaced whole on reload."""

    config: RouterConfig
    renderer: Renderer
    router: Router
    channels: Mapping[ChannelKey, Channel]
    mappers: Mapping[str, EventMapper]
    muter: Muter

    @property
    def receivers(self) -> Mapping[str, Receiver]:
        return self.config.receivers

    def channel(self, receiver: str, kind: str, index: int) -> Channel | None:
        return self.channels.get((receiver, kind, index))


def compile_runtime(
    config: RouterConfig,
    metrics: Metrics,
    clock: Clock,
    http: HttpClient,
    silences: SilenceLookup | None = None,
    alerts: Iterable[Alert] = (),
    *,
    log_stream: TextIO | None = None,
    push: webpush.WebPushHub | None = None,
) -> Runtime:
    """Compile templates, channels, routes, source mappings and muting; raises on any
    problem. `alerts` seeds the inhibitor's source index (a reload keeps inhibiting); every
    HTTP channel shares `http`, the one client bound to the session at start-up; Web Push
    channels also get `push` (the subscriptions and key) and the `webpush` section."""
    renderer = Renderer(
        config.templates,
        on_failure=lambda kind: metrics.template_failures.labels(kind).inc(),
        now=clock.now,
    )
    channels: dict[ChannelKey, Channel] = {}
    for receiver in config.receivers.values():
        for kind, index, cfg in receiver.channels():
            channel: Channel
            if log_stream is not None and isinstance(cfg, LogConfig):
                channel = log_channel.build(cfg, renderer, http, stream=log_stream)
            elif isinstance(cfg, webpush.WebPushConfig):
                channel = webpush.build(cfg, renderer, http, hub=push, settings=config.webpush)
            else:
                channel = build_channel(kind, cfg, renderer, http)
            channels[(receiver.name, kind, index)] = channel
    metrics.prepare((r, k) for (r, k, _i) in channels)
    return Runtime(
        config=config,
        renderer=renderer,
        router=Router(config.route),
        channels=channels,
        mappers={name: EventMapper(src) for name, src in config.sources.items()},
        muter=Muter(config.time_intervals, Inhibitor(config.inhibit_rules, alerts), silences),
    )


class RuntimeRef:
    """The one mutable reference to the running Runtime."""

    __slots__ = ("_current",)

    def __init__(self, runtime: Runtime) -> None:
        self._current = runtime

    @property
    def current(self) -> Runtime:
        return self._current

    def channel(self, receiver: str, kind: str, index: int) -> Channel | None:
        """The channel as the current config defines it (None once a reload removed it)."""
        return self._current.channel(receiver, kind, index)

    def swap(self, runtime: Runtime) -> Runtime:
        """Make `runtime` current; returns the one it replaced."""
        old, self._current = self._current, runtime
        return old
