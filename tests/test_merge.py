"""Re-sent alerts merged with the held copy (Alertmanager's `Alert.Merge`, TestMergeAlerts)."""

from __future__ import annotations

from typing import Any

import pytest

from router.ingest.formats import from_postable
from router.ingest.merge import merge
from router.model import Alert, make_alert
from router.timefmt import format_time

T0 = 1_700_000_000.0
RESOLVE_TIMEOUT = 300.0
LABELS = {"alertname": "test"}


def alert(
    starts: float,
    ends: float | None,
    now: float,
    *,
    ann: str = "",
    timeout_end: bool = False,
) -> Alert:
    return make_alert(LABELS, {"ann": ann} if ann else {}, starts, ends, "", now,
                      timeout_end=timeout_end)


def push(at: float, starts: float, ends: float | None = None, ann: str = "") -> Alert:
    """What POST /api/v2/alerts makes of one alert pushed at T0+at (times relative to T0)."""
    item: dict[str, Any] = {"labels": LABELS, "startsAt": format_time(T0 + starts)}
    if ends is not None:
        item["endsAt"] = format_time(T0 + ends)
    if ann:
        item["annotations"] = {"ann": ann}
    (a,) = from_postable([item], T0 + at, RESOLVE_TIMEOUT)
    return a


def test_nothing_held_takes_the_new_copy() -> None:
    new = alert(T0, None, T0)
    assert merge(None, new, T0) is new


def test_earliest_starts_at_wins() -> None:
    old = alert(T0 + 1.1, T0 + 301, T0 + 1, timeout_end=True)
    new = alert(T0 + 1.0, T0 + 301.2, T0 + 1.2, timeout_end=True)
    assert merge(old, new, T0 + 1.2).starts_at == T0 + 1.0
    later = alert(T0 + 2.0, T0 + 302.1, T0 + 2.1, timeout_end=True)
    assert merge(old, later, T0 + 2.1).starts_at == T0 + 1.1


def test_latest_annotations_and_generator_url_win() -> None:
    old = make_alert(LABELS, {"ann": "v1", "gone": "x"}, T0, T0 + 300, "http://old", T0,
                     timeout_end=True)
    new = make_alert(LABELS, {"ann": "v2"}, T0 + 5, T0 + 310, "http://new", T0 + 10,
                     timeout_end=True)
    got = merge(old, new, T0 + 10)
    assert got.annotations == {"ann": "v2"}
    assert got.generator_url == "http://new"
    assert got.starts_at == T0
    assert got.updated_at == T0 + 10


def test_later_ends_at_wins_when_both_resolved() -> None:
    old = alert(T0, T0 + 48, T0 + 48)
    earlier = alert(T0 + 29, T0 + 41, T0 + 48)
    assert merge(old, earlier, T0 + 48).ends_at == T0 + 48
    later = alert(T0 + 29, T0 + 50, T0 + 50)
    assert merge(old, later, T0 + 50).ends_at == T0 + 50


def test_resolution_of_a_firing_alert_wins() -> None:
    old = alert(T0, T0 + 300, T0, timeout_end=True)
    new = alert(T0 + 30, T0 + 45, T0 + 46)
    got = merge(old, new, T0 + 46)
    assert (got.starts_at, got.ends_at, got.timeout_end) == (T0, T0 + 45, False)
    assert got.resolved(T0 + 46)


def test_explicit_end_beats_a_later_timeout_end() -> None:
    # Held: a timeout end far ahead; re-sent with an explicit end (Prometheus style).
    old = alert(T0, T0 + 300, T0, timeout_end=True)
    new = alert(T0, T0 + 13, T0 + 10)
    got = merge(old, new, T0 + 10)
    assert (got.ends_at, got.timeout_end) == (T0 + 13, False)


def test_later_explicit_end_survives_a_timeout_refresh() -> None:
    old = alert(T0, T0 + 600, T0)
    new = alert(T0, T0 + 310, T0 + 10, timeout_end=True)
    got = merge(old, new, T0 + 10)
    assert (got.ends_at, got.timeout_end) == (T0 + 600, False)


def test_later_timeout_end_replaces_an_earlier_timeout_end() -> None:
    old = alert(T0, T0 + 300, T0, timeout_end=True)
    new = alert(T0, T0 + 360, T0 + 60, timeout_end=True)
    got = merge(old, new, T0 + 60)
    assert (got.ends_at, got.timeout_end) == (T0 + 360, True)


