"""Go template expressions (fields, pipelines, function calls) as Jinja expressions.

The half of the Go → Jinja translator that knows Alertmanager's template data: its Go
field names (`.CommonLabels` → `commonLabels`), the methods of its label maps (`.SortedPairs`,
`.Names`, `.Values`, `.Remove`), Go's builtins (`eq`, `and`, `len`, `index`, `printf`) and
Alertmanager's functions, which are this project's filters of the same names
(router/rendering.py). router/config/go_templates.py handles the actions and blocks.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FUNCS", "TOKEN", "GoExpressions"]

TOKEN = re.compile(r'\s*("(?:\\.|[^"\\])*"|`[^`]*`|\(|\)|\||:=|=|,|[^\s()|,=]+)')
# Go template builtins and Alertmanager's functions (template/template.go); a `{{ f x }}`
# call with one of these first is Go, never Jinja.
FUNCS = frozenset({
    "len", "index", "printf", "print", "println", "eq", "ne", "lt", "le", "gt", "ge", "and",
    "or", "not", "html", "js", "urlquery", "slice", "call",
    "toUpper", "toLower", "title", "trimSpace", "join", "match", "reReplaceAll", "safeHtml",
    "safeUrl", "stringSlice", "date", "tz", "since", "humanizeDuration", "toJson", "urlUnescape",
})
# Go names of the template data whose Jinja names are not just the first letter lowered.
_NAMES = {"ExternalURL": "externalURL", "GroupKey": "groupKey", "GeneratorURL": "generatorURL"}
_STRUCT_FIELDS = frozenset({
    "Receiver", "Status", "Alerts", "GroupLabels", "CommonLabels", "CommonAnnotations",
    "ExternalURL", "GroupKey", "Labels", "Annotations", "StartsAt", "EndsAt", "GeneratorURL",
    "Fingerprint", "Firing", "Resolved", "TruncatedAlerts", "Name", "Value",
})
_KV_METHODS = frozenset({"SortedPairs", "Names", "Values"})
_MAPS = frozenset({"Labels", "Annotations", "GroupLabels", "CommonLabels", "CommonAnnotations"})
_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Go functions whose last argument is the value they transform: `f a b x` → `x | f(a, b)`.
_FILTERS = {"toUpper": "toUpper", "toLower": "toLower", "title": "title",
            "trimSpace": "trimSpace", "safeHtml": "safeHtml", "join": "join",
            "reReplaceAll": "reReplaceAll", "match": "match", "html": "e",
            "urlquery": "urlquery", "humanizeDuration": "humanizeDuration",
            "toJson": "toJson", "since": "since"}
_WITH_ARGS = frozenset({"reReplaceAll", "match", "join"})
# A map key that Jinja would read as a dict method or a keyword is written `m["key"]`.
_DICT_ATTRS = frozenset(dir(dict)) | frozenset(keyword.kwlist) | {
    "true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is"}
_OPERATOR = re.compile(r"\s(~|==|!=|<=?|>=?|and|or|if|else|in|is)\s|^not\s")


def group(expr: str) -> str:
    """`expr` in parentheses when a filter after it would bind to its last operand only."""
    return f"({expr})" if _OPERATOR.search(expr) else expr


@dataclass
class GoExpressions:
    """Expression translation; the subclass keeps `dot` and `root` right for each block."""

    notes: list[tuple[int, str]] = field(default_factory=list)
    loop_index: set[str] = field(default_factory=set)  # `$i` of `range $i, $a := …`
    ns_vars: frozenset[str] = frozenset()  # variables reassigned with `=`: a namespace
    offset: int = 0  # of the action being translated, for notes
    last_kind: str = ""  # "map" when the last path ended on a label map
    var_kinds: dict[str, str] = field(default_factory=dict)  # `$x := .Labels`: a map

    @property
    def dot(self) -> str:
        return ""

    @property
    def root(self) -> str:
        return "data"

    @property
    def dot_kind(self) -> str:
        return ""

    def note(self, message: str) -> None:
        self.notes.append((self.offset, message))

    # --- paths -------------------------------------------------------------------------

    def path(self, token: str) -> str:
        """`.CommonLabels.alertname`, `$a.Labels`, `$`, `.` → a Jinja expression."""
        if token.startswith("$"):
            head, _, rest = token[1:].partition(".")
            parts = [p for p in rest.split(".") if p]
            if head in self.loop_index:
                return "loop.index0"
            if not head:
                return self.fields(self.root, parts)
            return self.fields(f"{head}.v" if head in self.ns_vars else head, parts,
                               self.var_kinds.get(head, ""))
        return self.fields(self.dot, [p for p in token.split(".") if p], self.dot_kind)

    def fields(self, base: str, parts: list[str], kind: str = "") -> str:
        out = base
        for part in parts:
            if kind in ("map", "pairs", "") and part in _KV_METHODS and (out or kind):
                # The label maps' methods (no data field has these names).
                if kind != "pairs":
                    out = f"{group(out)} | sortedPairs"
                if part == "SortedPairs":
                    out, kind = f"({out})", "pairs"
                    continue
                attr = "name" if part == "Names" else "value"
                out, kind = f'({out} | map(attribute="{attr}") | list)', "list"
                continue
            if kind == "map":
                if part.isidentifier() and part not in _DICT_ATTRS:
                    out = f"{out}.{part}" if out else part
                else:
                    out = f'{out or self.root}["{part}"]'
                kind = "value"
                continue
            if part in ("Local", "UTC") and re.search(r"\.(startsAt|endsAt)$", out):
                continue  # a time's zone: Alertmanager's times are UTC already
            if part in _STRUCT_FIELDS:
                name = _NAMES.get(part, part[:1].lower() + part[1:])
                kind = "map" if part in _MAPS else ""
            else:
                name = part
            out = f"{out}.{name}" if out else name
        self.last_kind = kind
        return out or self.root

    # --- pipelines ---------------------------------------------------------------------

    def expr(self, tokens: list[str]) -> str:
        """A pipeline: commands separated by `|`, each feeding the next as last argument."""
        commands: list[list[str]] = [[]]
        depth = 0
        for tok in tokens:
            if tok == "|" and depth == 0:
                commands.append([])
                continue
            depth += (tok == "(") - (tok == ")")
            commands[-1].append(tok)
        value: str | None = None
        for cmd in commands:
            value = self.command(cmd, value)
        return value or ""

    def args(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == "(":
                depth, j = 1, i + 1
                while j < len(tokens) and depth:
                    depth += (tokens[j] == "(") - (tokens[j] == ")")
                    j += 1
                inner = f"({self.expr(tokens[i + 1:j - 1])})"
                if j < len(tokens) and tokens[j].startswith(".") and len(tokens[j]) > 1:
                    # `(index .Alerts 0).Labels`: a field of the parenthesised value
                    inner = self.fields(inner, [p for p in tokens[j].split(".") if p])
                    j += 1
                out.append(inner)
                i = j
                continue
            out.append(self.atom(tok))
            i += 1
        return out

    def atom(self, tok: str) -> str:
        if tok.startswith("`"):
            return '"' + tok[1:-1].replace("\\", "\\\\").replace('"', '\\"') + '"'
        if tok.startswith(('"', "'")) or re.fullmatch(r"-?(\d[\d.]*|\.\d+)", tok):
            return tok
        if tok in ("true", "false", "nil"):
            return {"true": "true", "false": "false", "nil": "none"}[tok]
        if tok.startswith((".", "$")):
            return self.path(tok)
        return tok

    def command(self, cmd: list[str], piped: str | None) -> str:
        if not cmd:
            return piped or ""
        name = cmd[0]
        if name.startswith((".", "$")) and (len(cmd) > 1 or piped is not None):
            return self._method(cmd, piped)
        rest = self.args(cmd[1:])
        if piped is not None:
            rest.append(piped)
        if name.startswith(('"', "`", "(")) or not rest:
            return self.args(cmd)[0] if len(cmd) == 1 or name == "(" else " ".join(
                self.args(cmd))
        return self.call(name, rest)

    def _method(self, cmd: list[str], piped: str | None) -> str:
        """A method call with arguments: `.CommonLabels.Remove .GroupLabels.Names`."""
        head, _, method = cmd[0].rpartition(".")
        a = self.args(cmd[1:]) + ([piped] if piped is not None else [])
        if method == "Remove" and head:
            out = f"{group(self.path(head))} | labelsWithout({', '.join(a)})"
            self.last_kind = "map"
            return out
        if method == "Format" and head and len(a) == 1:  # a time: `.StartsAt.Format "15:04"`
            return f"{group(self.path(head))} | goTime({a[0]})"
        self.note(f"the method call `{' '.join(cmd)}` has no Jinja equivalent here")
        return f"{group(self.path(cmd[0]))}({', '.join(a)})"

    def call(self, name: str, a: list[str]) -> str:
        if name in _OPS and len(a) == 2:
            return f"{group(a[0])} {_OPS[name]} {group(a[1])}"
        if name == "eq" and len(a) > 2:  # eq x a b: x equals any of them
            return "(" + " or ".join(f"{group(a[0])} == {group(b)}" for b in a[1:]) + ")"
        if name in ("and", "or"):
            return "(" + f" {name} ".join(group(x) for x in a) + ")"
        if name == "printf" and re.search(r"%[#+]|%[qT]", a[0]):
            self.note(f"printf {a[0]}: Go's %#v, %+v, %q and %T print Go syntax")
        if name in _BUILTINS:
            return _BUILTINS[name](a)
        if name in _FILTERS:
            value, extra = group(a[-1]), a[:-1]
            if name in _WITH_ARGS:
                return f"{value} | {_FILTERS[name]}({', '.join(extra)})"
            return f"{value} | {_FILTERS[name]}"
        self.note(f"`{name}` has no Jinja filter here")
        return f"{a[-1]} | {name}({', '.join(a[:-1])})" if len(a) > 1 else f"{a[0]} | {name}"


def _printf(a: list[str]) -> str:
    fmt = a[0].replace("%v", "%s") if a[0].startswith('"') else a[0]
    return f"{fmt} | format({', '.join(a[1:])})"


_BUILTINS: dict[str, Callable[[list[str]], str]] = {
    "not": lambda a: f"not {group(a[0])}",
    "len": lambda a: f"{group(a[0])} | length",
    "index": lambda a: group(a[0]) + "".join(f"[{k}]" for k in a[1:]),
    "printf": _printf,
    "print": lambda a: " ~ ".join(group(x) for x in a),
    "println": lambda a: " ~ ".join(group(x) for x in a) + ' ~ "\\n"',
    "stringSlice": lambda a: f"[{', '.join(a)}]",
    "safeUrl": lambda a: a[-1],
    "slice": lambda a: f"{group(a[0])}[{a[1] if len(a) > 1 else ''}:{a[2] if len(a) > 2 else ''}]",
}
