"""Alertmanager inhibition at run time: the `Inhibitor` answers "which firing source alert
mutes this target?" from a per-rule index of source alerts; `find_inhibitor` is the same
answer as a plain scan (the reference the index is tested against).

The rules are config values (`InhibitRule` in router/config/types.py, read by
router/config/inhibit_rules.py); this module never sees YAML.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from router.config.types import InhibitRule
from router.model import Alert

__all__ = ["Inhibitor", "find_inhibitor"]


def _ends_last(alert: Alert) -> tuple[float, str]:
    """Sort key preferring the source that fires longest (no end = forever), then by fp."""
    end = float("inf") if alert.ends_at is None else alert.ends_at
    return (-end, alert.fingerprint)


def find_inhibitor(
    rules: Sequence[InhibitRule], target: Alert, alerts: Iterable[Alert], now: float
) -> str | None:
    """The reference semantics as a scan over `alerts` (every alert held, any receiver,
    silenced ones included): the fingerprint of a source muting `target`, or None.
    """
    pool = list(alerts)
    for rule in rules:
        if not rule.matches_target(target.labels):
            continue
        # Self-inhibition guard: when the target is also a source, ignore two-sided sources.
        two_sided = rule.matches_source(target.labels)
        key = rule.equal_key(target.labels)
        found = [
            a
            for a in pool
            if not a.resolved(now)
            and rule.matches_source(a.labels)
            and rule.equal_key(a.labels) == key
            and not (two_sided and rule.matches_target(a.labels))
        ]
        if found:
            return min(found, key=_ends_last).fingerprint
    return None


@dataclass(frozen=True, slots=True)
class _Candidate:
    alert: Alert
    also_target: bool  # matches the rule's target side too (for the self-inhibition guard)


# One rule's sources: equal-values key → fingerprint → candidate.
_Bucket = dict[str, _Candidate]


class Inhibitor:
    """Inhibit rules plus an index of their source alerts.

    The ingest path calls `observe` whenever an alert is stored or changed and `forget`
    when it is removed, for every alert held (whatever its receiver, silenced or not);
    `rebuild` after a reload. Resolved alerts stay indexed until forgotten: resolution
    depends on `now` (an `ends_at` can pass with no new event), so it is checked at lookup.
    """

    def __init__(self, rules: Sequence[InhibitRule], alerts: Iterable[Alert] = ()) -> None:
        self.rules = tuple(rules)
        self._index: list[dict[tuple[str, ...], _Bucket]] = [{} for _ in self.rules]
        # fingerprint → (rule position, key) of every bucket holding it, for `forget`.
        self._where: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        self.rebuild(alerts)

    def __len__(self) -> int:
        """How many alerts are indexed as a source of at least one rule."""
        return len(self._where)

    def rebuild(self, alerts: Iterable[Alert]) -> None:
        self._index = [{} for _ in self.rules]
        self._where = {}
        for alert in alerts:
            self.observe(alert)

    def observe(self, alert: Alert) -> None:
        """Index (or refresh) `alert` under every rule whose source side it matches."""
        places = self._where.get(alert.fingerprint)
        if places is not None:
            i, key = places[0]
            old = self._index[i][key][alert.fingerprint]
            if old.alert.labels == alert.labels:
                # Same labels, same buckets: only the times changed, skip the matchers.
                for i, key in places:
                    bucket = self._index[i][key]
                    bucket[alert.fingerprint] = _Candidate(
                        alert, bucket[alert.fingerprint].also_target
                    )
                return
        self.forget(alert.fingerprint)
        found: list[tuple[int, tuple[str, ...]]] = []
        for i, rule in enumerate(self.rules):
            if not rule.matches_source(alert.labels):
                continue
            key = rule.equal_key(alert.labels)
            candidate = _Candidate(alert, rule.matches_target(alert.labels))
            self._index[i].setdefault(key, {})[alert.fingerprint] = candidate
            found.append((i, key))
        if found:
            self._where[alert.fingerprint] = found

    def forget(self, fingerprint: str) -> None:
        for i, key in self._where.pop(fingerprint, ()):
            bucket = self._index[i][key]
            del bucket[fingerprint]
            if not bucket:
                del self._index[i][key]

    def inhibited_by(self, target: Alert, now: float) -> str | None:
        """The fingerprint of a firing source alert muting `target` at `now`, or None.

        Rules are tried in order; within one, the source firing longest wins (Alertmanager
        keeps the source with the latest `endsAt` per equal-values).
        """
        for i, rule in enumerate(self.rules):
            if not rule.matches_target(target.labels):
                continue
            bucket = self._index[i].get(rule.equal_key(target.labels))
            if not bucket:
                continue
            two_sided = rule.matches_source(target.labels)
            best: Alert | None = None
            for candidate in bucket.values():
                alert = candidate.alert
                if alert.resolved(now) or (two_sided and candidate.also_target):
                    continue
                if best is None or _ends_last(alert) < _ends_last(best):
                    best = alert
            if best is not None:
                return best.fingerprint
        return None
