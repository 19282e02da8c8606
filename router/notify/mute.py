"""The mute stage: inhibition, time intervals and silences on a flushed batch.

The muters themselves live in noise/muting.py; this stage applies the running config's
muter at flush time (as Alertmanager does), drops muted alerts before dedup, and notes
each change of mute reason once in the metrics and the decision trace.
"""

from __future__ import annotations

from dataclasses import replace

from router.config.types import Receiver
from router.metrics import Metrics
from router.model import Batch
from router.nflog import NotificationLog
from router.noise.muting import NOT_MUTED, MuteResult
from router.notify.stage import Flush
from router.runtime import RuntimeRef
from router.trace import TraceRecorder


class MuteStage:
    """Runs the muter on a flushed batch; notes mute changes in the metrics and the trace.

    With the receiver option `send_resolved_when_silenced`, a silenced alert that resolves
    after it was notified as firing stays in the batch so its resolution is announced
    (Alertmanager #226).
    """

    def __init__(
        self,
        ref: RuntimeRef,
        nflog: NotificationLog,
        metrics: Metrics,
        trace: TraceRecorder | None = None,
    ) -> None:
        self._ref = ref
        self._nflog = nflog
        self._metrics = metrics
        self._trace = trace
        self._last: dict[str, dict[str, str]] = {}  # group key -> fingerprint -> reason

    def muted_fingerprints(self) -> set[str]:
        """Alerts muted at their group's last flush (for the alerts{state} gauge)."""
        out: set[str] = set()
        for muted in self._last.values():
            out.update(muted)
        return out

    async def run(self, flush: Flush) -> Flush | bool:
        """Alertmanager stops the pipeline when muting leaves nothing: the log keeps what
        was last announced (no "all resolved" recorded silently)."""
        batch = self.filter(flush.batch, flush.receiver)
        if not batch.alerts:
            return True
        return flush if batch is flush.batch else replace(flush, batch=batch)

    def filter(self, batch: Batch, receiver: Receiver) -> Batch:
        runtime = self._ref.current
        route = runtime.router.routes_by_id.get(batch.route_id)
        if route is None:
            return batch
        result = runtime.muter.apply(batch.alerts, route, batch.now)
        self._note(batch, result)
        if not result.muted:
            return batch
        kept = list(result.kept)
        if receiver.send_resolved_when_silenced:
            announced = self._nflog.notified_firing(batch.group_key, receiver)
            kept += [
                a for a in batch.alerts
                if a.fingerprint in announced and a.resolved(batch.now)
                and result.muted.get(a.fingerprint, NOT_MUTED).reason == "silence"
            ]
        return replace(batch, alerts=tuple(kept))

    def _note(self, batch: Batch, result: MuteResult) -> None:
        """Count and trace changes only: a silenced alert flushed every group_interval is
        one suppression, not one per flush."""
        if not result.muted and batch.group_key not in self._last:
            return  # the common case: nothing muted now or before
        now_muted = {fp: m.reason for fp, m in result.muted.items()}
        before = self._last.get(batch.group_key, {})
        for fp, reason in now_muted.items():
            if before.get(fp) != reason:
                self._metrics.notifications_suppressed.labels(reason).inc()
                if self._trace is not None:
                    self._trace.record(fp, "muted", group=batch.group_key,
                                       receiver=batch.receiver, **result.muted[fp].detail())
        if self._trace is not None:
            present = {a.fingerprint for a in batch.alerts}
            for fp in before.keys() - now_muted.keys():
                if fp in present:
                    self._trace.record(fp, "unmuted", group=batch.group_key,
                                       receiver=batch.receiver, was=before[fp])
        if now_muted:
            self._last[batch.group_key] = now_muted
        else:
            self._last.pop(batch.group_key, None)
