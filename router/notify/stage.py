"""The Stage protocol and the one chain a flushed batch runs through.

A `Flush` (the batch, its receiver, and the per-channel decisions once dedup has made them)
passes stage to stage: mute → dedup → enqueue, built in one place (notify/pipeline.py).
A stage returns the flush for the next stage, or a final answer: True when every
notification the batch asked for is durably queued (or there is nothing to send), False
when the group must keep its resolved alerts and decide again at the next flush.
The batch's `intent` (a group's flush, a storm digest or flapping notice, a storm's cover)
rides along; no stage is copied per intent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from router.channels.base import Channel
from router.config.types import Receiver
from router.model import Alert, Batch, NflogEntry, NotifyReason


class Action(Enum):
    SEND = "send"  # render and queue durably in the outbox
    LOG = "log"  # record in the notification log without sending
    WAIT = "wait"  # an older state is still on its way: decide again at the next flush


@dataclass(slots=True)  # not frozen: built per alert, frozen init costs
class Decision:
    """What one channel of the receiver does with this batch."""

    kind: str
    index: int
    channel: Channel
    action: Action
    reason: NotifyReason | None = None
    shown: tuple[Alert, ...] = ()  # the alerts a SEND renders
    entry: NflogEntry | None = None  # what a LOG records
    previous: NflogEntry | None = None  # the log's entry before this batch


@dataclass(slots=True)  # not frozen: built per alert, frozen init costs
class Flush:
    batch: Batch
    receiver: Receiver
    decisions: tuple[Decision, ...] = ()
    # The batch's fingerprints by status, computed once by the dedup stage.
    firing: frozenset[str] = frozenset()
    resolved: frozenset[str] = frozenset()


class Stage(Protocol):
    async def run(self, flush: Flush) -> Flush | bool:
        """The flush for the next stage, or the final answer."""


class Chain:
    """Stages in order; the last one must give the final answer."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self._stages = tuple(stages)

    async def run(self, flush: Flush) -> bool:
        for stage in self._stages:
            out = await stage.run(flush)
            if isinstance(out, bool):
                return out
            flush = out
        return True
