"""The dedup stage: per channel, should this batch be sent, logged, or nothing (AM §7).

`decide` is Alertmanager's DedupStage over the notification log. `DedupStage` turns a
flush into one decision per channel of the receiver, by the batch's intent:
- a group's flush: dedup against the log, and against the row still queued for the same
  group and channel (an older state on its way is never overtaken by a silent one), and
  against a dead row of the same state whose budget is spent (router/delivery/dead.py);
- a storm digest or flapping notice: every alert is shown; with `force` a state the log
  already has is sent again (a digest goes out on its own schedule);
- a storm's cover: log the batch's state on every channel, keeping channel state such as
  a Slack message ts, so only later changes of the group notify.
"""

from __future__ import annotations

from typing import Protocol

from router.channels.base import Channel
from router.metrics import Metrics
from router.model import Alert, Batch, IntentKind, NflogEntry, NotifyReason, nflog_key
from router.nflog import NotificationLog
from router.notify.stage import Action, Decision, Flush
from router.runtime import RuntimeRef
from router.storage import OutboxRow


def decide(
    entry: NflogEntry | None,
    firing: frozenset[str],
    resolved: frozenset[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> NotifyReason | None:
    """Alertmanager's DedupStage, in its order. None means "nothing to send"."""
    if entry is None:
        return NotifyReason.FIRST if firing else None
    if not firing <= entry.firing:
        return NotifyReason.NEW_ALERTS if entry.firing else NotifyReason.FIRST
    if not firing:
        # "All resolved" is sent regardless of send_resolved so the log gets cleared.
        return NotifyReason.ALL_RESOLVED if entry.firing else None
    if send_resolved and not resolved <= entry.resolved:
        return NotifyReason.SOME_RESOLVED
    if entry.sent_at <= now - repeat_interval:
        return NotifyReason.REPEAT
    return None


class Queued(Protocol):
    def latest(self, key: str) -> OutboxRow | None:
        """The newest row of a group's channel that is queued or being sent, if any."""


class Dead(Protocol):
    def spent(self, key: str, firing: frozenset[str], resolved: frozenset[str], now: float,
              repeat_interval: float) -> bool:
        """This state of the group channel went dead with its budget spent, and is not due
        for a repeat (router/delivery/dead.py)."""


class DedupStage:
    def __init__(self, ref: RuntimeRef, nflog: NotificationLog, queued: Queued,
                 metrics: Metrics | None = None, dead: Dead | None = None) -> None:
        self._ref = ref
        self._nflog = nflog
        self._queued = queued
        self._metrics = metrics
        self._dead = dead

    async def run(self, flush: Flush) -> Flush | bool:
        batch = flush.batch
        firing = batch.firing()
        firing_fps = frozenset(a.fingerprint for a in firing)
        resolved_fps = frozenset(a.fingerprint for a in batch.alerts) - firing_fps
        kind_of_intent = batch.intent.kind
        runtime = self._ref.current
        decisions = []
        for kind, index, _cfg in flush.receiver.channels():
            channel = runtime.channel(flush.receiver.name, kind, index)
            if channel is None:
                continue
            key = nflog_key(batch.group_key, flush.receiver.name, kind, index)
            previous = self._nflog.get(key)
            if kind_of_intent is IntentKind.NOTIFY:
                decision = self._notify(batch, kind, index, channel, previous, key, firing,
                                        firing_fps, resolved_fps)
            elif kind_of_intent is IntentKind.ANNOUNCE:
                decision = self._announce(batch, kind, index, channel, previous,
                                          firing_fps, resolved_fps)
            else:
                decision = self._mark(batch, kind, index, channel, previous, key,
                                      firing_fps, resolved_fps)
            if decision is not None:
                decisions.append(decision)
        if not decisions:
            return True
        return Flush(batch, flush.receiver, tuple(decisions), firing_fps, resolved_fps)

    def _notify(self, batch: Batch, kind: str, index: int, channel: Channel,
                previous: NflogEntry | None, key: str, firing: tuple[Alert, ...],
                firing_fps: frozenset[str], resolved_fps: frozenset[str]) -> Decision | None:
        queued = self._queued.latest(key)
        if queued is not None and (queued.firing, queued.resolved) == (firing_fps, resolved_fps):
            return None  # this exact state is already queued or being sent
        if queued is None and self._dead is not None and self._dead.spent(
                key, firing_fps, resolved_fps, batch.now, batch.repeat_interval):
            # This exact state went dead with its budget spent: a re-flush is no new
            # notification (a dead letter per flush was unbounded).
            if self._metrics is not None:
                self._metrics.child(self._metrics.notifications_suppressed, "dedup").inc()
            return None
        reason = decide(previous, firing_fps, resolved_fps,
                        send_resolved=channel.send_resolved,
                        repeat_interval=batch.repeat_interval, now=batch.now)
        shown = batch.alerts if channel.send_resolved else firing
        if queued is not None and (reason is None or not shown):
            # An older state is still on its way and nothing would replace it: decide
            # again once it has landed in the log, or the resolution would be lost
            # behind it (a late "firing" must not be the last word).
            return Decision(kind, index, channel, Action.WAIT, previous=previous)
        if reason is None:
            if self._metrics is not None:
                self._metrics.child(self._metrics.notifications_suppressed, "dedup").inc()
            return None
        if not shown:
            # Only resolutions, and this channel does not announce them: log it as sent
            # so the log is cleared, exactly like Alertmanager.
            entry = NflogEntry(key, firing_fps, resolved_fps, batch.now,
                               batch.now + 2 * batch.repeat_interval)
            return Decision(kind, index, channel, Action.LOG, entry=entry, previous=previous)
        return Decision(kind, index, channel, Action.SEND, reason, shown, previous=previous)

    def _announce(self, batch: Batch, kind: str, index: int, channel: Channel,
                  previous: NflogEntry | None, firing_fps: frozenset[str],
                  resolved_fps: frozenset[str]) -> Decision | None:
        reason = batch.intent.reason or decide(
            previous, firing_fps, resolved_fps, send_resolved=channel.send_resolved,
            repeat_interval=batch.repeat_interval, now=batch.now)
        if reason is None:
            if not batch.intent.force:
                return None
            reason = (NotifyReason.REPEAT if previous is not None
                      else NotifyReason.FIRST if firing_fps else NotifyReason.ALL_RESOLVED)
        return Decision(kind, index, channel, Action.SEND, reason, batch.alerts,
                        previous=previous)

    def _mark(self, batch: Batch, kind: str, index: int, channel: Channel,
              previous: NflogEntry | None, key: str, firing_fps: frozenset[str],
              resolved_fps: frozenset[str]) -> Decision:
        entry = NflogEntry(key, firing_fps, resolved_fps, batch.now,
                           batch.now + 2 * batch.repeat_interval,
                           previous.data if previous is not None else {})
        return Decision(kind, index, channel, Action.LOG, entry=entry, previous=previous)
