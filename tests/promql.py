"""A small PromQL reader for tests: which metric names and label names an expression uses.

Syntax is promtool's job (tests/test_mixin.py feeds every expression to `promtool check
rules`); this only has to find, in an expression promtool accepts, the series names and
the label names in matchers and in `by`/`without`/`on`/`ignoring`/`group_*` lists, and
the value of each `label="value"` matcher. Grafana's variables are replaced first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Functions and aggregations are followed by "(", so they are never taken for metrics;
# these keywords are not followed by "(" (or take a label list), so they are listed.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2"}
# Aggregations may take their `by (...)` before the "(": `sum by (job) (x)`.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
GRAFANA = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
           "${__rate_interval}": "5m"}

TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<range>\[[^\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)(?:ms|s|m|h|d|w|y)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^=<>(){},@])
""", re.VERBOSE)


@dataclass
class Uses:
    metrics: set[str] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)
    # (label, value) of each equality matcher with a literal value (no Grafana variable)
    values: set[tuple[str, str]] = field(default_factory=set)


def grafana_to_promql(expr: str) -> str:
    for var, value in GRAFANA.items():
        expr = expr.replace(var, value)
    return expr


def tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if m is None:
            raise ValueError(f"cannot read PromQL at {pos}: {expr[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        assert kind is not None
        if kind != "space":
            out.append((kind, m.group()))
    return out


def uses(expr: str) -> Uses:
    found = Uses()
    toks = tokens(grafana_to_promql(expr))
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        if kind == "ident" and text in LABEL_LISTS:
            i += 1
            if nxt == "(":
                i += 1
                while toks[i][1] != ")":
                    if toks[i][0] == "ident":
                        found.labels.add(toks[i][1])
                    i += 1
                i += 1
            continue
        if kind == "op" and text == "{":
            i = _matchers(toks, i + 1, found)
            continue
        if kind == "ident" and nxt != "(" and text not in KEYWORDS | AGGREGATIONS:
            found.metrics.add(text)
        i += 1
    return found


def _matchers(toks: list[tuple[str, str]], i: int, found: Uses) -> int:
    """Read `name op "value", ...}` from i; returns the index after "}"."""
    while toks[i][1] != "}":
        if toks[i][0] in ("ident", "string") and toks[i + 1][1] in ("=", "!=", "=~", "!~"):
            name = toks[i][1].strip("\"'`")
            op, value = toks[i + 1][1], toks[i + 2][1][1:-1]
            if name == "__name__":
                found.metrics.add(value)
            else:
                found.labels.add(name)
                if op == "=" and "$" not in value:
                    found.values.add((name, value))
            i += 3
        else:
            i += 1
    return i + 1


def label_values_query(query: str) -> tuple[str, str]:
    """A Grafana `label_values(selector, label)` variable query → (selector, label)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*", query)
    if m is None:
        raise ValueError(f"not a label_values query: {query!r}")
    return m.group(1), m.group(2)
