"""Pure domain values: alerts, fingerprints, batches, notify reasons and notifications.

Times are float seconds since the Unix epoch (UTC) everywhere inside the router; they are
converted to RFC 3339 only at the edges (JSON in, JSON out, templates) by `router.timefmt`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """Prometheus' `LabelSet.Fingerprint()`: FNV-1a 64 over sorted `name 0xFF value 0xFF`."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for byte in part.encode("utf-8"):
                h = ((h ^ byte) * _FNV_PRIME) & _MASK64
            h = ((h ^ _SEP) * _FNV_PRIME) & _MASK64
    return f"{h:016x}"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert as the router holds it. `labels` and `annotations` are never mutated.

    `ends_at` is None while firing with no known end (Alertmanager webhook input);
    `timeout_end` marks an `ends_at` that the router derived from `resolve_timeout`.
    `received_at` is when this occurrence was first ingested (for end-to-end latency).
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None
    generator_url: str
    fingerprint: str
    updated_at: float
    timeout_end: bool = False
    source: str = "api"
    received_at: float = 0.0

    def resolved(self, now: float) -> bool:
        return self.ends_at is not None and self.ends_at <= now

    def status(self, now: float) -> AlertStatus:
        return AlertStatus.RESOLVED if self.resolved(now) else AlertStatus.FIRING

    def same_content(self, other: Alert) -> bool:
        """True when a re-send carries nothing new (ignoring the refresh time)."""
        return (
            self.starts_at == other.starts_at
            and self.ends_at == other.ends_at
            and self.timeout_end == other.timeout_end
            and self.generator_url == other.generator_url
            and self.annotations == other.annotations
        )


def make_alert(
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    starts_at: float,
    ends_at: float | None,
    generator_url: str,
    now: float,
    *,
    timeout_end: bool = False,
    source: str = "api",
) -> Alert:
    return Alert(
        labels=dict(labels),
        annotations=dict(annotations),
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
        fingerprint=fingerprint(labels),
        updated_at=now,
        timeout_end=timeout_end,
        source=source,
        received_at=now,
    )


class NotifyReason(StrEnum):
    """Alertmanager's `notification_reason` values (0.32+)."""

    FIRST = "first notification"
    NEW_ALERTS = "new alerts added"
    SOME_RESOLVED = "some alerts resolved"
    ALL_RESOLVED = "all alerts resolved"
    REPEAT = "repeat interval elapsed"
    # alert-router's flap damping (route `flap`): the one notice for a flapping alert.
    FLAPPING = "alert flapping"
    UNKNOWN = "unknown"


class IntentKind(StrEnum):
    """What a batch asks of the notify chain."""

    NOTIFY = "notify"  # a group's flush: dedup decides per channel
    ANNOUNCE = "announce"  # a storm digest or a flapping notice: every alert is shown
    MARK = "mark"  # log the state as notified on every channel, send nothing


@dataclass(frozen=True, slots=True)
class Intent:
    """Carried by a batch through the one notify chain (mute → dedup → enqueue)."""

    kind: IntentKind = IntentKind.NOTIFY
    reason: NotifyReason | None = None  # None: the dedup decision (REPEAT when forced)
    digest: Mapping[str, Any] | None = None  # a storm digest's template data
    force: bool = False  # send even when the notification log already has this state


NOTIFY = Intent()
MARK = Intent(IntentKind.MARK)


@dataclass(frozen=True, slots=True)
class Batch:
    """A frozen snapshot of one aggregation group at flush time, passed between stages."""

    group_key: str
    route_id: str
    receiver: str
    group_labels: Mapping[str, str]
    alerts: tuple[Alert, ...]
    now: float
    repeat_interval: float
    group_interval: float
    intent: Intent = NOTIFY

    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if not a.resolved(self.now))

    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.resolved(self.now))


@dataclass(frozen=True, slots=True)
class NflogEntry:
    """What was last delivered to one channel of one receiver for one group."""

    key: str
    firing: frozenset[str]
    resolved: frozenset[str]
    sent_at: float
    expires_at: float
    data: Mapping[str, str] = field(default_factory=dict)


def nflog_key(group_key: str, receiver: str, channel: str, index: int,
              recipient: str = "") -> str:
    """Alertmanager keys its log by (group key, receiver, integration name, index); a
    fan-out channel's row for one recipient (a Web Push subscription) adds its id."""
    key = f"{group_key}\x1f{receiver}\x1f{channel}\x1f{index}"
    return f"{key}\x1f{recipient}" if recipient else key


def common_items(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Key/value pairs identical in every map (Alertmanager's commonLabels/Annotations)."""
    it = iter(maps)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for m in it:
        for k in list(common):
            if m.get(k) != common[k]:
                del common[k]
        if not common:
            break
    return common


def _compare_alerts(a: Alert, b: Alert) -> int:
    """Alertmanager's `AlertSlice.Less`: label `job`, then `instance` (an alert that has the
    label sorts before one that lacks it), then prometheus' `LabelSet.Before`."""
    for key in ("job", "instance"):
        av, bv = a.labels.get(key), b.labels.get(key)
        if av is None and bv is None:
            continue
        if av is None or bv is None:
            return 1 if av is None else -1
        if av != bv:
            return -1 if av < bv else 1
    return compare_label_sets(a.labels, b.labels)


def compare_label_sets(a: Mapping[str, str], b: Mapping[str, str]) -> int:
    """`LabelSet.Before`: fewer labels first; then, over the sorted union of names, the first
    name missing from one set puts that set first, else the first differing value decides."""
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    for name in sorted(a.keys() | b.keys()):
        if name not in a or name not in b:
            return -1 if name not in a else 1
        if a[name] != b[name]:
            return -1 if a[name] < b[name] else 1
    return 0


alert_sort_key = functools.cmp_to_key(_compare_alerts)


def sort_alerts(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    return tuple(sorted(alerts, key=alert_sort_key))


@dataclass(frozen=True, slots=True)
class Notification:
    """What one channel is asked to render: a batch after dedup and send_resolved filtering.

    `alerts` is sorted (Alertmanager's order) and holds only what this channel shows.
    """

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    alerts: tuple[Alert, ...]
    reason: NotifyReason
    now: float
    external_url: str
    # A storm digest's summary (route `storm`, see router/noise/storm.py); None otherwise.
    digest: Mapping[str, Any] | None = None
    # The UI whose silence page each alert's `silenceURL` opens (`server.silence_url`);
    # empty: this router's own UI at external_url.
    silence_url: str = ""

    @property
    def all_resolved(self) -> bool:
        return all(a.resolved(self.now) for a in self.alerts)


@dataclass(frozen=True, slots=True, repr=False)
class PushSubscription:
    """A browser's Web Push subscription (RFC 8030/8291) and the receivers it follows.

    `endpoint` is a capability (whoever knows it can push to the browser) and `auth` a
    shared secret: neither is ever logged or shown, so the repr names only the id.
    """

    id: int
    endpoint: str
    p256dh: str  # the browser's P-256 public key, base64url
    auth: str  # the 16-byte auth secret, base64url
    receivers: tuple[str, ...]
    created_at: float

    def __repr__(self) -> str:
        return f"PushSubscription(id={self.id}, receivers={list(self.receivers)!r})"
