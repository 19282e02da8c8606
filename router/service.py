"""The object graph, built in one place: production (`create_app`) and tests use it alike.

`build_service` wires store → feed → dispatcher → notify chain → delivery around one
RuntimeRef; `Service.start` restores state from the store and starts the background
loops (dispatcher timers, delivery, garbage collection, stream keepalive, reconcile with
an upstream Alertmanager), or, on a store that cannot commit
yet (opened on a read-only filesystem), waits in the background until it heals, not ready
meanwhile; `Service.reload` compiles a new
Runtime on the side and swaps it in (a bad config leaves the old one running).

Data flows one way: ingest publishes committed changes on the AlertFeed; the dispatcher
and the inhibitor subscribe; the dispatcher hands flushed batches to the notify chain,
which queues rows in the outbox; delivery sends them through the current channels.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TextIO

from prometheus_client import CollectorRegistry

from router.channels.http import HttpClient
from router.channels.webpush import WebPushHub
from router.clock import Clock, SystemClock
from router.config.load import load_config
from router.config.secrets import scrub, secret_values
from router.config.types import RouterConfig
from router.delivery.worker import DeliveryManager
from router.errors import ConfigError, ReloadError, StoreUnavailable
from router.events.build import silence_events
from router.events.hub import EventHub, Limits
from router.events.model import SILENCE_EXPIRED
from router.ingest.feed import AlertChange, AlertFeed
from router.ingest.ingestor import AlertIngestor
from router.ingest.reconcile import Reconciler
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import Alert
from router.nflog import NotificationLog
from router.noise.silences import SilenceIndex, SilenceState
from router.noise.silences import gc as gc_silences
from router.notify.pipeline import Pipeline, build_pipeline
from router.routing.grouping import Dispatcher
from router.routing.policy import NoisePolicy
from router.routing.tree import group_key, group_labels
from router.runtime import Runtime, RuntimeRef, compile_runtime
from router.storage import Store
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

GC_INTERVAL = 60.0


def apply_overrides(config: RouterConfig, overrides: dict[str, str]) -> RouterConfig:
    """Command-line --web.listen-address, --web.external-url and --storage.path win over
    the file (and survive reloads)."""
    if "listen" in overrides:
        config = replace(config, server=replace(config.server, listen=overrides["listen"]))
    if "external_url" in overrides:
        url = overrides["external_url"].rstrip("/")
        config = replace(config, server=replace(config.server, external_url=url))
    if "storage" in overrides:
        config = replace(config, storage=replace(config.storage, path=overrides["storage"]))
    return config


@dataclass(eq=False)
class Service:
    """Every long-lived component of one router process."""

    ref: RuntimeRef
    clock: Clock
    metrics: Metrics
    store: Store
    feed: AlertFeed
    ingestor: AlertIngestor
    dispatcher: Dispatcher
    pipeline: Pipeline
    delivery: DeliveryManager
    nflog: NotificationLog
    trace: TraceRecorder
    events: EventHub
    silences: SilenceIndex
    http: HttpClient
    webpush: WebPushHub
    config_path: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    log_stream: TextIO | None = None
    started_at: float = 0.0
    ready: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    # GC passes never overlap (the periodic one and a direct call): two passes could both
    # find the same alert resolved by time, or silence ended, before either records it.
    _collecting: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _starting: asyncio.Task[None] | None = None
    # Failures of the background loops, logged once per cause per minute (router/logs.py).
    _failures: RepeatLog = field(init=False, repr=False)
    reconciler: Reconciler = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._failures = RepeatLog(log, self.clock.now)
        self.reconciler = Reconciler(self.ingestor, self.http, self.clock, self.metrics,
                                     lambda: self.config.alertmanager_source.reconcile)

    @property
    def runtime(self) -> Runtime:
        return self.ref.current

    @property
    def config(self) -> RouterConfig:
        return self.ref.current.config

    async def reload(self) -> None:
        """Load the config file again; on any error keep the running config and re-raise."""
        config: RouterConfig | None = None
        try:
            if self.config_path is None:
                raise ValueError("running on the built-in default config: nothing to reload")
            config = apply_overrides(load_config(self.config_path), self.overrides)
            await self.apply(config)
        except ConfigError:
            self.metrics.config_last_reload_successful.set(0)
            raise  # its problems already show `<secret>` for every secret field
        except Exception as exc:
            # A template or channel that would not build: its message may quote a value of
            # the new config (a webhook URL in a ValueError): no secret of either config.
            self.metrics.config_last_reload_successful.set(0)
            secrets = secret_values(self.ref.current.config) + (
                secret_values(config) if config is not None else [])
            raise ReloadError(scrub(str(exc), secrets)) from None
        log.info("configuration reloaded", extra={"config": self.config_path})

    async def apply(self, config: RouterConfig) -> None:
        """Compile `config` on the side, then swap it in and regroup under its routes."""
        runtime = compile_runtime(config, self.metrics, self.clock, self.http, self.silences,
                                  self.ingestor.alerts.values(), log_stream=self.log_stream,
                                  push=self.webpush)
        self.ref.swap(runtime)
        self.dispatcher.reset(runtime.router, self.ingestor.alerts.values())
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(self.clock.now())

    async def start(self) -> None:
        """Restore from the (open) store, then start the background loops (the HTTP client
        is bound to its session by then: see router/app.py). A store that cannot commit
        (restoring takes over outbox rows: a write) is waited for in the background: the
        app serves meanwhile, not ready, refusing writes with 503 (router/web/errors.py)."""
        if self.store.healthy:
            await self._start()
        else:
            log.warning("the store cannot commit: starting once it can")
            self._starting = asyncio.create_task(self._start_when_healthy(), name="start")

    async def _start_when_healthy(self) -> None:
        while True:
            await self.store.wait_healthy()
            try:
                await self._start()
            except StoreUnavailable as exc:
                self._failures.failure("start failed; waiting for the store", exc,
                                      level=logging.WARNING)
                continue
            log.info("the store commits again: started")
            return

    async def _start(self) -> None:
        # Loads the notification log, takes over the rows of a dead local worker and every
        # unheld pending row: before the dispatcher runs, so a newer state still replaces
        # an unsent row after a crash.
        await self.webpush.restore()  # before any row of a subscription is sent
        await self.delivery.restore()
        for silence in await self.store.load_silences():
            self.silences.add(silence)
        await self._announce_expired_silences()  # those that ended while we were down
        self.ingestor.restore(await self.store.load_alerts())
        self.events.head = (await self.store.event_bounds())[1]
        # Restored state is long-lived: keep it out of every later full GC pass.
        gc.collect()
        gc.freeze()
        self._tasks = [
            asyncio.create_task(self.dispatcher.run(), name="dispatcher"),
            asyncio.create_task(self.delivery.run(), name="delivery"),
            asyncio.create_task(self._gc_loop(), name="gc"),
            asyncio.create_task(self.events.run_keepalive(), name="stream-keepalive"),
            asyncio.create_task(self.reconciler.run(), name="reconcile"),
        ]
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        self.events.shutdown()  # live streams end first (SSE ends, WebSocket 1012)
        if self._starting is not None:
            self._starting.cancel()
            await asyncio.gather(self._starting, return_exceptions=True)
            self._starting = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.trace.flush()

    async def collect_garbage(self) -> None:
        async with self._collecting:
            await self._collect_garbage()

    async def _collect_garbage(self) -> None:
        now = self.clock.now()
        await self.ingestor.collect_garbage()
        await self.nflog.collect_garbage(now)
        await self.trace.collect_garbage()
        await self.store.gc_events(now - self.config.stream.retention)
        await self.delivery.dead_letters.collect_garbage(now)
        await self._announce_expired_silences()
        expired = gc_silences(self.silences, now)
        if expired:
            await self.store.delete_silences(expired)
            for sid in expired:
                self.silences.remove(sid)

    async def _announce_expired_silences(self) -> int:
        """`silence.expired` for every silence whose end passed since the last call (one
        expired through the API had its event then: its update time is its end). The
        mark moves in the events' transaction, so each is announced once, restarts
        included. Runs at start-up and in a GC pass, never two at once."""
        now = self.clock.now()
        mark = await self.store.silences_announced(now)
        ended = sorted((s for s in self.silences
                        if mark <= s.ends_at < now and s.updated_at < s.ends_at),
                       key=lambda s: (s.ends_at, s.id))
        await self.store.announce_silences(
            now, silence_events([(SILENCE_EXPIRED, s) for s in ended], now))
        return len(ended)

    async def _gc_loop(self) -> None:
        while True:
            await self.clock.sleep(GC_INTERVAL)
            try:
                await self.collect_garbage()
            except Exception as exc:
                self._failures.failure("garbage collection failed", exc)


def build_service(
    config: RouterConfig,
    store: Store,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
    config_path: str | None = None,
    overrides: dict[str, str] | None = None,
    rng: random.Random | None = None,
    log_stream: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> Service:
    """The whole graph for `config` on `store`; nothing runs until `start`.

    `environ` (default: the process environment, read here and only here) gives the
    proxy variables `http_config.proxy_from_environment` uses."""
    clock = clock or SystemClock()
    metrics = metrics or Metrics(CollectorRegistry())
    silences = SilenceIndex()
    http = HttpClient(now=clock.now, environ=os.environ if environ is None else environ)
    push = WebPushHub(store, clock, metrics)
    ref = RuntimeRef(compile_runtime(config, metrics, clock, http, silences,
                                     log_stream=log_stream, push=push))
    trace = TraceRecorder(store, clock)
    nflog = NotificationLog(store)
    delivery = DeliveryManager(store, clock, metrics, lambda: ref.current.config.delivery,
                               ref.channel,
                               rng=rng, trace=trace, nflog=nflog)
    pipeline = build_pipeline(ref, nflog, delivery, metrics, trace, delivery.dead_letters)
    dispatcher = Dispatcher(ref.current.router, clock, pipeline, trace, metrics=metrics,
                            policy=NoisePolicy(trace, metrics, clock.now))
    def limits() -> Limits:
        stream = ref.current.config.stream
        return Limits(stream.client_queue, stream.client_buffer)

    events = EventHub(metrics, clock, limits=limits,
                      keepalive=lambda: ref.current.config.stream.keepalive)
    store.event_sink = events.publish  # committed events go live after each commit

    def describe(alert: Alert) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The receivers and group keys an alert reaches now (for its event)."""
        routes = ref.current.router.match(alert.labels)
        return (tuple(dict.fromkeys(r.receiver for r in routes)),
                tuple(group_key(r, group_labels(r, alert.labels)) for r in routes))

    feed = AlertFeed(clock.now)
    ingestor = AlertIngestor(store, feed, clock, metrics, trace, in_use=dispatcher.holds,
                             describe=describe)

    def inhibit(change: AlertChange) -> None:
        # The inhibitor's source index must see every alert, whatever its receiver.
        inhibitor = ref.current.muter.inhibitor
        if change.alert is None:
            inhibitor.forget(change.fingerprint)
        else:
            inhibitor.observe(change.alert)

    feed.subscribe(inhibit)
    feed.subscribe(dispatcher.on_change)
    service = Service(
        ref=ref, clock=clock, metrics=metrics, store=store, feed=feed, ingestor=ingestor,
        dispatcher=dispatcher, pipeline=pipeline, delivery=delivery, nflog=nflog, trace=trace,
        events=events, silences=silences, http=http, webpush=push, config_path=config_path,
        overrides=dict(overrides or {}), log_stream=log_stream, started_at=clock.now(),
    )
    _export_gauges(service)
    metrics.config_last_reload_success_timestamp.set(clock.now())
    return service


def _export_gauges(service: Service) -> None:
    """Gauges computed at scrape time (counting on every request would be O(alerts))."""
    metrics, clock = service.metrics, service.clock

    def count_alerts(state_name: str) -> int:
        now = clock.now()
        muted = service.pipeline.mute.muted_fingerprints()
        firing = [fp for fp, a in service.ingestor.alerts.items() if not a.resolved(now)]
        suppressed = sum(1 for fp in firing if fp in muted)
        return suppressed if state_name == "suppressed" else len(firing) - suppressed

    def count_silences(state: SilenceState) -> int:
        now = clock.now()
        return sum(1 for s in service.silences if s.state(now) == state)

    # active / suppressed (muted at their last flush); resolved is set by the ingestor.
    for name in ("active", "suppressed"):
        metrics.alerts.labels(name).set_function(functools.partial(count_alerts, name))
    for st in SilenceState:
        metrics.silences.labels(st.value).set_function(functools.partial(count_silences, st))
