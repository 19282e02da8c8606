"""Alertmanager-compatible silences: the `Silence` value and its state, update/expire rules,
retention, the storage record, and the mute index (`SilenceIndex`) the muting stage reads.

The API v2 shapes (validation of a posted silence, the JSON answer, list filtering and
order) are router/noise/silence_api.py.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from router.errors import MatcherError, SilenceNotFound
from router.matchers import Matcher, MatchOp
from router.regex import Regex
from router.timefmt import format_time_ms, parse_time

log = logging.getLogger(__name__)

# Alertmanager's --data.retention default: expired silences are kept this long.
DEFAULT_RETENTION = 120 * 3600.0


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Silence:
    id: str  # uuid4; "" only on a not-yet-stored silence parsed from a POST without id
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    updated_at: float
    created_by: str
    comment: str
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)

    def state(self, now: float) -> SilenceState:
        # Alertmanager's getState: both bounds inclusive for "active".
        if now < self.starts_at:
            return SilenceState.PENDING
        if now > self.ends_at:
            return SilenceState.EXPIRED
        return SilenceState.ACTIVE

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every matcher matches (a missing label reads as ""), regardless of state."""
        # A loop, not all(<genexpr>): this is the index's inner loop and a generator costs
        # more than the one or two matchers it checks.
        for m in self.matchers:  # noqa: SIM110
            if not m.matches(labels):
                return False
        return True

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.starts_at <= now <= self.ends_at and self.matches(labels)


# --- time precision -------------------------------------------------------------------


def to_api_precision(ts: float) -> float:
    """`ts` truncated to the milliseconds the API shows, exactly as `parse_time` reads them back.

    Stored times use this precision so that amtool's read-modify-write (`silence update`,
    `silence import`) sends back the stored startsAt bit for bit; otherwise a sub-millisecond
    difference makes every such update look history-changing and replace the silence.
    """
    parsed = parse_time(format_time_ms(ts))
    assert parsed is not None  # format_time_ms never writes Go's zero time
    return parsed


# --- storage record -------------------------------------------------------------------


def silence_to_record(s: Silence) -> dict[str, Any]:
    """The JSON body stored per silence (matchers as name/op/value, times as epoch floats)."""
    return {
        "id": s.id,
        "matchers": [{"name": m.name, "op": m.op.value, "value": m.value} for m in s.matchers],
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "updated_at": s.updated_at,
        "created_by": s.created_by,
        "comment": s.comment,
        "annotations": dict(s.annotations),
    }


# For a stored regex RE2 refuses: `=~` never matches, `!~` never matches either.
_NEVER = Regex("[^\\x00-\\x{10FFFF}]")
_ALWAYS = Regex("(?s).*")


def _stored_matcher(sid: str, m: Mapping[str, Any]) -> Matcher:
    """A stored matcher. A regex stored before regexes were RE2 and now refused (`a++`, a
    lookahead) makes its silence mute nothing, with a warning, rather than fail start-up;
    the API still shows it, and an update must fix it."""
    op = MatchOp(m["op"])
    try:
        return Matcher(m["name"], op, m["value"])
    except MatcherError as exc:
        log.warning("stored silence mutes nothing: a regex RE2 refuses",
                    extra={"silence": sid, "matcher": m["name"], "error": exc.message})
        return Matcher(m["name"], op, m["value"], _NEVER if op is MatchOp.RE else _ALWAYS)


def silence_from_record(r: Mapping[str, Any]) -> Silence:
    return Silence(
        id=r["id"],
        matchers=tuple(_stored_matcher(r["id"], m) for m in r["matchers"]),
        starts_at=float(r["starts_at"]),
        ends_at=float(r["ends_at"]),
        updated_at=float(r["updated_at"]),
        created_by=r["created_by"],
        comment=r["comment"],
        annotations=dict(r.get("annotations") or {}),
    )


# --- lifecycle ------------------------------------------------------------------------


def expire(s: Silence, now: float) -> Silence:
    """Active → endsAt=now; pending → startsAt=endsAt=now; expired → unchanged.

    `now` is truncated to milliseconds. Like Alertmanager, a silence expired at a whole
    millisecond still reads "active" at exactly that instant (both bounds are inclusive).
    """
    state = s.state(now)
    stamp = to_api_precision(now)
    if state is SilenceState.ACTIVE:
        return replace(s, ends_at=stamp, updated_at=stamp)
    if state is SilenceState.PENDING:
        return replace(s, starts_at=stamp, ends_at=stamp, updated_at=stamp)
    return s


def _can_update(old: Silence, new: Silence, now: float) -> bool:
    """Alertmanager's canUpdate: changes that keep the silence's history truthful."""
    if old.matchers != new.matchers:  # same matchers in the same order (reflect.DeepEqual)
        return False
    state = old.state(now)
    if state is SilenceState.ACTIVE:
        return new.starts_at == old.starts_at and new.ends_at >= now
    if state is SilenceState.PENDING:
        return new.starts_at >= now
    return False


