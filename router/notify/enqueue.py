"""The enqueue stage: carry out the per-channel decisions durably.

A SEND renders the channel's notification once and queues it in the outbox (a newer state
replaces an unsent older one there); a LOG records the notification log entry without
sending. Both are committed before the stage answers, so a group drops its resolved
alerts only once their notification cannot be lost. A WAIT answers False: the group keeps
its resolved alerts and decides again at the next flush.

A fan-out channel (Web Push) is queued as one row per recipient registered now, all with
the same rendered payload, and its notification log entry is written with them: what the
receiver was notified of is decided once, each recipient's row then lives its own life
(pacing, retries, dead letter), so a retry never re-sends to a recipient that got it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace
from typing import Any, Protocol

from router.channels.base import FanOut
from router.model import (
    Alert,
    IntentKind,
    NflogEntry,
    Notification,
    NotifyReason,
    nflog_key,
    sort_alerts,
)
from router.nflog import NotificationLog
from router.notify.stage import Action, Decision, Flush
from router.runtime import RuntimeRef
from router.storage import OutboxRow
from router.trace import TraceRecorder

_PRIORITY = {"critical": 0, "page": 0, "error": 1, "warning": 2, "info": 3}


def priority_of(alerts: tuple[Alert, ...]) -> int:
    """Lower is more urgent: the most severe `severity` label among the alerts."""
    return min((_PRIORITY.get(a.labels.get("severity", ""), 2) for a in alerts), default=2)


class Enqueue(Protocol):
    def enqueue(self, row: OutboxRow) -> Awaitable[None]:
        """Durably queue a notification; a newer state replaces an unsent older one."""


class EnqueueStage:
    def __init__(self, ref: RuntimeRef, nflog: NotificationLog, outbox: Enqueue,
                 trace: TraceRecorder | None = None) -> None:
        self._ref = ref
        self._nflog = nflog
        self._outbox = outbox
        self._trace = trace

    async def run(self, flush: Flush) -> Flush | bool:
        ops: list[Awaitable[None]] = []
        done = True
        for d in flush.decisions:
            if d.action is Action.WAIT:
                done = False
            elif d.action is Action.LOG:
                assert d.entry is not None
                ops.append(self._nflog.record(d.entry))
            else:
                ops.append(self._send(flush, d))
        if len(ops) == 1:
            await ops[0]  # the common case: no task needed
        elif ops:
            await asyncio.gather(*ops)
        return done

    def _send(self, flush: Flush, d: Decision) -> Awaitable[None]:
        """Render this channel's notification once and queue it durably."""
        batch = flush.batch
        assert d.reason is not None
        firing_fps, resolved_fps = flush.firing, flush.resolved
        external_url = self._ref.current.config.server.external_url
        digest: dict[str, Any] | None = None
        if batch.intent.kind is IntentKind.ANNOUNCE and batch.intent.digest is not None:
            digest = {**batch.intent.digest,
                      "alertsURL": external_url.rstrip("/") + "/api/v1/alerts"}
        n = Notification(
            receiver=flush.receiver.name,
            group_key=batch.group_key,
            group_labels=batch.group_labels,
            alerts=sort_alerts(d.shown),
            reason=d.reason,
            now=batch.now,
            external_url=external_url,
            digest=digest,
            silence_url=self._ref.current.config.server.silence_url,
        )
        row = OutboxRow(
            id=0,
            receiver=flush.receiver.name,
            channel=d.kind,
            index=d.index,
            group_key=batch.group_key,
            payload=d.channel.render(n),
            firing=firing_fps,
            resolved=resolved_fps,
            reason=str(d.reason),
            priority=priority_of(d.shown),
            created_at=batch.now,
            ingested_at=max(a.received_at for a in d.shown),
            next_attempt_at=batch.now,
            all_resolved=not firing_fps,
            expires_in=2 * batch.repeat_interval,
        )
        if self._trace is not None:
            self._trace_queued(flush, d, firing_fps)
        if isinstance(d.channel, FanOut):
            return self._fan_out(d, d.channel, row)
        return self._outbox.enqueue(row)

    async def _fan_out(self, d: Decision, channel: FanOut, row: OutboxRow) -> None:
        """One row per recipient, and the receiver-level log entry, in one commit."""
        key = nflog_key(row.group_key, row.receiver, row.channel, row.index)
        data = d.previous.data if d.previous is not None else {}
        entry = NflogEntry(key, row.firing, row.resolved, row.created_at,
                           row.created_at + row.expires_in, data)
        await asyncio.gather(
            self._nflog.record(entry),
            *(self._outbox.enqueue(replace(row, recipient=r))
              for r in channel.recipients(row.receiver)))

    def _trace_queued(self, flush: Flush, d: Decision, firing_fps: frozenset[str]) -> None:
        assert self._trace is not None
        previous = d.previous
        for alert in d.shown:
            status = "firing" if alert.fingerprint in firing_fps else "resolved"
            known = (previous.firing if status == "firing" else previous.resolved
                     ) if previous else frozenset()
            if alert.fingerprint not in known or d.reason == NotifyReason.REPEAT:
                self._trace.record(alert.fingerprint, "queued", receiver=flush.receiver.name,
                                   channel=f"{d.kind}[{d.index}]", status=status,
                                   reason=str(d.reason), group=flush.batch.group_key)
