"""Reconcile relayed alerts with the upstream Alertmanager (`sources.alertmanager.reconcile`).

Alertmanager never announces over the webhook that a silenced (or inhibited) alert
resolved (its issue #226), so a relayed alert would stay firing here for ever. Every
`interval` this polls the upstream's `GET /api/v2/alerts` (every alert it holds unresolved,
silenced and inhibited included) and resolves here each alert that came over the webhook,
is firing here, was not updated since the poll began, and is absent upstream: as if
Alertmanager had sent its resolution. A failed poll (transport, status, body) changes
nothing; `alert_router_reconcile_last_success_timestamp_seconds` shows the last good one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable
from typing import Any

from router.channels.http import HttpClient
from router.clock import Clock
from router.config.source_types import ReconcileConfig
from router.errors import DeliveryError, RouterError
from router.ingest.ingestor import AlertIngestor
from router.logs import RepeatLog
from router.metrics import Metrics
from router.model import Alert, fingerprint
from router.timefmt import parse_time

log = logging.getLogger(__name__)

# How often to look for a `reconcile` section while none is configured (a reload adds one).
IDLE_CHECK = 60.0
ENDPOINT = "upstream alertmanager"


class UpstreamError(RouterError):
    """The upstream answered, but not with what Alertmanager's API v2 answers."""


class Reconciler:
    """Owns the poll loop; `poll` is one pass (tests drive it on the fake clock)."""

    def __init__(self, ingestor: AlertIngestor, http: HttpClient, clock: Clock,
                 metrics: Metrics, config: Callable[[], ReconcileConfig | None]) -> None:
        self._ingestor = ingestor
        self._http = http
        self._clock = clock
        self._metrics = metrics
        self._config = config
        self._failures = RepeatLog(log, clock.now)
        self.passes = 0  # polls finished, failed or not (tests wait on it)

    async def run(self) -> None:
        while True:
            cfg = self._config()
            await self._clock.sleep(cfg.interval if cfg is not None else IDLE_CHECK)
            cfg = self._config()  # a reload may have changed it while we slept
            if cfg is None:
                continue
            try:
                await self._pass(cfg)
            finally:
                self.passes += 1

    async def _pass(self, cfg: ReconcileConfig) -> None:
        try:
            await self.poll(cfg)
        except (DeliveryError, UpstreamError) as exc:
            self._metrics.reconcile_failures.inc()
            self._failures.failure("reconcile with the upstream Alertmanager failed; "
                                   "nothing changed", exc, level=logging.WARNING)
        except Exception as exc:  # a bug of ours: the loop must go on
            self._metrics.reconcile_failures.inc()
            self._failures.failure("reconcile failed", exc)

    async def poll(self, cfg: ReconcileConfig) -> int:
        """One pass; returns how many alerts it resolved. Raises DeliveryError (transport)
        or UpstreamError (answer) with nothing changed."""
        started = self._clock.now()
        up_since = _uptime(await self._get(cfg, "/api/v2/status"))
        upstream = _fingerprints(await self._get(cfg, "/api/v2/alerts"))
        now = self._clock.now()
        self._metrics.reconcile_last_success.set(now)
        if now - up_since < cfg.startup_grace:
            return 0  # just restarted: it holds nothing until Prometheus re-sends
        gone = [a for a in self._ingestor.alerts.values() if _relayed_firing(a, now)
                and a.updated_at <= started and a.fingerprint not in upstream]
        if not gone:
            return 0
        resolved = [dataclasses.replace(a, ends_at=now, timeout_end=False, updated_at=now,
                                        source="reconcile") for a in gone]
        await self._ingestor.accept(resolved, "reconcile")
        self._metrics.reconcile_resolved.inc(len(resolved))
        log.info("resolved alerts the upstream Alertmanager no longer has",
                 extra={"count": len(resolved)})
        return len(resolved)

    async def _get(self, cfg: ReconcileConfig, path: str) -> Any:
        status, _, text = await self._http.post(
            cfg.url + path, b"", headers={"Accept": "application/json"},
            timeout=cfg.timeout, endpoint=ENDPOINT, http_config=cfg.http_config,
            method="GET")
        if status != 200:
            raise UpstreamError(f"{ENDPOINT} answered HTTP {status} to GET {path}")
        try:
            return json.loads(text)
        except ValueError:
            raise UpstreamError(f"{ENDPOINT} answered GET {path} with invalid JSON") from None


def _relayed_firing(alert: Alert, now: float) -> bool:
    return alert.source == "alertmanager" and not alert.resolved(now)


def _uptime(body: Any) -> float:
    """`uptime` of `GET /api/v2/status`: when the upstream started."""
    raw = body.get("uptime") if isinstance(body, dict) else None
    try:
        since = parse_time(raw) if isinstance(raw, str) else None
    except ValueError:
        since = None
    if since is None:
        raise UpstreamError(f"{ENDPOINT} status has no valid `uptime`")
    return since


def _fingerprints(body: Any) -> set[str]:
    """The fingerprints of `GET /api/v2/alerts` (recomputed from the labels: the same
    algorithm, and it does not trust a field that a proxy in between could drop)."""
    if not isinstance(body, list):
        raise UpstreamError(f"{ENDPOINT} alerts answer is not a JSON array")
    out: set[str] = set()
    for item in body:
        labels = item.get("labels") if isinstance(item, dict) else None
        if not isinstance(labels, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise UpstreamError(f"{ENDPOINT} alerts answer holds an alert without labels")
        out.add(fingerprint(labels))
    return out
