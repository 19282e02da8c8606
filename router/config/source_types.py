"""Value types of `sources.alertmanager`: how alerts relayed by an upstream Alertmanager
are kept honest (reconcile against its API, a staleness bound for webhook alerts).

A value module (router/config/types.py re-exports it): imports no run-time module.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from router.config.http_types import HttpConfig


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """Poll `url`'s `GET /api/v2/alerts` every `interval`; resolve here what is gone there.

    `startup_grace`: no alert is resolved while the upstream has been up for less than
    this (a restarted Alertmanager holds no alerts until Prometheus re-sends them)."""

    url: str
    interval: float = 60.0
    timeout: float = 10.0
    startup_grace: float = 300.0
    http_config: HttpConfig = field(default_factory=HttpConfig)


@dataclass(frozen=True, slots=True)
class AlertmanagerSourceConfig:
    """`sources.alertmanager`: the webhook input from an Alertmanager relaying to us."""

    reconcile: ReconcileConfig | None = None
    # A webhook alert not re-sent for this long resolves here (None: never by time).
    webhook_alert_timeout: float | None = None