def update_silence(
    existing: Silence | None, new: Silence, now: float
) -> tuple[Silence, Silence | None]:
    """Alertmanager's Silences.Set: returns (silence to store, expired predecessor or None).

    No id: a new silence. An unknown id: SilenceNotFound. A history-preserving change
    updates in place under the same id; anything else (including any edit of an expired
    silence) expires the old one if needed and stores the new one under a fresh id.
    """
    if new.id and existing is None:
        raise SilenceNotFound(f"silence {new.id} not found", "id")
    if existing is not None and existing.id != new.id:
        raise ValueError("existing silence does not have the new silence's id")
    stamp = to_api_precision(now)
    if existing is not None and _can_update(existing, new, now):
        return replace(new, updated_at=stamp), None
    old: Silence | None = None
    if existing is not None and existing.state(now) is not SilenceState.EXPIRED:
        old = expire(existing, now)
    fresh = replace(
        new, id=str(uuid.uuid4()), starts_at=max(new.starts_at, stamp), updated_at=stamp
    )
    return fresh, old


def gc(silences: Iterable[Silence], now: float, retention: float = DEFAULT_RETENTION) -> list[str]:
    """Ids of silences expired for at least `retention` seconds (to delete)."""
    return [s.id for s in silences if s.ends_at + retention <= now]


# --- the mute index -------------------------------------------------------------------


# Characters that make a regex alternative more than a literal string.
_REGEX_META = frozenset("\\.^$*+?()[]{}|")


def _literal_alternatives(pattern: str) -> list[str] | None:
    """`a|b|c` of plain, non-empty literals → ["a", "b", "c"]; anything else → None."""
    alts = pattern.split("|")
    if all(alt and _REGEX_META.isdisjoint(alt) for alt in alts):
        return alts
    return None


def _key_groups(s: Silence) -> list[tuple[tuple[str, str], ...]]:
    """Alternative ways to key `s`: each group lists (name, value) pairs of ONE label, and
    every alert `s` mutes carries one of them. `foo=""` also matches alerts *without* foo,
    so only non-empty values count; `foo=~"a|b"` of literals gives the group (a, b)."""
    groups: list[tuple[tuple[str, str], ...]] = []
    for m in s.matchers:
        if m.op is MatchOp.EQ and m.value:
            groups.append(((m.name, m.value),))
        elif m.op is MatchOp.RE:
            alts = _literal_alternatives(m.value)
            if alts is not None:
                groups.append(tuple((m.name, alt) for alt in alts))
    return groups


class SilenceIndex:
    """Current silences, indexed for `silenced_by`.

    A silence with a non-empty equality matcher (or a regex of plain alternatives) sits in
    the buckets of one such matcher's (name, value) pairs, picking the matcher whose buckets
    were smallest when it was added. The pairs of one matcher share a label name, so an
    alert reaches a silence through at most one bucket: a lookup visits only the buckets of
    the alert's own label pairs, plus the few silences that have no such matcher.
    """

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._by_id: dict[str, Silence] = {}
        self._keys_of: dict[str, tuple[tuple[str, str], ...]] = {}
        self._buckets: dict[tuple[str, str], dict[str, Silence]] = {}
        self._unkeyed: dict[str, Silence] = {}
        for s in silences:
            self.add(s)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, sid: object) -> bool:
        return sid in self._by_id

    def __iter__(self) -> Iterator[Silence]:
        return iter(list(self._by_id.values()))

    def get(self, sid: str) -> Silence | None:
        return self._by_id.get(sid)

    def add(self, s: Silence) -> None:
        """Insert, or replace the silence with the same id."""
        if s.id in self._by_id:
            self.remove(s.id)
        groups = _key_groups(s)
        self._by_id[s.id] = s
        if not groups:
            self._keys_of[s.id] = ()
            self._unkeyed[s.id] = s
            return
        buckets = self._buckets
        keys = min(groups, key=lambda g: sum(len(buckets.get(k, ())) for k in g))
        self._keys_of[s.id] = keys
        for key in keys:
            buckets.setdefault(key, {})[s.id] = s

    def replace(self, s: Silence) -> None:
        """Same as `add`: the stored silence with `s.id` is swapped for `s`."""
        self.add(s)

    def remove(self, sid: str) -> Silence | None:
        s = self._by_id.pop(sid, None)
        if s is None:
            return None
        keys = self._keys_of.pop(sid)
        if not keys:
            del self._unkeyed[sid]
        for key in keys:
            bucket = self._buckets[key]
            del bucket[sid]
            if not bucket:
                del self._buckets[key]
        return s

    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        """Sorted ids of the silences active at `now` that mute `labels`."""
        found = [s.id for s in self._unkeyed.values() if s.mutes(labels, now)]
        buckets = self._buckets
        for pair in labels.items():
            bucket = buckets.get(pair)
            if bucket:
                found.extend(s.id for s in bucket.values() if s.mutes(labels, now))
        found.sort()
        return found
