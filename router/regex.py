"""Alertmanager's regular expressions: RE2 (the `google-re2` binding), so Go's semantics.

Alertmanager compiles every label regex with Go's `regexp` as `^(?:pattern)$`. Go's regexp
implements RE2's syntax with RE2's automata, so RE2 itself gives the same verdicts and the
same linear time, with no catastrophic backtracking: `(.*.*.*)*z` costs what `.*z` costs.
Python's `re` is not used for anything an operator or a client writes.

Where RE2 (C++) and Go's regexp (Alertmanager 0.25, Go < 1.22) still differ, this module
makes the verdict Go's:

- `\\C` (any byte) is RE2-only: Go refuses it as an invalid escape sequence;
- `(?<name>re)` is Go 1.22+ only; Alertmanager 0.25 refuses it (`(?P<name>re)` works);
- capture names must be ASCII word characters in Go;
- a repeat count of 1e9 or more is literal text for RE2 and refused by Go;
- error texts are Go's (`invalid repeat count`, not RE2's `invalid repetition size`).

Values are matched as UTF-8 bytes, as Go matches strings; a lone surrogate (which cannot
occur in Go) is passed through rather than failing the match.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import re2

from router.errors import MatcherError

# RE2's own error texts → Go's regexp/syntax ErrorCode texts, which Alertmanager prints.
_GO_ERRORS = {
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid named capture group": "invalid named capture",
    "pattern too large - compile failed": "expression too large",
}

# Program size budget per regex. RE2's default (8 MiB) refuses `\pL{1000}`, which Go
# accepts; 64 MiB accepts every pattern within Go's 1000-repetition limit that was tried,
# and is only used as far as a pattern needs it.
_MAX_MEM = 64 << 20


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # errors are raised, not printed to stderr
    options.never_capture = True  # only match / no match is needed: the fastest path
    options.max_mem = _MAX_MEM
    return options


_OPTIONS = _options()
_CAPTURE_OPTIONS = _options()
_CAPTURE_OPTIONS.never_capture = False


def _go_message(error: str) -> str:
    """`bad repetition operator: ++` → Go's "invalid nested repetition operator: `++`"."""
    code, sep, arg = error.partition(": ")
    if code == "invalid perl operator" and arg.startswith("(?<"):
        arg = "(?<"  # Go < 1.22 stops at `<` (lookbehinds, `(?<name>`)
    code = _GO_ERRORS.get(code, code)
    return f"{code}: `{arg}`" if sep else code


def _capture_name_error(pattern: str, i: int) -> str | None:
    """Go accepts `(?P<name>` only for names of ASCII letters, digits and `_`."""
    close = pattern.find(">", i + 4)
    name = pattern[i + 4 : close]
    if close == -1 or all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        return None  # RE2 reports an unterminated name itself
    return f"invalid named capture: `{pattern[i : close + 1]}`"


def _go_int(pattern: str, i: int) -> tuple[int, int] | None:
    """Go's `parseInt` at `i`: (value, end); -1 for 1e8 and over; None without digits or
    with a leading zero (which makes the whole `{...}` a literal)."""
    end = i
    while end < len(pattern) and pattern[end].isascii() and pattern[end].isdigit():
        end += 1
    digits = pattern[i:end]
    if not digits or (len(digits) > 1 and digits[0] == "0"):
        return None
    return (int(digits) if len(digits) <= 8 else -1), end


def _repeat_count_error(pattern: str, i: int) -> str | None:
    """Go refuses `{n}`, `{n,}`, `{n,m}` over 1000 (or min > max) wherever it stands; RE2
    reads counts of 1e9 and over as literal text instead, so check them here."""
    lo = _go_int(pattern, i + 1)
    if lo is None:
        return None
    low, j = lo
    high = low
    if pattern.startswith(",", j):
        hi = _go_int(pattern, j + 1)
        high, j = (-1, j + 1) if hi is None else hi
        if hi is not None and high == -1:
            high = 1001  # too big (Go marks the repeat invalid): refused below
    if not pattern.startswith("}", j):
        return None
    if low < 0 or low > 1000 or high > 1000 or (high >= 0 and low > high):
        return f"invalid repeat count: `{pattern[i : j + 1]}`"
    return None


def _skip_class(pattern: str, i: int) -> int:
    """Index just past the class that opens at `i`; escapes and `[:name:]` are skipped."""
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # `[]a]`: a `]` first in a class is literal
    while i < len(pattern) and pattern[i] != "]":
        if pattern[i] == "\\":
            i += 2
        elif pattern.startswith("[:", i) and pattern.find(":]", i + 2) != -1:
            i = pattern.find(":]", i + 2) + 2
        else:
            i += 1
    return i + 1


