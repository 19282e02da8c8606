"""Circuits per delivery target: a receiver that cannot be reached is probed, not hammered.

A connection error or a timeout (`FailureReason.NETWORK`/`TIMEOUT`) opens the target's
circuit for a backoff period (`delivery.backoff_base`, doubling per failed probe, at most
`delivery.backoff_cap`). While it is open no send to the target starts: its rows wait in
the outbox keeping their attempts (the circuit backs off, not each row). When the period is
over exactly one row is sent as a probe; any answer from the receiver (even an error
status) closes the circuit and the queue goes out at its normal pace; another connection
failure opens it again for longer. Opening and closing are logged once each (never per
attempt) and `alert_router_delivery_circuit_open{channel}` counts the open targets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from router.errors import FailureReason
from router.metrics import Metrics

log = logging.getLogger("router.delivery.worker")

UNREACHABLE = frozenset({FailureReason.NETWORK, FailureReason.TIMEOUT})
PROBING = float("inf")  # `blocked_until` while the probe is in flight: woken when it ends


@dataclass(slots=True)
class _Circuit:
    channel: str  # the channel type, for the metric and the log
    opens: int = 0  # failed probes in a row (1 when it first opened)
    until: float = 0.0
    probing: bool = False


class Circuits:
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics
        self._open: dict[str, _Circuit] = {}  # only targets whose circuit is not closed

    def is_open(self, target: str) -> bool:
        return target in self._open

    def blocked_until(self, target: str, now: float) -> float | None:
        """None if a send to `target` may start now; otherwise when to look again."""
        circuit = self._open.get(target)
        if circuit is None:
            return None
        if circuit.probing:
            return PROBING
        return None if now >= circuit.until else circuit.until

    def started(self, target: str) -> None:
        """A send to `target` starts: while its circuit is open, that send is the probe."""
        circuit = self._open.get(target)
        if circuit is not None:
            circuit.probing = True

    def ended(self, target: str) -> None:
        """A send to `target` is over. A probe that reported no outcome (its lease ran out,
        its state was already delivered) lets the next row probe."""
        circuit = self._open.get(target)
        if circuit is not None:
            circuit.probing = False

    def failed(self, target: str, channel: str, reason: FailureReason, now: float,
               base: float, cap: float) -> None:
        """A send to `target` failed; a connection failure opens (or re-opens) its circuit."""
        if reason not in UNREACHABLE:
            self.answered(target)
            return
        circuit = self._open.get(target)
        if circuit is None:
            circuit = self._open[target] = _Circuit(channel)
            self._metrics.child(self._metrics.circuit_open, channel).inc()
        elif not circuit.probing:
            return  # a send started before the circuit opened: the period stands
        circuit.opens += 1
        circuit.probing = False
        period = min(cap, base * 2 ** (circuit.opens - 1))
        circuit.until = now + period
        if circuit.opens == 1:
            log.warning("delivery target unreachable, circuit opened",
                        extra={"channel": channel, "target": target, "reason": str(reason),
                               "probe_in": round(period, 3)})

    def answered(self, target: str) -> None:
        """The receiver answered (delivered or any error status): close its circuit."""
        circuit = self._open.pop(target, None)
        if circuit is None:
            return
        self._metrics.child(self._metrics.circuit_open, circuit.channel).dec()
        log.info("delivery target reachable again, circuit closed",
                    extra={"channel": circuit.channel, "target": target,
                           "failed_probes": circuit.opens - 1})
