"""The composition root: builds the object graph, owns background tasks, swaps configs.

`create_app` is the only place that constructs concrete objects; handlers reach them
through the typed `STATE` app key. Reload parses and compiles a new config on the side and
swaps it in with one assignment; a bad config leaves the old one running.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry

from router.channels import build_channel
from router.channels.base import Channel
from router.clock import Clock, SystemClock
from router.config.load import load_config
from router.config.types import Receiver, RouterConfig
from router.delivery.worker import DeliveryManager
from router.ingest.formats import EventMapper
from router.ingest.ingestor import AlertIngestor
from router.metrics import Metrics
from router.model import Alert
from router.noise.inhibition import Inhibitor
from router.noise.muting import Muter, MuteStage, SilenceLookup
from router.noise.silences import SilenceIndex, SilenceState
from router.noise.silences import gc as gc_silences
from router.notify.pipeline import Notifier
from router.rendering import Renderer
from router.routing import tree as routing
from router.routing.grouping import Dispatcher
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
    muter: Muter


def build_runtime(
    config: RouterConfig,
    metrics: Metrics,
    clock: Clock,
    silences: SilenceLookup | None = None,
    alerts: Iterable[Alert] = (),
) -> Runtime:
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
        muter=Muter(config.time_intervals, Inhibitor(config.inhibit_rules, alerts), silences),
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
    silences: SilenceIndex
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
            runtime = build_runtime(config, self.metrics, self.clock, self.silences,
                                    self.ingestor.alerts.values())
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


def _count_silences(silences: SilenceIndex, clock: Clock, state: SilenceState) -> int:
    """Computed at scrape time."""
    now = clock.now()
    return sum(1 for s in silences if s.state(now) == state)


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
    from router.web.api import setup_routes

    clock = clock or SystemClock()
    metrics = Metrics(registry or CollectorRegistry())
    silences = SilenceIndex()
    runtime = build_runtime(config, metrics, clock, silences)
    store_: Store = store or SqliteStore(Path(config.storage.path))
    holder: list[AppState] = []  # the callables below read the live runtime through it

    def channel(receiver: str, kind: str, index: int) -> Channel | None:
        return holder[0].channel(receiver, kind, index)

    trace = TraceRecorder(store_, clock)
    delivery = DeliveryManager(store_, clock, metrics, config.delivery, channel, trace=trace)
    mute = MuteStage(
        lambda: holder[0].runtime.muter,
        lambda route_id: holder[0].runtime.router.routes_by_id.get(route_id),
        lambda batch, receiver: delivery.nflog.notified_firing(batch.group_key, receiver),
        metrics,
        trace,
    )
    notifier = Notifier(
        delivery,
        lambda: holder[0].receivers(),
        channel,
        lambda: holder[0].config.server.external_url,
        trace=trace,
        mute=mute,
        metrics=metrics,
    )
    # storm/flap (route options): digests, flapping notices and storm-end logging go
    # through the notifier; held-back alerts are counted in notifications_suppressed.
    dispatcher = Dispatcher(runtime.router, clock, notifier.notify, trace=trace,
                            announcer=notifier, metrics=metrics)

    def observe(change: Alert | str) -> None:
        inhibitor = holder[0].runtime.muter.inhibitor
        if isinstance(change, str):
            inhibitor.forget(change)
        else:
            inhibitor.observe(change)

    state = AppState(
        runtime=runtime, clock=clock, metrics=metrics, store=store_, dispatcher=dispatcher,
        ingestor=AlertIngestor(store_, dispatcher, clock, metrics, trace, [observe]),
        delivery=delivery, trace=trace, silences=silences,
        config_path=config_path, overrides=dict(overrides or {}), started_at=clock.now(),
    )
    holder.append(state)
    metrics.config_last_reload_success_timestamp.set(clock.now())
    def count_alerts(state_name: str) -> int:
        now = clock.now()
        muted = mute.muted_fingerprints()
        firing = [fp for fp, a in holder[0].ingestor.alerts.items() if not a.resolved(now)]
        suppressed = sum(1 for fp in firing if fp in muted)
        return suppressed if state_name == "suppressed" else len(firing) - suppressed

    # active / suppressed (muted at their last flush); resolved is set by the ingestor.
    for name in ("active", "suppressed"):
        metrics.alerts.labels(name).set_function(functools.partial(count_alerts, name))
    for st in SilenceState:
        metrics.silences.labels(st.value).set_function(
            functools.partial(_count_silences, silences, clock, st)
        )

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
        await delivery.restore()
        for silence in await state.store.load_silences():
            state.silences.add(silence)
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
    await state.trace.flush()
    await state.store.close()


async def _gc_loop(state: AppState) -> None:
    while True:
        await state.clock.sleep(GC_INTERVAL)
        try:
            await state.ingestor.collect_garbage()
            await state.delivery.nflog.collect_garbage(state.clock.now())
            await state.trace.collect_garbage()
            expired = gc_silences(state.silences, state.clock.now())
            if expired:
                await state.store.delete_silences(expired)
                for sid in expired:
                    state.silences.remove(sid)
        except Exception:
            log.exception("garbage collection failed")
