"""The one builder of the notify chain: a flushed batch → mute → dedup → enqueue.

The dispatcher calls the `Pipeline` for every batch it flushes: a group's flush, a storm
digest, a flapping notice or a storm's cover (the batch's `intent` says which). Every
batch takes the same stages; production and tests build them here and nowhere else.
"""

from __future__ import annotations

from typing import Protocol

from router.metrics import Metrics
from router.model import Batch
from router.nflog import NotificationLog
from router.notify.dedup import Dead, DedupStage, Queued
from router.notify.enqueue import Enqueue, EnqueueStage
from router.notify.mute import MuteStage
from router.notify.stage import Chain, Flush
from router.runtime import RuntimeRef
from router.trace import TraceRecorder


class Outbox(Queued, Enqueue, Protocol):
    """What the chain needs of the delivery side: see what is queued, queue more."""


class Pipeline:
    """Called by the dispatcher for each batch; True once all of it is durably queued."""

    def __init__(self, ref: RuntimeRef, mute: MuteStage, chain: Chain) -> None:
        self._ref = ref
        self.mute = mute
        self._chain = chain

    async def __call__(self, batch: Batch) -> bool:
        receiver = self._ref.current.receivers.get(batch.receiver)
        if receiver is None:
            return True  # a reload removed it; nothing to deliver to
        return await self._chain.run(Flush(batch, receiver))


def build_pipeline(
    ref: RuntimeRef,
    nflog: NotificationLog,
    outbox: Outbox,
    metrics: Metrics,
    trace: TraceRecorder | None = None,
    dead: Dead | None = None,
) -> Pipeline:
    mute = MuteStage(ref, nflog, metrics, trace)
    chain = Chain([
        mute,
        DedupStage(ref, nflog, outbox, metrics, dead),
        EnqueueStage(ref, nflog, outbox, trace),
    ])
    return Pipeline(ref, mute, chain)
