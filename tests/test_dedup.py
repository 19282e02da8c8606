"""The notification-log decision (Alertmanager's DedupStage, §7), branch by branch."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

import pytest

from router.model import NflogEntry, NotifyReason
from router.notify.dedup import decide

T0 = 1_700_000_000.0
REPEAT = 4 * 3600.0


def entry(
    firing: AbstractSet[str], resolved: AbstractSet[str] = frozenset(), sent_at: float = T0
) -> NflogEntry:
    return NflogEntry("key", frozenset(firing), frozenset(resolved), sent_at, sent_at + 2 * REPEAT)


def run(
    e: NflogEntry | None,
    firing: AbstractSet[str],
    resolved: AbstractSet[str] = frozenset(),
    *,
    send_resolved: bool = True,
    now: float = T0 + 60,
) -> NotifyReason | None:
    return decide(e, frozenset(firing), frozenset(resolved), send_resolved=send_resolved,
                  repeat_interval=REPEAT, now=now)


# --- no prior entry --------------------------------------------------------------------


@pytest.mark.parametrize("send_resolved", [True, False])
def test_first_notification_when_something_fires(send_resolved: bool) -> None:
    assert run(None, {"a"}, send_resolved=send_resolved) is NotifyReason.FIRST
    assert run(None, {"a"}, {"b"}, send_resolved=send_resolved) is NotifyReason.FIRST


@pytest.mark.parametrize("send_resolved", [True, False])
def test_nothing_without_entry_when_only_resolved(send_resolved: bool) -> None:
    # Fired and resolved before the first flush: the receiver never knew about it.
    assert run(None, set(), {"a"}, send_resolved=send_resolved) is None
    assert run(None, set(), set(), send_resolved=send_resolved) is None
    # ...whereas anything firing at that flush is a first notification.
    assert run(None, {"b"}, {"a"}, send_resolved=send_resolved) is NotifyReason.FIRST


# --- the firing set grew ---------------------------------------------------------------


@pytest.mark.parametrize("send_resolved", [True, False])
def test_new_alerts_added(send_resolved: bool) -> None:
    assert run(entry({"a"}), {"a", "b"}, send_resolved=send_resolved) is NotifyReason.NEW_ALERTS


def test_new_alert_replacing_another_is_new() -> None:
    # {b} is not a subset of {a} even though the set did not grow.
    assert run(entry({"a"}), {"b"}, {"a"}) is NotifyReason.NEW_ALERTS


@pytest.mark.parametrize("send_resolved", [True, False])
def test_firing_after_an_all_resolved_entry_is_a_first_notification(send_resolved: bool) -> None:
    e = entry(set(), {"a"})
    assert run(e, {"a"}, send_resolved=send_resolved) is NotifyReason.FIRST


# --- nothing firing --------------------------------------------------------------------


@pytest.mark.parametrize("send_resolved", [True, False])
def test_all_resolved_regardless_of_send_resolved(send_resolved: bool) -> None:
    # Sent even to send_resolved: false integrations so that the log gets cleared.
    assert run(entry({"a", "b"}), set(), {"a", "b"}, send_resolved=send_resolved) is (
        NotifyReason.ALL_RESOLVED
    )


@pytest.mark.parametrize("send_resolved", [True, False])
def test_fired_and_resolved_between_flushes_sends_nothing(send_resolved: bool) -> None:
    # Last notification said "all resolved"; "c" fired and resolved since: unknown to the
    # receiver, so nothing is sent, even long after the repeat interval.
    e = entry(set(), {"a"})
    for now in (T0 + 60, T0 + 10 * REPEAT):
        assert run(e, set(), {"a", "c"}, send_resolved=send_resolved, now=now) is None
        # Had "c" still been firing, it would have been announced.
        assert run(e, {"c"}, {"a"}, send_resolved=send_resolved, now=now) is NotifyReason.FIRST


# --- some resolved, some still firing ---------------------------------------------------


def test_some_resolved_with_send_resolved() -> None:
    assert run(entry({"a", "b"}), {"a"}, {"b"}, send_resolved=True) is NotifyReason.SOME_RESOLVED


def test_some_resolved_is_silent_without_send_resolved() -> None:
    # A firing alert leaving the set alone never notifies a send_resolved: false integration.
    assert run(entry({"a", "b"}), {"a"}, {"b"}, send_resolved=False) is None
    # It is told once everything resolved, and about a new alert joining.
    assert run(entry({"a", "b"}), set(), {"a", "b"}, send_resolved=False) is (
        NotifyReason.ALL_RESOLVED)
    assert run(entry({"a", "b"}), {"a", "c"}, {"b"}, send_resolved=False) is (
        NotifyReason.NEW_ALERTS)


def test_some_resolved_only_once() -> None:
    # The first time "b" is seen resolved it is announced...
    assert run(entry({"a", "b"}), {"a"}, {"b"}, send_resolved=True) is (
        NotifyReason.SOME_RESOLVED)
    # ...and once logged, the same state is not announced again.
    e = entry({"a"}, {"b"})
    assert run(e, {"a"}, {"b"}, send_resolved=True) is None


def test_silenced_alert_leaving_the_firing_set_is_not_a_resolution() -> None:
    # Silenced/inhibited alerts simply disappear from both sets: nothing to send.
    assert run(entry({"a", "b"}), {"a"}, set(), send_resolved=True) is None
    # A real resolution of "b" (in the resolved set) is announced.
    assert run(entry({"a", "b"}), {"a"}, {"b"}, send_resolved=True) is (
        NotifyReason.SOME_RESOLVED)


def test_alert_reappearing_after_a_silence_notifies() -> None:
    e = entry({"a"})
    assert run(e, {"a", "b"}, send_resolved=False) is NotifyReason.NEW_ALERTS


# --- repeat interval -------------------------------------------------------------------


@pytest.mark.parametrize("send_resolved", [True, False])
def test_nothing_when_unchanged_within_repeat_interval(send_resolved: bool) -> None:
    e = entry({"a", "b"}, {"c"})
    for now in (T0, T0 + 1, T0 + REPEAT - 1):
        assert run(e, {"a", "b"}, {"c"}, send_resolved=send_resolved, now=now) is None
    # The same unchanged state is sent again once the repeat interval is over.
    assert run(e, {"a", "b"}, {"c"}, send_resolved=send_resolved, now=T0 + REPEAT) is (
        NotifyReason.REPEAT)


@pytest.mark.parametrize("send_resolved", [True, False])
def test_repeat_interval_elapsed(send_resolved: bool) -> None:
    e = entry({"a", "b"})
    assert run(e, {"a", "b"}, send_resolved=send_resolved, now=T0 + REPEAT + 1) is (
        NotifyReason.REPEAT
    )


def test_repeat_with_a_smaller_firing_set() -> None:
    # Fewer alerts firing (one was silenced) is still a subset: only the repeat timer matters.
    e = entry({"a", "b"})
    assert run(e, {"a"}, set(), now=T0 + 60) is None
    assert run(e, {"a"}, set(), now=T0 + REPEAT + 1) is NotifyReason.REPEAT


def test_changes_take_precedence_over_repeat() -> None:
    late = T0 + 3 * REPEAT
    assert run(entry({"a"}), {"a", "b"}, now=late) is NotifyReason.NEW_ALERTS
    assert run(entry({"a", "b"}), set(), {"a", "b"}, now=late) is NotifyReason.ALL_RESOLVED
    assert run(entry({"a", "b"}), {"a"}, {"b"}, now=late) is NotifyReason.SOME_RESOLVED


# --- TestResolvedFilter: two integrations of one receiver, logged independently ---------


def test_resolved_filter_sequence() -> None:
    """Alertmanager's TestResolvedFilter: the send_resolved: false integration is told
    about new alerts and about "all resolved", never about a partial resolution."""
    logs: dict[bool, NflogEntry | None] = {True: None, False: None}
    sent: dict[bool, list[NotifyReason]] = {True: [], False: []}
    steps = [
        ({"a"}, set()),  # a fires
        ({"a", "b"}, set()),  # b fires
        ({"b"}, {"a"}),  # a resolves
        ({"b"}, {"a"}),  # nothing new
        (set(), {"a", "b"}),  # b resolves
        (set(), {"a", "b"}),  # nothing new
    ]
    for i, (firing, resolved) in enumerate(steps):
        now = T0 + 10 * i
        for flag in (True, False):
            reason = run(logs[flag], firing, resolved, send_resolved=flag, now=now)
            if reason is not None:
                sent[flag].append(reason)
                logs[flag] = entry(firing, resolved, sent_at=now)
    assert sent[True] == [
        NotifyReason.FIRST, NotifyReason.NEW_ALERTS, NotifyReason.SOME_RESOLVED,
        NotifyReason.ALL_RESOLVED,
    ]
    assert sent[False] == [NotifyReason.FIRST, NotifyReason.NEW_ALERTS, NotifyReason.ALL_RESOLVED]
