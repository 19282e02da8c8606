"""The notification-log decision: should this channel be notified, and why (Alertmanager §7)."""

from __future__ import annotations

from router.model import NflogEntry, NotifyReason


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
