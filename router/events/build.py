"""The events each writer appends: what an alert, notification or silence change looks
like on the stream. Writers call these and pass the result to the store call that makes
the change (`events=`), so the event commits with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from router.events import model as m
from router.events.model import Event
from router.model import Alert
from router.noise.silence_api import silence_to_api
from router.noise.silences import Silence
from router.storage.protocols import OutboxRow
from router.timefmt import MAX_TIME, MIN_TIME, format_time

# Outbox priority (router/notify/enqueue.py) back to the severity it came from.
_SEVERITY = dict(enumerate(m.SEVERITIES))


def _time(ts: float) -> str:
    """`timefmt.format_time`, clamped: an alert held with a time outside the accepted
    range (an older version's database) must not fail the ingest its event rides on."""
    return format_time(min(max(ts, MIN_TIME), MAX_TIME))


def alert_event(alert: Alert, now: float, receivers: tuple[str, ...],
                group_keys: tuple[str, ...]) -> Event:
    """`alert.firing` or `alert.resolved`, with what a person needs to see it."""
    firing = not alert.resolved(now)
    data: dict[str, Any] = {
        "fingerprint": alert.fingerprint,
        "status": "firing" if firing else "resolved",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "receivers": list(receivers),
        "groupKeys": list(group_keys),
        "startsAt": _time(alert.starts_at),
        "endsAt": None if alert.ends_at is None else _time(alert.ends_at),
        "generatorURL": alert.generator_url,
    }
    return Event(m.ALERT_FIRING if firing else m.ALERT_RESOLVED, now, data, receivers,
                 alert.labels.get("severity", ""), alert.fingerprint)


def alert_transition(old: Alert | None, new: Alert, now: float) -> bool:
    """Whether this change is one a person sees: an alert starts firing (new, or again
    after it resolved) or a firing alert resolves. Refreshes and edits are not."""
    firing = not new.resolved(now)
    if old is None:
        return firing
    return firing == old.resolved(now)


def notification_event(kind: str, row: OutboxRow, now: float, **extra: Any) -> Event:
    """`notification.<kind>` for one outbox row (one channel of one receiver and group)."""
    data: dict[str, Any] = {
        "receiver": row.receiver,
        "channel": f"{row.channel}[{row.index}]",
        "groupKey": row.group_key,
        "reason": row.reason,
        "firing": sorted(row.firing),
        "resolved": sorted(row.resolved),
        **extra,
    }
    if row.id:
        data["deliveryId"] = row.id
    return Event(f"notification.{kind}", now, data, (row.receiver,),
                 _SEVERITY.get(row.priority, ""))


def silence_events(changed: Iterable[tuple[str, Silence]], now: float) -> list[Event]:
    """`silence.created|updated|expired` for (type, silence) pairs. An expiry shows the
    state just after it: a silence expired now ends now, and its end is inclusive."""
    return [Event(kind, now, silence_to_api(
        s, max(now, s.ends_at) + 0.001 if kind == m.SILENCE_EXPIRED else now))
        for kind, s in changed]


def queued(row: OutboxRow, now: float) -> list[Event]:
    """The event of a notification queued (new, replacing an unsent state, or revived)."""
    return [notification_event("queued", row, now)]
