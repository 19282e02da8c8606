"""Reads Alertmanager's top-level `inhibit_rules:` into `InhibitRule` values.

Both spellings are accepted and merged, as Alertmanager does: `source_matchers` /
`target_matchers` (matcher strings) and the deprecated `source_match(_re)` /
`target_match(_re)` maps. The run-time side is router/noise/inhibition.py.
"""

from __future__ import annotations

from router.config.fields import FieldReader, matcher_list
from router.config.types import InhibitRule
from router.config.yaml_source import Node
from router.errors import MatcherError
from router.matchers import LABEL_NAME, Matcher, MatchOp

__all__ = ["parse_inhibit_rules"]

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
            if not LABEL_NAME.fullmatch(name):
                (child.key_node(name) or value_node).error(f'invalid label name "{name}"')
                continue
            if op is MatchOp.RE and value_node.is_null:
                value_node.error(f'invalid regexp value for "{name}"')
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
