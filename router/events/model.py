"""Event: one human-visible change, as appended to the log and sent on every stream.

A writer builds an Event with `id` 0 and hands it to the store call that makes the change
(`events=`); the store assigns the id at commit (the stream cursor: strictly increasing)
and publishes the committed copy. `EventQuery` is a stream's filter, applied alike to the
replay (by the store) and to live events (by the hub).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.timefmt import format_time

# Types written to the log. `trace.<kind>` rows are the per-alert decision trace (see
# router/trace.py): in the log, but sent live only to a stream that asks for `type=trace.`.
ALERT_FIRING = "alert.firing"
ALERT_RESOLVED = "alert.resolved"
NOTIFICATION_QUEUED = "notification.queued"
NOTIFICATION_SENT = "notification.sent"
NOTIFICATION_FAILED = "notification.failed"
NOTIFICATION_DEAD = "notification.dead"
SILENCE_CREATED = "silence.created"
SILENCE_UPDATED = "silence.updated"
SILENCE_EXPIRED = "silence.expired"
TRACE_PREFIX = "trace."
# Stream control, never stored: `open` starts every stream (data: head, cursor); `reset`
# tells the client its cursor is gone (older than retention, or unknown): re-fetch a
# snapshot, then carry on from `head`.
OPEN = "open"
RESET = "reset"

TYPES = (
    ALERT_FIRING, ALERT_RESOLVED, NOTIFICATION_QUEUED, NOTIFICATION_SENT, NOTIFICATION_FAILED,
    NOTIFICATION_DEAD, SILENCE_CREATED, SILENCE_UPDATED, SILENCE_EXPIRED,
)
# A new type goes in TYPES and in router/metrics.py's STREAM_EVENT_TYPES (its label of
# alert_router_stream_events_total is created at start-up; a test checks they agree).

SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True, slots=True)
class Event:
    """One change. `receivers` and `severity` are what streams filter on; `fingerprint`
    names the one alert an event is about ("" for one about many, e.g. a notification,
    whose alerts are its data's `firing` and `resolved`)."""

    type: str
    at: float
    data: Mapping[str, Any]
    receivers: tuple[str, ...] = ()
    severity: str = ""
    fingerprint: str = ""
    id: int = 0  # assigned by the store at commit

    def envelope(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "time": format_time(self.at),
                "data": self.data}

    def encode(self) -> bytes:
        """The envelope as JSON (one line: SSE `data:` and WebSocket text frames)."""
        return orjson.dumps(self.envelope())

    def covers(self, fingerprint: str) -> bool:
        """Whether the event is about that alert: its own, or a notification naming it
        (the store links those through `event_alerts`)."""
        if self.fingerprint == fingerprint:
            return True
        if not self.type.startswith("notification."):
            return False
        return any(fingerprint in self.data.get(k, ()) for k in ("firing", "resolved"))

    @property
    def metric_type(self) -> str:
        return "trace" if self.type.startswith(TRACE_PREFIX) else self.type


@dataclass(frozen=True, slots=True)
class EventQuery:
    """A stream's filter. `types` are prefixes (`alert.` matches alert.firing); without
    any, every type except the decision trace's. `receiver`/`severity`: exact."""

    types: tuple[str, ...] = ()
    receiver: str = ""
    severity: str = ""
    fingerprint: str = ""

    def matches(self, event: Event) -> bool:
        if self.types:
            if not event.type.startswith(self.types):
                return False
        elif event.type.startswith(TRACE_PREFIX):
            return False
        if self.receiver and self.receiver not in event.receivers:
            return False
        if self.severity and event.severity != self.severity:
            return False
        return not self.fingerprint or event.covers(self.fingerprint)