def _go_only_error(pattern: str) -> str | None:
    """The error Go reports for a pattern RE2 accepts (see the module docstring), or None."""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1 : i + 2]
            if nxt == "Q":  # literal text up to `\E` or the end
                end = pattern.find("\\E", i + 2)
                if end == -1:
                    return None
                i = end + 2
                continue
            if nxt == "C":
                return "invalid escape sequence: `\\C`"
            i += 2
        elif c == "[":
            i = _skip_class(pattern, i)
        elif c == "{" and (found := _repeat_count_error(pattern, i)):
            return found
        elif pattern.startswith("(?<", i):
            return "invalid or unsupported Perl syntax: `(?<`"
        elif pattern.startswith("(?P<", i):
            found = _capture_name_error(pattern, i)
            if found:
                return found
            i += 4
        else:
            i += 1
    return None


def _compile(pattern: str, options: Any, *, as_str: bool = False) -> Any:
    """RE2 program for `pattern`, or MatcherError with Go's message.

    Bytes mode (UTF-8) unless `as_str`: the binding's str mode maps every offset back to
    characters, three times the cost of a match/no-match answer.
    """
    try:
        encoded = pattern.encode("utf-8")
    except UnicodeEncodeError:
        raise MatcherError("invalid UTF-8") from None
    try:
        compiled = re2.compile(pattern if as_str else encoded, options)
    except re2.error as exc:
        message = exc.args[0] if exc.args else ""
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        raise MatcherError(_go_message(str(message))) from None
    found = _go_only_error(pattern)
    if found:
        raise MatcherError(found)
    return compiled


def _utf8(value: str) -> bytes:
    return value.encode("utf-8", "surrogatepass")


_ANCHOR_BOTH = getattr(getattr(re2, "_Anchor", None), "ANCHOR_BOTH", None)


def _full_matcher(program: Any) -> Callable[[bytes], bool]:
    """A whole-value match test for a compiled program.

    The binding's own C++ `RE2::Match` when it is reachable: less than half the cost of the
    public `fullmatch`, which builds a match object per call (matchers run for every alert
    on every route). The public call otherwise, should a release rename the internals.
    """
    native = getattr(getattr(program, "_regexp", None), "Match", None)
    if native is None or _ANCHOR_BOTH is None:
        return lambda data: program.fullmatch(data) is not None

    def full_match(data: bytes) -> bool:
        spans = native(_ANCHOR_BOTH, data, 0, len(data))
        return bool(spans[0][0] >= 0)

    return full_match


class Regex:
    """One Alertmanager label regex, anchored like Alertmanager's `^(?:pattern)$`."""

    __slots__ = ("_full_match", "pattern")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        try:
            program = _compile(f"^(?:{pattern})$", _OPTIONS)
        except MatcherError as exc:
            raise MatcherError(
                f'invalid regular expression "{pattern}": {exc.message}'
            ) from None
        self._full_match = _full_matcher(program)

    def fullmatch(self, value: str) -> bool:
        """Whether the whole of `value` matches (Go's `MatchString` on the anchored form)."""
        return self._full_match(_utf8(value))

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"


def compile_regex(pattern: str) -> Regex:
    """Compile an Alertmanager regex: RE2 syntax, fully anchored; MatcherError if invalid."""
    return Regex(pattern)


def parse_error(pattern: str) -> str | None:
    """Go's `regexp.Compile(pattern)` error text for the pattern as written (not anchored),
    e.g. "error parsing regexp: missing closing ): `(`"; None when it compiles."""
    try:
        _compile(pattern, _OPTIONS)
    except MatcherError as exc:
        return f"error parsing regexp: {exc.message}"
    return None


def search(pattern: str, text: str) -> bool:
    """Go's `regexp.MatchString`: an unanchored search (the templates' `match`)."""
    try:
        program = _compile(pattern, _OPTIONS)
    except MatcherError as exc:
        raise ValueError(f"error parsing regexp: {exc.message}") from None
    return program.search(_utf8(text)) is not None


def sub(pattern: str, repl: Callable[[Any], str], text: str) -> str:
    """Every non-overlapping match of `pattern` in `text` replaced by `repl(match)`.

    `repl` gets the binding's match object (`group(n)`, `group(name)`, str values).
    """
    try:
        program = _compile(pattern, _CAPTURE_OPTIONS, as_str=True)
    except MatcherError as exc:
        raise ValueError(f"error parsing regexp: {exc.message}") from None
    return str(program.sub(repl, text))
