"""Alertmanager inhibit rules: the `InhibitRule` value, its YAML parser, and the `Inhibitor`
that answers "which firing source alert mutes this target?" from a per-rule index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from router.config.fields import FieldReader, matcher_list
from router.config.yaml_source import Node
from router.matchers import Matcher, MatcherError, MatchOp
from router.model import Alert

__all__ = ["InhibitRule", "Inhibitor", "find_inhibitor", "parse_inhibit_rules"]

_RULE_KEYS = (
    "name",
    "source_matchers",
    "target_matchers",
    "equal",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
)
# Alertmanager checks the deprecated maps' keys against the classic label-name regex.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _all_match(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While a firing alert matches `source_matchers`, alerts matching `target_matchers`
    with the same values for every `equal` label (missing reads as "") are muted.
    """

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]
    name: str | None = None

    def matches_source(self, labels: Mapping[str, str]) -> bool:
        return _all_match(self.source_matchers, labels)

    def matches_target(self, labels: Mapping[str, str]) -> bool:
        return _all_match(self.target_matchers, labels)

    def equal_key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


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


# -- parsing -------------------------------------------------------------------------


def parse_inhibit_rules(fields: FieldReader, items: list[Node]) -> list[InhibitRule]:
    """Read the top-level `inhibit_rules:` list; problems are recorded on their nodes.

    A null entry (`inhibit_rules: [ null ]`) is skipped, as Alertmanager does.
    """
    rules: list[InhibitRule] = []
    for item in items:
        if item.is_null:
            continue
        if not item.expect_map():
            continue
        item.expect_keys(_RULE_KEYS)
        source = matcher_list(item, "source_matchers") + _match_maps(item, "source")
        target = matcher_list(item, "target_matchers") + _match_maps(item, "target")
        rules.append(
            InhibitRule(
                source_matchers=tuple(source),
                target_matchers=tuple(target),
                equal=_equal(item),
                name=item.get_str("name"),
            )
        )
    return rules




def _match_maps(node: Node, side: str) -> list[Matcher]:
    """The deprecated `<side>_match` (equality) and `<side>_match_re` (regex) maps."""
    out: list[Matcher] = []
    for key, op in ((f"{side}_match", MatchOp.EQ), (f"{side}_match_re", MatchOp.RE)):
        child = node.get_map(key)
        if child is None:
            continue
        for name, value_node in child.entries():
            if not _LABEL_NAME.fullmatch(name):
                (child.key_node(name) or value_node).error(f'invalid label name "{name}"')
                continue
            value = value_node.as_str()
            if value is None:
                continue
            try:
                out.append(Matcher(name, op, value))
            except MatcherError as exc:
                value_node.error(f"invalid {key} value {value!r}: {exc.message}")
    return out


def _equal(node: Node) -> tuple[str, ...]:
    items = node.get_list("equal")
    names: list[str] = []
    for item in items or []:
        name = item.as_str()
        if name is None:
            continue
        # UTF-8 label names are valid (Alertmanager's default mode); only "" is not.
        if not name:
            item.error(f'invalid label name "{name}" in equal list')
            continue
        names.append(name)
    return tuple(dict.fromkeys(names))