def test_refiring_after_resolve_is_a_new_occurrence() -> None:
    old = alert(T0, T0 + 48, T0 + 48)
    new = alert(T0 + 50, T0 + 350, T0 + 53, timeout_end=True)
    got = merge(old, new, T0 + 53)
    assert got.starts_at == T0 + 50
    assert not got.resolved(T0 + 53)


def test_fired_and_resolved_again_unseen_is_a_new_occurrence() -> None:
    # The firing copy of the second occurrence never arrived; its resolution did.
    old = alert(T0, T0 + 48, T0 + 48, ann="first")
    new = alert(T0 + 50, T0 + 60, T0 + 70, ann="second")
    got = merge(old, new, T0 + 70)
    assert (got.starts_at, got.ends_at) == (T0 + 50, T0 + 60)
    assert got.annotations == {"ann": "second"}


def test_resolution_resent_without_starts_at_is_the_same_resolution() -> None:
    # API v2 takes a missing startsAt from endsAt: the re-send starts where the held copy
    # ended, which must not count as a new occurrence.
    old = alert(T0, T0 + 48, T0 + 48)
    (resent,) = from_postable([{"labels": LABELS, "endsAt": format_time(T0 + 48)}],
                              T0 + 108, RESOLVE_TIMEOUT)
    got = merge(old, resent, T0 + 108)
    assert (got.starts_at, got.ends_at) == (T0, T0 + 48)


def test_webhook_resolution_older_than_the_firing_occurrence_is_ignored() -> None:
    # Alertmanager webhook input: firing copies have no end. A stale resolution of an
    # earlier occurrence must not resolve the current one.
    old = make_alert(LABELS, {}, T0 + 100, None, "", T0 + 100, source="alertmanager")
    stale = make_alert(LABELS, {}, T0, T0 + 50, "", T0 + 110, source="alertmanager")
    got = merge(old, stale, T0 + 110)
    assert got == old


def test_webhook_resolution_of_the_firing_occurrence() -> None:
    old = make_alert(LABELS, {}, T0, None, "", T0, source="alertmanager")
    new = make_alert(LABELS, {}, T0, T0 + 50, "", T0 + 51, source="alertmanager")
    got = merge(old, new, T0 + 51)
    assert (got.starts_at, got.ends_at) == (T0, T0 + 50)


@pytest.mark.parametrize("with_ends_at", [False, True], ids=["no-endsAt", "endsAt"])
def test_alertmanager_merge_alerts_scenario(with_ends_at: bool) -> None:
    """TestMergeAlerts / TestMergeAlertsWithEndsAt (Prometheus ≥ 2.4 sends endsAt = start+3),
    with pushes at the same relative times, through the API v2 input."""

    def active(start: float) -> tuple[float, float | None]:
        return (start, start + 3.0) if with_ends_at else (start, None)

    held: Alert | None = None

    def send(at: float, starts: float, ends: float | None = None, ann: str = "") -> Alert:
        nonlocal held
        held = merge(held, push(at, starts, ends, ann), T0 + at)
        return held

    send(1.0, *active(1.1))
    assert send(1.2, 1.0).starts_at == T0 + 1.0
    a = send(2.1, *active(2), ann="v1")
    assert (a.starts_at, a.annotations) == (T0 + 1.0, {"ann": "v1"})
    a = send(3.6, *active(1.5), ann="v2")
    assert (a.starts_at, a.annotations) == (T0 + 1.0, {"ann": "v2"})
    assert not a.resolved(T0 + 3.6)

    # Resolved twice: the latest point in time is the eventual resolve time.
    send(4.6, 3.0, 4.5, ann="v2")
    send(4.8, 2.9, 4.8, ann="v3")
    a = send(4.8, 2.9, 4.1, ann="v3")
    assert (a.starts_at, a.ends_at, a.annotations) == (T0 + 1.0, T0 + 4.8, {"ann": "v3"})
    assert a.resolved(T0 + 5.0)

    # Re-activated after the resolution: no overlap, no merge.
    a = send(5.3, *active(5))
    assert a.starts_at == T0 + 5.0
    assert a.annotations == {}
    assert not a.resolved(T0 + 5.3)
