"""The composition root: builds the object graph, owns background tasks, swaps configs.

`create_app` is the only place that constructs concrete objects; handlers reach them
through the typed `STATE` app key. Reload parses and compiles a new config on the side and
swaps it in with one assignment; a bad config leaves the old one running.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from router import routing
from router.channels import build_channel
from router.channels.base import Channel
from router.clock import Clock, SystemClock
from router.config import load_config
from router.config_types import Receiver, RouterConfig
from router.delivery import DeliveryManager
from router.grouping import Dispatcher
from router.ingest import AlertIngestor
from router.metrics import Metrics
from router.normalize import EventMapper
from router.pipeline import Notifier
from router.rendering import Renderer
from router.storage import Store
from router.storage.sqlite import SqliteStore
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

GC_INTERVAL = 60.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything compiled from one config; replaced whole on reload."""

    config: RouterConfig
    renderer: Renderer
    router: routing.Router
    channels: dict[tuple[str, str, int], Channel]
    mappers: dict[str, EventMapper]


def build_runtime(config: RouterConfig, metrics: Metrics, clock: Clock) -> Runtime:
    """Compile templates, channels and source mappings; raises on any problem."""
    renderer = Renderer(
        config.templates,
        on_failure=lambda kind: metrics.template_failures.labels(kind).inc(),
        now=clock.now,
    )
    channels: dict[tuple[str, str, int], Channel] = {}
    for receiver in config.receivers.values():
        for kind, index, cfg in receiver.channels():
            channels[(receiver.name, kind, index)] = build_channel(kind, cfg, renderer)
    metrics.prepare((r, k) for (r, k, _i) in channels)
    return Runtime(
        config=config,
        renderer=renderer,
        router=routing.Router(config.route),
        channels=channels,
        mappers={name: EventMapper(src) for name, src in config.sources.items()},
    )


@dataclass(slots=True)
class AppState:
    runtime: Runtime
    clock: Clock
    metrics: Metrics
    store: Store
    dispatcher: Dispatcher
    ingestor: AlertIngestor
    delivery: DeliveryManager
    trace: TraceRecorder
    ready: bool = False
    config_path: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def config(self) -> RouterConfig:
        return self.runtime.config

    def channel(self, receiver: str, kind: str, index: int) -> Channel | None:
        return self.runtime.channels.get((receiver, kind, index))

    def receivers(self) -> dict[str, Receiver]:
        return self.runtime.config.receivers

    async def reload(self) -> None:
        """Load the config file again; on any error keep the running config and re-raise."""
        try:
            if self.config_path is None:
                raise ValueError("running on the built-in default config: nothing to reload")
            config = apply_overrides(load_config(self.config_path), self.overrides)
            runtime = build_runtime(config, self.metrics, self.clock)
        except Exception:
            self.metrics.config_last_reload_successful.set(0)
            raise
        self.runtime = runtime
        self.delivery.settings = config.delivery
        self.dispatcher.reset(runtime.router, self.ingestor.alerts.values())
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(self.clock.now())
        log.info("configuration reloaded", extra={"config": self.config_path})


STATE = web.AppKey("state", AppState)


def apply_overrides(config: RouterConfig, overrides: dict[str, str]) -> RouterConfig:
    """Command-line --listen/--storage win over the file (and survive reloads)."""
    if "listen" in overrides:
        config = replace(config, server=replace(config.server, listen=overrides["listen"]))
    if "storage" in overrides:
        config = replace(config, storage=replace(config.storage, path=overrides["storage"]))
    return config


def create_app(
    config: RouterConfig,
    *,
    clock: Clock | None = None,
    registry: CollectorRegistry | None = None,
    store: Store | None = None,
    config_path: str | None = None,
    overrides: dict[str, str] | None = None,
) -> web.Application:
    from router.http_api import setup_routes

    clock = clock or SystemClock()
    metrics = Metrics(registry or CollectorRegistry())
    runtime = build_runtime(config, metrics, clock)
    store = store or SqliteStore(Path(config.storage.path))
    holder: list[AppState] = []  # the callables below read the live runtime through it

    def channel(receiver: str, kind: str, index: int) -> Channel | None:
        return holder[0].channel(receiver, kind, index)

    trace = TraceRecorder(None, clock)
    delivery = DeliveryManager(store, clock, metrics, config.delivery, channel, trace=trace)
    notifier = Notifier(
        delivery,
        lambda: holder[0].receivers(),
        channel,
        lambda: holder[0].config.server.external_url,
        trace=trace,
    )
    dispatcher = Dispatcher(runtime.router, clock, notifier.notify, trace=trace)
    state = AppState(
        runtime=runtime, clock=clock, metrics=metrics, store=store, dispatcher=dispatcher,
        ingestor=AlertIngestor(store, dispatcher, clock, metrics, trace), delivery=delivery,
        trace=trace,
        config_path=config_path, overrides=dict(overrides or {}), started_at=clock.now(),
    )
    holder.append(state)
    metrics.config_last_reload_success_timestamp.set(clock.now())

    app = web.Application(client_max_size=config.server.max_body_bytes)
    app[STATE] = state
    setup_routes(app)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    await state.store.open()
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        delivery = state.delivery
        delivery.session = session
        now = state.clock.now()
        delivery.load(await state.store.outbox_load_pending(), await state.store.load_nflog(now))
        state.ingestor.restore(await state.store.load_alerts())
        # Restored state is long-lived: keep it out of every later full GC pass.
        gc.collect()
        gc.freeze()
        tasks = [
            asyncio.create_task(state.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(delivery.run(), name="delivery"),
            asyncio.create_task(_gc_loop(state), name="gc"),
        ]
        state.ready = True
        try:
            yield
        finally:
            state.ready = False
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    await state.store.close()


async def _gc_loop(state: AppState) -> None:
    while True:
        await state.clock.sleep(GC_INTERVAL)
        try:
            await state.ingestor.collect_garbage()
            await state.store.gc_nflog(state.clock.now())
            await state.trace.collect_garbage()
        except Exception:
            log.exception("garbage collection failed")
