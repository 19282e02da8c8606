"""Alertmanager label matchers: the `Matcher` value, its string parsers and renderers.

`parse_matchers` reads the list form (config, silences); `parse_classic_matcher` is
Alertmanager 0.25's one-matcher API parser (`filter` of /api/v2/alerts/groups).

Regex matchers compile with RE2 (router/regex.py): Alertmanager's syntax and semantics.

Also renders route-key parts and Go `LabelSet.String()` for group keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from router.errors import MatcherError
from router.regex import Regex, compile_regex


class MatchOp(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


# Alertmanager's MatchType order (Equal, NotEqual, Regexp, NotRegexp): the tie-breaker when
# sorting matchers for the route key, so it is not the string order of the operators.
_OP_ORDER = {MatchOp.EQ: 0, MatchOp.NE: 1, MatchOp.RE: 2, MatchOp.NRE: 3}


_CLASSIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
# Alertmanager 0.25's `model.LabelNameRE` (no colon): what `match`, `match_re`, `group_by`,
# `equal`, a silence matcher's name and a source's label names must match.
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One `name op value` condition on an alert's labels; a missing label reads as ""."""

    name: str
    op: MatchOp
    value: str
    regex: Regex | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op in (MatchOp.RE, MatchOp.NRE) and self.regex is None:
            object.__setattr__(self, "regex", compile_regex(self.value))

    @classmethod
    def create(cls, name: str, op: MatchOp | str, value: str) -> Matcher:
        try:
            match_op = MatchOp(op)
        except ValueError:
            raise MatcherError(f"invalid operator {op!r}") from None
        return cls(name, match_op, value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return actual == self.value
        if self.op is MatchOp.NE:
            return actual != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(actual)  # RE2, anchored as Alertmanager anchors
        return found if self.op is MatchOp.RE else not found

    @property
    def matches_empty(self) -> bool:
        return self.matches({})

    def __str__(self) -> str:
        name = self.name
        if not _CLASSIC_NAME.fullmatch(name):
            name = f'"{_om_escape(name)}"'
        return f'{name}{self.op}"{_om_escape(self.value)}"'


class _Parser:
    """Cursor over `text[pos:end]`; every error carries the offset where it was found."""

    def __init__(self, text: str, pos: int, end: int) -> None:
        self.text = text
        self.pos = pos
        self.end = end

    def _skip_space(self) -> None:
        while self.pos < self.end and self.text[self.pos].isspace():
            self.pos += 1

    def _found(self) -> str:
        if self.pos >= self.end:
            return "end of input"
        return f'"{self.text[self.pos]}"'

    def _parse_one(self) -> Matcher:
        name = self._parse_name()
        self._skip_space()
        op = self._parse_op(name)
        self._skip_space()
        value_at = self.pos
        value = self._parse_value(name, op)
        try:
            return Matcher(name, op, value)
        except MatcherError as exc:
            raise MatcherError(exc.message, value_at) from None

    def _parse_name(self) -> str:
        start = self.pos
        if start < self.end and self.text[start] == '"':
            name = self._parse_quoted()
            if not name:
                raise MatcherError("empty label name", start)
            return name
        found = _CLASSIC_NAME.match(self.text, start, self.end)
        if found is None:
            raise MatcherError(f"expected label name, found {self._found()}", start)
        self.pos = found.end()
        return found.group()

    def _parse_op(self, name: str) -> MatchOp:
        for op in (MatchOp.RE, MatchOp.NE, MatchOp.NRE, MatchOp.EQ):  # two-char ops first
            if self.text.startswith(op.value, self.pos, self.end):
                self.pos += len(op.value)
                return op
        if self.pos >= self.end:
            raise MatcherError(f'missing operator after "{name}"', self.pos)
        raise MatcherError(
            f'invalid character {self._found()} after label name "{name}"'
            " (expected =, !=, =~ or !~)",
            self.pos,
        )

    def _parse_value(self, name: str, op: MatchOp) -> str:
        if self.pos < self.end and self.text[self.pos] == '"':
            return self._parse_quoted()
        start = self.pos
        while self.pos < self.end:
            c = self.text[self.pos]
            if c in ',"' or c.isspace():
                break
            self.pos += 1
        if self.pos == start:
            raise MatcherError(f'missing value after "{name}{op}" (use "" for empty)', start)
        return self.text[start : self.pos]

    def _parse_quoted(self) -> str:
        """A double-quoted string with OpenMetrics escapes; other backslashes are literal."""
        opening = self.pos
        text, i = self.text, self.pos + 1
        buf: list[str] = []
        while i < self.end:
            c = text[i]
            if c == '"':
                self.pos = i + 1
                return "".join(buf)
            if c == "\\" and i + 1 < self.end and text[i + 1] in '"\\n':
                buf.append("\n" if text[i + 1] == "n" else text[i + 1])
                i += 2
                continue
            buf.append(c)
            i += 1
        raise MatcherError("unterminated quoted string", opening)


def parse_matchers(text: str) -> list[Matcher]:
    """Alertmanager 0.25's `labels.ParseMatchers`: `{a="1", b=~"x|y"}`, `a=1,b=~x`, ...

    One leading `{` and one trailing `}` are dropped (each on its own, as Go's TrimPrefix
    and TrimSuffix do), the rest is split at commas outside double quotes, and each part
    is read by `labels.ParseMatcher` (`foo=` is an empty value, `foo=bar baz` the value
    `bar baz`, a stray backslash is literal). Beyond 0.25, a quoted UTF-8 label name
    (`"foo🙂"="bar"`) is read as Alertmanager 0.27+ reads it.
    """
    offset = 1 if text.startswith("{") else 0
    body = text[offset:]
    body = body.removesuffix("}")
    out: list[Matcher] = []
    for token, at in _split_matchers(body, offset):
        out.append(_parse_go_matcher(token, at))
    return out


def _split_matchers(body: str, offset: int) -> list[tuple[str, int]]:
    """Go's comma split: (token, offset in the original text); a last empty token (a
    trailing comma) is dropped, an empty token in the middle is kept (and refused)."""
    tokens: list[tuple[str, int]] = []
    inside = escaped = False
    start = 0
    for i, ch in enumerate(body):
        if ch == "," and not inside:
            tokens.append((body[start:i], offset + start))
            start = i + 1
            continue
        if ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        elif ch != ",":
            escaped = False
    last = body[start:]
    if last.strip(_GO_SPACE):
        lead = len(last) - len(last.lstrip(_GO_SPACE))
        tokens.append((last.strip(_GO_SPACE), offset + start + lead))
    return tokens


_GO_MATCHER = re.compile(
    r"^[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*"
    r"(.*?)[\t\n\f\r ]*$", re.DOTALL)


def _parse_go_matcher(token: str, at: int) -> Matcher:
    """`labels.ParseMatcher` on one token; errors carry Go's texts and the token's offset."""
    found = _GO_MATCHER.match(token)
    if found is None:
        stripped = token.lstrip(_GO_SPACE)
        if stripped.startswith('"'):  # a quoted UTF-8 name: 0.27+'s syntax
            lead = len(token) - len(stripped)
            parser = _Parser(token, lead, len(token.rstrip(_GO_SPACE)))
            try:
                matcher = parser._parse_one()
            except MatcherError as exc:
                raise MatcherError(exc.message, at + exc.offset) from None
            if parser.pos == parser.end:
                return matcher
        raise MatcherError(f"bad matcher format: {token}", at)
    name, op, raw = found.groups()
    try:
        value = _classic_value(raw)
    except MatcherError as exc:
        raise MatcherError(exc.message, at) from None
    try:
        return Matcher(name, MatchOp(op), value)
    except MatcherError as exc:
        raise MatcherError(exc.message, at + found.start(3)) from None


def parse_matcher(text: str) -> Matcher:
    """Parse exactly one matcher."""
    found = parse_matchers(text)
    if len(found) != 1:
        raise MatcherError(f"expected exactly one matcher, found {len(found)}", 0)
    return found[0]


# Go's `\s` (RE2): what Alertmanager 0.25's matcher regexp skips around the three tokens.
_GO_SPACE = "\t\n\f\r "


def parse_classic_matcher(text: str) -> Matcher:
    """One matcher as Alertmanager 0.25's `labels.ParseMatcher` reads it (API `filter`).

    `name op value` with a classic label name, the value optionally in double quotes with
    OpenMetrics escapes (a stray backslash is literal); no braces, no list. Errors carry
    Go's texts (`bad matcher format: foo`, ``error parsing regexp: …``).
    """
    found = _GO_MATCHER.match(text)
    if found is None:
        raise MatcherError(f"bad matcher format: {text}")
    name, op, raw = found.groups()
    value = _classic_value(raw)
    try:
        return Matcher(name, MatchOp(op), value)
    except MatcherError as exc:  # the regex: Go prints the anchored form it compiled
        reason = exc.message.removeprefix(f'invalid regular expression "{value}": ')
        raise MatcherError(f"error parsing regexp: {reason}") from None


def _classic_value(raw: str) -> str:
    """`labels.ParseMatcher`'s unescaping of the value token `raw`."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(body):
        if escaped:
            escaped = False
            out.append("\n" if ch == "n" else ch if ch in '"\\' else "\\" + ch)
        elif ch == "\\" and i < len(body) - 1:
            escaped = True
        elif ch == '"':
            if not quoted or i < len(body) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            out.append(ch)
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return "".join(out)


def from_match_maps(match: Mapping[str, str], match_re: Mapping[str, str]) -> list[Matcher]:
    """Matchers for the deprecated `match` (equality) and `match_re` (regex) maps."""
    out = [Matcher(name, MatchOp.EQ, value) for name, value in match.items()]
    # Alertmanager compiles a match_re value as `^(?:v)$` and builds the matcher from the
    # compiled regexp's text, so the anchored form is what its route key (and so the
    # group key and PagerDuty's dedup_key) shows: `{service=~"^(?:chk|pay)$"}`.
    out.extend(Matcher(name, MatchOp.RE, f"^(?:{value})$") for name, value in match_re.items())
    return out


def route_key_part(matchers: Sequence[Matcher]) -> str:
    """One route's part of the route key: `{a="1",b=~"x"}` sorted by name, value, op."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.value, _OP_ORDER[m.op]))
    return "{" + ",".join(str(m) for m in ordered) + "}"


_GO_NAMED_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(value: str) -> str:
    """Go's `%q` / `strconv.Quote`: printable Unicode stays, the rest is escaped."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # the common case, without a loop per character
    out = ['"']
    for ch in value:
        named = _GO_NAMED_ESCAPES.get(ch)
        if named is not None:
            out.append(named)
        elif ch.isprintable():
            # Python's printable set (not C* or Z* except space) is Go's unicode.IsPrint.
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def format_label_set(labels: Mapping[str, str]) -> str:
    """Go `model.LabelSet.String()`: `{a="x", b="y"}`.

    Go sorts the rendered `name="value"` strings, not the names, so `a0` sorts before `a`;
    code-point order here equals Go's byte order on UTF-8.
    """
    pairs = sorted(f"{name}={go_quote(value)}" for name, value in labels.items())
    return "{" + ", ".join(pairs) + "}"
