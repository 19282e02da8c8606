"""Alertmanager-compatible silences: the `Silence` value, API v2 shapes and validation,
update/expire rules, list filtering and ordering, retention, and the mute index.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from router.matchers import Matcher, MatcherError, MatchOp
from router.timefmt import format_time_ms, parse_time

# Alertmanager's --data.retention default: expired silences are kept this long.
DEFAULT_RETENTION = 120 * 3600.0

# model.LabelName.IsValid() in Alertmanager 0.25 (no colon, unlike metric names).
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_API_OP = {
    (False, True): MatchOp.EQ,
    (False, False): MatchOp.NE,
    (True, True): MatchOp.RE,
    (True, False): MatchOp.NRE,
}


class SilenceState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"


class SilenceError(Exception):
    """A rejected silence; `path` names the offending field, e.g. `matchers[0].value`."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path


class SilenceNotFound(SilenceError):
    """An update names an id that is not stored (the API answers 404; amtool's `silence
    import` relies on that 404 to retry the POST without the id)."""


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


# --- API v2 shapes --------------------------------------------------------------------


def to_api_precision(ts: float) -> float:
    """`ts` truncated to the milliseconds the API shows, exactly as `parse_time` reads them back.

    Stored times use this precision so that amtool's read-modify-write (`silence update`,
    `silence import`) sends back the stored startsAt bit for bit; otherwise a sub-millisecond
    difference makes every such update look history-changing and replace the silence.
    """
    parsed = parse_time(format_time_ms(ts))
    assert parsed is not None  # format_time_ms never writes Go's zero time
    return parsed


def _require(body: Mapping[str, Any], key: str, kind: type, path: str = "") -> Any:
    where = f"{path}.{key}" if path else key
    if key not in body or body[key] is None:
        raise SilenceError("is required", where)
    value = body[key]
    # bool is an int subclass; no field here takes numbers, so a plain isinstance is enough.
    if not isinstance(value, kind):
        raise SilenceError(f"must be of type {_TYPE_NAMES[kind]}", where)
    return value


_TYPE_NAMES: dict[type, str] = {str: "string", bool: "boolean", list: "array", dict: "object"}


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a `\ud800` JSON escape
        return False
    return True


def _matcher_from_api(raw: Any, path: str) -> Matcher:
    if not isinstance(raw, dict):
        raise SilenceError("must be of type object", path)
    name = _require(raw, "name", str, path)
    value = _require(raw, "value", str, path)
    is_regex = _require(raw, "isRegex", bool, path)
    is_equal = raw.get("isEqual", True)
    if is_equal is None:
        is_equal = True
    if not isinstance(is_equal, bool):
        raise SilenceError("must be of type boolean", f"{path}.isEqual")
    if not _LABEL_NAME.fullmatch(name):
        raise SilenceError(f"invalid label name {name!r}", f"{path}.name")
    if not _is_utf8(value):
        raise SilenceError("invalid label value (not valid UTF-8)", f"{path}.value")
    try:
        return Matcher(name, _API_OP[(is_regex, is_equal)], value)
    except MatcherError as exc:
        raise SilenceError(exc.message, f"{path}.value") from None


def _matchers_from_api(raw: Any) -> tuple[Matcher, ...]:
    if raw is None:
        raise SilenceError("is required", "matchers")
    if not isinstance(raw, list):
        raise SilenceError("must be of type array", "matchers")
    if not raw:
        raise SilenceError("at least one matcher required", "matchers")
    matchers = tuple(_matcher_from_api(m, f"matchers[{i}]") for i, m in enumerate(raw))
    if all(m.matches_empty for m in matchers):
        raise SilenceError("at least one matcher must not match the empty string", "matchers")
    return matchers


def _time_from_api(body: Mapping[str, Any], key: str) -> float:
    raw = _require(body, key, str)
    try:
        ts = parse_time(raw)
    except ValueError as exc:
        raise SilenceError(str(exc), key) from None
    if ts is None:
        raise SilenceError("invalid zero timestamp", key)
    return to_api_precision(ts)


def _annotations_from_api(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SilenceError("must be of type object", "annotations")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise SilenceError("must be of type string", f"annotations.{key}")
    return dict(raw)


def silence_from_api(body: Any, now: float) -> Silence:
    """Validate a `postableSilence`; raises SilenceError like Alertmanager's 400s.

    A body without `id` gives `id=""` (update_silence assigns one) and a startsAt in the past
    is clamped to `now`; with an `id` the times are kept, since an in-place update must
    carry the stored startsAt unchanged.
    """
    if not isinstance(body, dict):
        raise SilenceError("body must be a JSON object")
    sid = body.get("id") or ""
    if not isinstance(sid, str):
        raise SilenceError("must be of type string", "id")
    matchers = _matchers_from_api(body.get("matchers"))
    starts_at = _time_from_api(body, "startsAt")
    ends_at = _time_from_api(body, "endsAt")
    created_by = _require(body, "createdBy", str)
    comment = _require(body, "comment", str)
    annotations = _annotations_from_api(body.get("annotations"))
    # The API handler is stricter than the silence store: equal times are rejected too.
    if ends_at <= starts_at:
        raise SilenceError("start time must be before end time", "endsAt")
    if ends_at < now:
        raise SilenceError("end time can't be in the past", "endsAt")
    stamp = to_api_precision(now)
    if not sid:
        starts_at = max(starts_at, stamp)
    return Silence(sid, matchers, starts_at, ends_at, stamp, created_by, comment, annotations)


def matcher_to_api(m: Matcher) -> dict[str, Any]:
    return {
        "name": m.name,
        "value": m.value,
        "isRegex": m.op in (MatchOp.RE, MatchOp.NRE),
        "isEqual": m.op in (MatchOp.EQ, MatchOp.RE),
    }


def silence_to_api(s: Silence, now: float) -> dict[str, Any]:
    """A `gettableSilence` (amtool 0.25 ignores `annotations`, which newer versions show)."""
    return {
        "id": s.id,
        "status": {"state": s.state(now).value},
        "updatedAt": format_time_ms(s.updated_at),
        "matchers": [matcher_to_api(m) for m in s.matchers],
        "startsAt": format_time_ms(s.starts_at),
        "endsAt": format_time_ms(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
        "annotations": dict(s.annotations),
    }


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


def silence_from_record(r: Mapping[str, Any]) -> Silence:
    return Silence(
        id=r["id"],
        matchers=tuple(Matcher(m["name"], MatchOp(m["op"]), m["value"]) for m in r["matchers"]),
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


# --- listing --------------------------------------------------------------------------

_STATE_ORDER = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}


def _has_identical(s: Silence, f: Matcher) -> bool:
    return any(m.name == f.name and m.op is f.op and m.value == f.value for m in s.matchers)


def _list_key(s: Silence, now: float) -> tuple[int, float, str]:
    state = s.state(now)
    if state is SilenceState.ACTIVE:
        when = s.ends_at
    elif state is SilenceState.PENDING:
        when = s.starts_at
    else:
        when = -s.ends_at  # expired: most recently ended first
    return _STATE_ORDER[state], when, s.id  # id: a deterministic tie-break


def filter_silences(
    silences: Iterable[Silence], filters: Iterable[Matcher], now: float
) -> list[Silence]:
    """GET /silences: keep silences holding an identical matcher (same name, operator and
    value) for every filter matcher (not label evaluation); active by endsAt ascending,
    then pending by startsAt ascending, then expired by endsAt descending."""
    wanted = list(filters)
    kept = [s for s in silences if all(_has_identical(s, f) for f in wanted)]
    kept.sort(key=lambda s: _list_key(s, now))
    return kept


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
