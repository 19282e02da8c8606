"""A flushed batch → per channel: dedup → send_resolved filter → render → durable outbox.

Muting stages (inhibition, silences, time intervals) run before the fan-out. Storm digests
and flapping notices (`announce`) take the same path with their own group keys; a storm's
end logs the covered groups as notified (`mark_notified`) so they do not all re-notify.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from router.channels.base import Channel
from router.config.types import Receiver
from router.delivery.worker import DeliveryManager
from router.metrics import Metrics
from router.model import (
    Alert,
    Batch,
    NflogEntry,
    Notification,
    NotifyReason,
    nflog_key,
    sort_alerts,
)
from router.noise.muting import MuteStage
from router.notify.dedup import decide
from router.routing.grouping import Announcement
from router.storage import OutboxRow
from router.trace import TraceRecorder

log = logging.getLogger(__name__)

_PRIORITY = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}


def priority_of(alerts: tuple[Alert, ...]) -> int:
    """Lower is more urgent: the most severe `severity` label among the alerts."""
    return min((_PRIORITY.get(a.labels.get("severity", ""), 2) for a in alerts), default=2)


class Notifier:
    """Called by the dispatcher for each flushed group."""

    def __init__(
        self,
        delivery: DeliveryManager,
        receivers: Callable[[], dict[str, Receiver]],
        channels: Callable[[str, str, int], Channel | None],
        external_url: Callable[[], str],
        trace: TraceRecorder | None = None,
        mute: MuteStage | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._trace = trace
        self._mute = mute
        self._metrics = metrics
        self._delivery = delivery
        self._receivers = receivers
        self._channels = channels
        self._external_url = external_url

    async def notify(self, batch: Batch) -> bool:
        receiver = self._receivers().get(batch.receiver)
        if receiver is None:
            return True  # a reload removed it; nothing to deliver to
        if self._mute is not None:
            batch = self._mute.run(batch, receiver)
            if not batch.alerts:
                # Alertmanager stops the pipeline when a stage leaves nothing: the log
                # keeps what was last announced (no "all resolved" recorded silently).
                return True
        firing = batch.firing()
        firing_fps = frozenset(a.fingerprint for a in firing)
        resolved_fps = frozenset(a.fingerprint for a in batch.alerts) - firing_fps
        ops = []
        done = True
        for kind, index, _cfg in receiver.channels():
            channel = self._channels(receiver.name, kind, index)
            if channel is None:
                continue
            op = self._one(batch, receiver.name, kind, index, channel, firing, firing_fps,
                           resolved_fps)
            if isinstance(op, bool):
                done = done and op
            else:
                ops.append(op)
        if len(ops) == 1:
            await ops[0]  # the common case: no task needed
        elif ops:
            await asyncio.gather(*ops)
        # False keeps the group's resolved alerts for the next flush.
        return done

    async def announce(self, batch: Batch, note: Announcement) -> bool:
        """Queue a storm digest or a flapping notice on every channel of the receiver.

        Unlike `notify` every alert is shown (firing and resolved: it is a summary), and with
        `note.force` a state the notification log already has is sent again (a digest goes
        out on its own schedule)."""
        receiver = self._receivers().get(batch.receiver)
        if receiver is None:
            return True
        if self._mute is not None:
            batch = self._mute.run(batch, receiver)
        if not batch.alerts:
            return True
        firing_fps = frozenset(a.fingerprint for a in batch.firing())
        resolved_fps = frozenset(a.fingerprint for a in batch.alerts) - firing_fps
        digest = None
        if note.digest is not None:
            link = self._external_url().rstrip("/") + "/api/v1/alerts"
            digest = {**note.digest, "alertsURL": link}
        ops = []
        for kind, index, _cfg in receiver.channels():
            channel = self._channels(receiver.name, kind, index)
            if channel is None:
                continue
            previous = self._delivery.nflog.get(nflog_key(batch.group_key, receiver.name,
                                                          kind, index))
            reason = note.reason or decide(
                previous, firing_fps, resolved_fps, send_resolved=channel.send_resolved,
                repeat_interval=batch.repeat_interval, now=batch.now,
            )
            if reason is None:
                if not note.force:
                    continue
                reason = (NotifyReason.REPEAT if previous is not None
                          else NotifyReason.FIRST if firing_fps else NotifyReason.ALL_RESOLVED)
            ops.append(self._enqueue(batch, receiver.name, kind, index, channel, batch.alerts,
                                     reason, firing_fps, resolved_fps, digest))
        if ops:
            await asyncio.gather(*ops)
        return True

    async def mark_notified(self, batch: Batch) -> None:
        """Log the batch's (muted-filtered) state as delivered on every channel without
        sending it, keeping channel state such as a Slack message ts: a storm's digests
        covered it, so only later changes of the group notify."""
        receiver = self._receivers().get(batch.receiver)
        if receiver is None:
            return
        if self._mute is not None:
            batch = self._mute.run(batch, receiver)
        if not batch.alerts:
            return  # all muted or held: keep whatever the log says
        firing_fps = frozenset(a.fingerprint for a in batch.firing())
        resolved_fps = frozenset(a.fingerprint for a in batch.alerts) - firing_fps
        ops = []
        for kind, index, _cfg in receiver.channels():
            key = nflog_key(batch.group_key, receiver.name, kind, index)
            previous = self._delivery.nflog.get(key)
            entry = NflogEntry(key, firing_fps, resolved_fps, batch.now,
                               batch.now + 2 * batch.repeat_interval,
                               previous.data if previous is not None else {})
            ops.append(self._delivery.record_silent(entry))
        await asyncio.gather(*ops)

    def _one(
        self,
        batch: Batch,
        receiver: str,
        kind: str,
        index: int,
        channel: Channel,
        firing: tuple[Alert, ...],
        firing_fps: frozenset[str],
        resolved_fps: frozenset[str],
    ) -> Coroutine[Any, Any, None] | bool:
        """The queueing of this channel's notification, or True (nothing to send) or False
        (decide again at the next flush)."""
        key = nflog_key(batch.group_key, receiver, kind, index)
        queued = self._delivery.latest(key)
        if queued is not None and (queued.firing, queued.resolved) == (firing_fps, resolved_fps):
            return True  # this exact state is already queued or being sent
        reason = decide(
            self._delivery.nflog.get(key), firing_fps, resolved_fps,
            send_resolved=channel.send_resolved, repeat_interval=batch.repeat_interval,
            now=batch.now,
        )
        shown = batch.alerts if channel.send_resolved else firing
        if queued is not None and (reason is None or not shown):
            # An older state is still on its way and nothing would replace it: decide
            # again once it has landed in the log, or the resolution would be lost
            # behind it (a late "firing" must not be the last word).
            return False
        if reason is None:
            if self._metrics is not None:
                self._metrics.child(self._metrics.notifications_suppressed, "dedup").inc()
            return True
        expires_in = 2 * batch.repeat_interval
        if not shown:
            # Only resolutions, and this channel does not announce them: log it as sent
            # so the log is cleared, exactly like Alertmanager.
            entry = NflogEntry(key, firing_fps, resolved_fps, batch.now, batch.now + expires_in)
            return self._delivery.record_silent(entry)
        return self._enqueue(batch, receiver, kind, index, channel, shown, reason,
                             firing_fps, resolved_fps)

    def _enqueue(
        self,
        batch: Batch,
        receiver: str,
        kind: str,
        index: int,
        channel: Channel,
        shown: tuple[Alert, ...],
        reason: NotifyReason,
        firing_fps: frozenset[str],
        resolved_fps: frozenset[str],
        digest: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, None]:
        """Render this channel's notification once and queue it durably."""
        key = nflog_key(batch.group_key, receiver, kind, index)
        expires_in = 2 * batch.repeat_interval
        n = Notification(
            receiver=receiver,
            group_key=batch.group_key,
            group_labels=batch.group_labels,
            alerts=sort_alerts(shown),
            reason=reason,
            now=batch.now,
            external_url=self._external_url(),
            digest=digest,
        )
        row = OutboxRow(
            id=0,
            receiver=receiver,
            channel=kind,
            index=index,
            group_key=batch.group_key,
            payload=channel.render(n),
            firing=firing_fps,
            resolved=resolved_fps,
            reason=str(reason),
            priority=priority_of(shown),
            created_at=batch.now,
            ingested_at=max(a.received_at for a in shown),
            next_attempt_at=batch.now,
            all_resolved=not firing_fps,
            expires_in=expires_in,
        )
        if self._trace is not None:
            previous = self._delivery.nflog.get(key)
            for alert in shown:
                status = "firing" if alert.fingerprint in firing_fps else "resolved"
                known = (previous.firing if status == "firing" else previous.resolved
                         ) if previous else frozenset()
                if alert.fingerprint not in known or reason == NotifyReason.REPEAT:
                    self._trace.record(alert.fingerprint, "queued", receiver=receiver,
                                       channel=f"{kind}[{index}]", status=status,
                                       reason=str(reason), group=batch.group_key)
        return self._delivery.enqueue(row)
