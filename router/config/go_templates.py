"""Recognise Alertmanager's Go templates and translate them to Jinja (check-config, migrate).

A config copied from Alertmanager carries `{{ .CommonLabels.alertname }}`, `{{ range
.Alerts }}…{{ end }}`, `{{ len .Alerts }}`, `{{ template "slack.title" . }}` and pipes into
Go functions (`{{ .Status | toUpper }}`). Jinja would refuse some and silently print others
as text, so every Go action is recognised and translated: control blocks to `{% %}` tags,
`define` to a macro taking Go's dot as `d` (`template "x" .` calls it), Go's dot to the loop
or macro variable, `$` to the whole data (`data`), variables reassigned inside a loop to a
Jinja namespace. The Renderer trims newlines after block tags (`trim_blocks`); Go does not,
so a tag is written `{%+ … +%}` where that trimming would change the text. Expressions are
router/config/go_expr.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from router.config.go_expr import FUNCS, TOKEN, GoExpressions, group

__all__ = ["GoAction", "Translation", "find_go_actions", "macro_name", "to_jinja",
           "translate"]

# Inside an action, a string ("…", `…`) or a comment may hold `}}`; the action ends after it.
_ACTION = re.compile(r"""\{\{(-?)((?:/\*.*?\*/|"(?:\\.|[^"\\])*"|`[^`]*`|[^"`}]|\}(?!\}))*?)"""
                     r"(-?)\}\}", re.S)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_KEYWORDS = frozenset({"range", "if", "else", "end", "with", "define", "template", "block"})


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
    if re.match(r"\(\s*[.$]|\(\s*(\w+)\s+[.$\"`(]", body) and (
            body[1:].lstrip()[0] in ".$" or body[1:].split(None, 1)[0] in FUNCS):
        return True  # `(index .Alerts 0).Labels.x`: a Go call in parentheses
    words = body.split(None, 1)
    if words[0] in _KEYWORDS:
        return True
    # `{{ len .Alerts }}`: a Go call takes space-separated arguments (Jinja would need
    # parentheses); `{{ x | toUpper }}` alone is valid Jinja with this project's filters.
    if words[0] in FUNCS and len(words) == 2 and words[1][0] in '.$"`(':
        return True
    return bool(re.search(r"\|\s*\w+\s+[.$\"`]", body))  # `| join ", "`: a Go call


def find_go_actions(text: str) -> list[GoAction]:
    """Every `{{ … }}` action of `text` that is Go template syntax."""
    return [GoAction(m.start(), m.group()) for m in _ACTION.finditer(text) if _is_go(m.group(2))]


@dataclass
class _Scope:
    end: list[str]  # the Jinja statements that close this block
    dot: str  # what Go's `.` means inside it
    root: str  # what Go's `$` means inside it
    html: bool = False  # an html/template define (Alertmanager's email HTML): escape output
    else_dot: str | None = None  # `.` after `{{ else }}` of a `with`
    kind: str = ""  # "map" when `.` is a label map, "pairs" for sorted pairs
    after: str = ""  # text after the closing tag (`block` calls its macro)


@dataclass
class _Translator(GoExpressions):
    scopes: list[_Scope] = field(default_factory=list)

    @property
    def dot(self) -> str:
        return self.scopes[-1].dot if self.scopes else ""

    @property
    def root(self) -> str:
        return self.scopes[-1].root if self.scopes else "data"

    @property
    def dot_kind(self) -> str:
        return self.scopes[-1].kind if self.scopes else ""

    @property
    def html(self) -> bool:
        return bool(self.scopes) and self.scopes[-1].html

    def push(self, end: list[str], dot: str, else_dot: str | None = None, kind: str = ""
             ) -> None:
        self.scopes.append(_Scope(end, dot, self.root, self.html, else_dot, kind))

    def loop_var(self, name: str) -> str:
        """`name`, or `name2`… when an enclosing block already uses it."""
        used = {scope.dot for scope in self.scopes}
        n, out = 1, name
        while out in used:
            n += 1
            out = f"{name}{n}"
        return out

    def action(self, body: str, go: tuple[str, str], ws: tuple[str, str]) -> str:
        """One Go action as Jinja. `go`: its `-` trim markers; `ws`: `+` where the
        Renderer's trim_blocks/lstrip_blocks would eat whitespace Go keeps."""
        left, right = go[0] or ws[0], go[1] or ws[1]

        def tag(*statements: str) -> str:
            return "{%" + left + " " + " %}{% ".join(statements) + " " + right + "%}"

        body = body.strip()
        if body.startswith("/*"):
            return "{#" + left + body[2:].removesuffix("*/") + right + "#}"
        tokens = [m.group(1) for m in TOKEN.finditer(body)]
        word = tokens[0] if tokens else ""
        if word in ("define", "block", "template") and len(tokens) > 1:
            return self._named(tokens, go, tag)
        if word == "end":
            if not self.scopes:
                self.note("an {{ end }} closes nothing")
                return ""
            scope = self.scopes.pop()
            return tag(*scope.end) + scope.after
        if word == "else":
            return self._else(tokens, tag)
        if word in ("if", "with", "range"):
            return tag(*self._open(word, tokens[1:]))
        if len(tokens) > 2 and tokens[0].startswith("$") and tokens[1] in (":=", "="):
            return tag(self._assign(tokens))
        return "{{" + go[0] + " " + self._output(tokens) + " " + go[1] + "}}"

    def _open(self, word: str, tokens: list[str]) -> list[str]:
        if word == "range":
            return [self._range(tokens)]
        value = self.expr(tokens)
        if word == "if":
            self.push(["endif"], self.dot)
            return [f"if {value}"]
        outer, var = self.dot, self.loop_var("it")  # `with`: `.` is the value inside
        self.push(["endif", "endwith"], var, else_dot=outer, kind=self.last_kind)
        return [f"with {var} = {value}", f"if {var}"]

    def _output(self, tokens: list[str]) -> str:
        out = self.expr(tokens)
        if len(tokens) == 1 and re.search(r"\.(StartsAt|EndsAt)(\.Local|\.UTC)?$", tokens[0]):
            out += " | goTime"  # printed as Go prints a time
        if self.html and not re.search(r"\| (safeHtml|e)$", out):
            out = f"{group(out)} | e"  # html/template escapes what it prints
        return out

    def _named(self, tokens: list[str], go: tuple[str, str], tag: Callable[..., str]) -> str:
        """`define`/`block` (a macro taking Go's dot as `d`) and `template` (its call)."""
        name = macro_name(tokens[1])
        arg = self.expr(tokens[2:]) if len(tokens) > 2 else ""
        if tokens[0] == "template":
            return "{{" + go[0] + f" {name}({arg}) " + go[1] + "}}"
        after = "{{ " + f"{name}({arg})" + " }}" if tokens[0] == "block" else ""
        self.scopes.append(_Scope(["endmacro"], "d", "d",
                                  tokens[1].strip('"`').endswith(".html"), after=after))
        return str(tag(f"macro {name}(d)"))

    def _else(self, tokens: list[str], tag: Callable[..., str]) -> str:
        scope = self.scopes[-1] if self.scopes else None
        if scope is not None and scope.else_dot is not None:
            scope.dot, scope.kind = scope.else_dot, ""
        if tokens[1:2] == ["if"]:
            return tag(f"elif {self.expr(tokens[2:])}")
        if tokens[1:2] == ["with"]:
            self.note("`else with` has no Jinja equivalent here")
        return tag("else")

    def _assign(self, tokens: list[str]) -> str:
        name, op, value = tokens[0][1:], tokens[1], self.expr(tokens[2:])
        self.var_kinds[name] = self.last_kind
        if name in self.ns_vars:
            # Reassigned somewhere (maybe inside a loop, whose scope Jinja would not leave).
            return f"set {name}.v = {value}" if op == "=" else \
                f"set {name} = namespace(v={value})"
        return f"set {name} = {value}"

    def _range(self, tokens: list[str]) -> str:
        names: list[str] = []
        if ":=" in tokens:
            names = [t[1:] for t in tokens[:tokens.index(":=")] if t.startswith("$")]
            tokens = tokens[tokens.index(":=") + 1:]
        source = self.expr(tokens)
        kind = self.last_kind
        if kind == "map":
            # Go ranges over a map in key order, giving values (or key and value).
            var = self.loop_var(names[-1] if names else "value")
            self.push(["endfor"], var)
            if len(names) == 2:
                return f"for {names[0]}, {var} in {group(source)} | dictsort"
            return f"for {var} in {group(source)} | dictsort | map(attribute=1)"
        self.loop_index.update(names[:-1])
        if names:
            var = names[-1]
        elif kind == "pairs":
            var = self.loop_var("pair")
        elif re.search(r"(alerts|firing|resolved)\)?$", source):
            var = self.loop_var("alert")
        else:
            var = self.loop_var("item")
        self.push(["endfor"], var)
        return f"for {var} in {source}"


def macro_name(quoted: str) -> str:
    """A Go template name as a Jinja macro name: `"slack.default.title"` →
    slack_default_title; `"__subject"` → tpl__subject (Jinja hides names starting `_`)."""
    name = re.sub(r"\W", "_", quoted.strip('"`')) or "template"
    return "tpl" + name if name.startswith("_") else name


@dataclass(frozen=True, slots=True)
class Translation:
    """`text` with every Go action translated; each action with its Jinja; the notes on
    what has no equivalent here, each at the offset of its action in the Go text."""

    text: str
    actions: list[tuple[GoAction, str]]
    located: list[tuple[int, str]]

    @property
    def notes(self) -> list[str]:
        return [message for _, message in self.located]


def _whitespace(text: str, start: int, end: int) -> tuple[str, str]:
    """`+` markers keeping what lstrip_blocks (spaces before a tag alone on its line)
    and trim_blocks (the newline after a tag) would remove."""
    line = text[text.rfind("\n", 0, start) + 1:start]
    left = "+" if line and not line.strip(" \t") else ""
    right = "+" if text[end:end + 1] in ("\n", "\r") else ""
    return left, right


def translate(text: str, *, mark: bool = False) -> Translation:
    """`text` with every Go action translated; `mark`: a `{# migrate: … #}` comment
    after each action that could not be."""
    reassigned = {m.group(1) for m in re.finditer(r"\$(\w+)\s*(:?=)", text)
                  if m.group(2) == "="}
    tr = _Translator(ns_vars=frozenset(reassigned))
    actions: list[tuple[GoAction, str]] = []
    out: list[str] = []
    at = noted = 0
    for m in _ACTION.finditer(text):
        between = text[at:m.start()]
        # html/template drops HTML comments (Alertmanager's email HTML carries a licence).
        out.append(_HTML_COMMENT.sub("", between) if tr.html else between)
        at = m.end()
        if not _is_go(m.group(2)):
            out.append(m.group())
            continue
        tr.offset = m.start()
        jinja = tr.action(m.group(2), (m.group(1), m.group(3)),
                          _whitespace(text, m.start(), m.end()))
        actions.append((GoAction(m.start(), m.group()), jinja))
        out.append(jinja)
        if mark and len(tr.notes) > noted:
            out.append("".join(f"{{# migrate: {msg} #}}" for _, msg in tr.notes[noted:]))
        noted = len(tr.notes)
    out.append(text[at:])
    if tr.scopes:
        tr.offset = len(text)
        tr.note("a block is not closed with {{ end }}")
    return Translation("".join(out), actions, tr.notes)


def to_jinja(text: str) -> tuple[str, list[str]]:
    """`text` with every Go action translated, and notes on what has no equivalent."""
    found = translate(text)
    return found.text, found.notes
