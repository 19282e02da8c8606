"""Recognise Alertmanager's Go templates and suggest their Jinja spelling (check-config).

A config copied from Alertmanager carries `{{ .CommonLabels.alertname }}`, `{{ range
.Alerts }}…{{ end }}`, `{{ len .Alerts }}`, `{{ template "slack.title" . }}` and pipes into
Go functions (`{{ .Status | toUpper }}`). Jinja would refuse some and silently print others
as text, so every Go action is recognised and translated: control blocks to `{% %}` tags,
Go's dot to the loop variable, functions to this project's filters of the same names
(router/rendering.py), `eq`/`and`/`index`/`len`/`printf` to Jinja operators.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["GoAction", "Translation", "find_go_actions", "to_jinja", "translate"]

_ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
_KEYWORDS = frozenset({"range", "if", "else", "end", "with", "define", "template", "block"})
# Go template builtins and Alertmanager's functions (template/template.go); a `{{ f x }}`
# call with one of these first is Go, never Jinja.
_FUNCS = frozenset({
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
_MAP_METHODS = {"SortedPairs": " | sortedPairs", "Names": " | list",
                "Values": ".values() | list"}
_OPS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Go functions whose last argument is the value they transform: `f a b x` → `x | f(a, b)`.
_FILTERS = {"toUpper": "toUpper", "toLower": "toLower", "title": "title",
            "trimSpace": "trimSpace", "safeHtml": "safeHtml", "join": "join",
            "reReplaceAll": "reReplaceAll", "match": "match", "html": "e",
            "urlquery": "urlquery", "humanizeDuration": "humanizeDuration",
            "toJson": "toJson"}
_TOKEN = re.compile(r'\s*("(?:\\.|[^"\\])*"|`[^`]*`|\(|\)|\||:=|=|,|[^\s()|,=]+)')


@dataclass(frozen=True, slots=True)
class GoAction:
    """One Go `{{ … }}` action: where it starts (0-based offset) and its text."""

    offset: int
    text: str


def _is_go(body: str) -> bool:
    body = body.strip()
    if not body:
        return False
    if body[0] in ".$" or body.startswith("/*"):
        return True
    words = body.split(None, 1)
    if words[0] in _KEYWORDS:
        return True
    # `{{ len .Alerts }}`: a Go call takes space-separated arguments (Jinja would need
    # parentheses); `{{ x | toUpper }}` alone is valid Jinja with this project's filters.
    if words[0] in _FUNCS and len(words) == 2 and words[1][0] in '.$"`(':
        return True
    return bool(re.search(r"\|\s*\w+\s+[.$\"`]", body))  # `| join ", "`: a Go call


def find_go_actions(text: str) -> list[GoAction]:
    """Every `{{ … }}` action of `text` that is Go template syntax."""
    return [GoAction(m.start(), m.group()) for m in _ACTION.finditer(text) if _is_go(m.group(2))]


@dataclass
class _Scope:
    end: str  # the Jinja tag that closes this block
    dot: str  # what Go's `.` means inside it


@dataclass
class _Translator:
    scopes: list[_Scope] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loop_index: set[str] = field(default_factory=set)  # `$i` of `range $i, $a := …`

    @property
    def dot(self) -> str:
        return self.scopes[-1].dot if self.scopes else ""

    # --- expressions -------------------------------------------------------------------

    def path(self, token: str) -> str:
        """`.CommonLabels.alertname`, `$a.Labels`, `.` → a Jinja expression."""
        if token.startswith("$"):
            head, _, rest = token[1:].partition(".")
            if head in self.loop_index:
                return "loop.index0"
            base = head or "data"
            return self._fields(base, rest.split(".") if rest else [])
        parts = [p for p in token.split(".") if p]
        return self._fields(self.dot, parts)

    def _fields(self, base: str, parts: list[str]) -> str:
        out = base
        in_map = False  # after .Labels: keys are label names, kept as written
        for part in parts:
            if part in _MAP_METHODS:  # KV methods (a label of that name: unlikely)
                out = f"{out}{_MAP_METHODS[part]}"
                continue
            name = part
            if not in_map and part in _STRUCT_FIELDS:
                name = _NAMES.get(part, part[:1].lower() + part[1:])
                in_map = part in ("Labels", "Annotations", "GroupLabels", "CommonLabels",
                                  "CommonAnnotations")
            elif in_map and not name.isidentifier():
                out = f'{out}["{name}"]'
                continue
            out = f"{out}.{name}" if out else name
        return out or "data"

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
                    inner = self._fields(inner, [p for p in tokens[j].split(".") if p])
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
        name, rest = cmd[0], self.args(cmd[1:])
        if piped is not None:
            rest.append(piped)
        if name.startswith((".", "$", '"', "`", "(")) or not rest:
            return self.args(cmd)[0] if len(cmd) == 1 or name == "(" else " ".join(
                self.args(cmd))
        return self.call(name, rest)

    def call(self, name: str, a: list[str]) -> str:
        if name in _OPS and len(a) == 2:
            return f"{a[0]} {_OPS[name]} {a[1]}"
        if name in ("and", "or"):
            return "(" + f" {name} ".join(a) + ")"
        if name == "not":
            return f"not {a[0]}"
        if name == "len":
            return f"{a[0]} | length"
        if name == "index":
            return a[0] + "".join(f"[{k}]" for k in a[1:])
        if name in ("printf", "print"):
            return f"{a[0]} | format({', '.join(a[1:])})" if name == "printf" else " ~ ".join(a)
        if name == "stringSlice":
            return f"[{', '.join(a)}]"
        if name in _FILTERS:
            value, extra = a[-1], a[:-1]
            if name in ("reReplaceAll", "match", "join"):
                return f"{value} | {_FILTERS[name]}({', '.join(extra)})"
            return f"{value} | {_FILTERS[name]}"
        self.notes.append(f"`{name}` has no Jinja filter here")
        return f"{a[-1]} | {name}({', '.join(a[:-1])})" if len(a) > 1 else f"{a[0]} | {name}"

    # --- actions -----------------------------------------------------------------------

    def action(self, body: str, left: str, right: str) -> str:
        body = body.strip()
        if body.startswith("/*"):
            return "{#" + left + body[2:].removesuffix("*/") + right + "#}"
        tokens = [m.group(1) for m in _TOKEN.finditer(body)]
        word = tokens[0] if tokens else ""

        def tag(text: str) -> str:
            return "{%" + left + " " + text + " " + right + "%}"

        if word == "end":
            scope = self.scopes.pop() if self.scopes else _Scope("endif", "")
            return tag(scope.end)
        if word == "else":
            if tokens[1:2] == ["if"]:
                return tag(f"elif {self.expr(tokens[2:])}")
            return tag("else")
        if word in ("if", "with"):
            cond = self.expr(tokens[1:])
            self.scopes.append(_Scope("endif", cond if word == "with" else self.dot))
            return tag(f"if {cond}")
        if word == "range":
            return tag(self._range(tokens[1:]))
        if word in ("define", "block"):
            name = _macro(tokens[1])
            self.scopes.append(_Scope("endmacro", self.dot))
            return tag(f"macro {name}()")
        if word == "template":
            return "{{" + left + f" {_macro(tokens[1])}() " + right + "}}"
        if len(tokens) > 2 and tokens[0].startswith("$") and tokens[1] in (":=", "="):
            return tag(f"set {tokens[0][1:]} = {self.expr(tokens[2:])}")
        return "{{" + left + " " + self.expr(tokens) + " " + right + "}}"

    def _range(self, tokens: list[str]) -> str:
        var = ""
        if ":=" in tokens:
            names = [t[1:] for t in tokens[:tokens.index(":=")] if t.startswith("$")]
            var = names[-1] if names else ""
            self.loop_index.update(names[:-1])
            tokens = tokens[tokens.index(":=") + 1:]
        source = self.expr(tokens)
        if not var:
            var = "alert" if re.search(r"(alerts|firing|resolved)$", source) else "item"
        self.scopes.append(_Scope("endfor", var))
        return f"for {var} in {source}"


def _macro(quoted: str) -> str:
    """A Go template name as a Jinja macro name: `"slack.default.title"` → slack_default_title."""
    return re.sub(r"\W", "_", quoted.strip('"`')).strip("_") or "template"


@dataclass(frozen=True, slots=True)
class Translation:
    """`text` with every Go action translated; each action with its Jinja; the notes on
    what has no equivalent here."""

    text: str
    actions: list[tuple[GoAction, str]]
    notes: list[str]


def translate(text: str) -> Translation:
    tr = _Translator()
    actions: list[tuple[GoAction, str]] = []

    def one(m: re.Match[str]) -> str:
        if not _is_go(m.group(2)):
            return m.group()
        out = tr.action(m.group(2), m.group(1), m.group(3))
        actions.append((GoAction(m.start(), m.group()), out))
        return out

    out = _ACTION.sub(one, text)
    if tr.scopes:
        tr.notes.append("a block is not closed with {{ end }}")
    return Translation(out, actions, tr.notes)


def to_jinja(text: str) -> tuple[str, list[str]]:
    """`text` with every Go action translated, and notes on what has no equivalent."""
    found = translate(text)
    return found.text, found.notes
