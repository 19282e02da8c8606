"""The slice of JQL the Jira fake understands: what Alertmanager sends, parsed strictly.

`field op value` clauses joined by `and` / `or` with parentheses (`=`, `!=`, `>=`, `<=`,
`>`, `<`, `is [not] EMPTY`), relative dates (`-60m`, `-2h`, `-1d`, `-1w`) and an
`order by` list. Anything else is a JqlError with Jira's wording.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

FIELDS = ("project", "labels", "status", "statuscategory", "resolution", "resolutiondate",
          "issuetype")
_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<op>!=|>=|<=|=|>|<)|'
                    r'(?P<paren>[()])|(?P<comma>,)|(?P<word>[^\s"=!<>(),]+))')
_RELATIVE = re.compile(r"^-(\d+)([mhdw])$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}

Issue = dict[str, Any]
Predicate = Callable[[Issue, float], bool]


class JqlError(Exception):
    """A query Jira answers with 400 and this message."""


@dataclass
class Query:
    where: Predicate
    order: list[tuple[str, str]]


def tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append((kind, value[1:-1].replace('\\"', '"') if kind == "str" else value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, projects: set[str]) -> None:
        self.toks = tokens(text)
        self.i = 0
        self.projects = projects

    def peek_word(self) -> str:
        if self.i < len(self.toks) and self.toks[self.i][0] == "word":
            return self.toks[self.i][1].lower()
        return ""

    def take(self) -> tuple[str, str]:
        if self.i >= len(self.toks):
            raise JqlError("Error in the JQL Query: Expecting a field name but got the end.")
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Query:
        where = self.expr()
        order: list[tuple[str, str]] = []
        if self.peek_word() == "order":
            self.take()
            if self.take()[1].lower() != "by":
                raise JqlError("Error in the JQL Query: Expecting 'by' after 'order'.")
            order = self.order()
        if self.i != len(self.toks):
            raise JqlError(f"Error in the JQL Query: unexpected '{self.toks[self.i][1]}'.")
        return Query(where, order)

    def order(self) -> list[tuple[str, str]]:
        out = []
        while True:
            name = self.take()[1].lower()
            direction = "asc"
            if self.peek_word() in ("asc", "desc"):
                direction = self.take()[1].lower()
            out.append((name, direction))
            if self.i < len(self.toks) and self.toks[self.i][0] == "comma":
                self.take()
                continue
            return out

    def expr(self) -> Predicate:
        left = self.conj()
        while self.peek_word() == "or":
            self.take()
            right = self.conj()
            left = (lambda a, b: lambda i, now: a(i, now) or b(i, now))(left, right)
        return left

    def conj(self) -> Predicate:
        left = self.atom()
        while self.peek_word() == "and":
            self.take()
            right = self.atom()
            left = (lambda a, b: lambda i, now: a(i, now) and b(i, now))(left, right)
        return left

    def atom(self) -> Predicate:
        kind, value = self.take()
        if kind == "paren" and value == "(":
            inner = self.expr()
            if self.take() != ("paren", ")"):
                raise JqlError("Error in the JQL Query: Expecting ')'.")
            return inner
        field = value.lower()
        if kind != "word" or field not in FIELDS:
            raise JqlError(f"Field '{value}' does not exist or you do not have permission "
                           "to view it.")
        if self.peek_word() == "is":
            self.take()
            negate = self.peek_word() == "not"
            if negate:
                self.take()
            if self.take()[1].upper() != "EMPTY":
                raise JqlError("Error in the JQL Query: Expecting EMPTY after 'is'.")
            return lambda i, now: (i.get(field) in (None, "", [])) != negate
        op_kind, op = self.take()
        if op_kind != "op":
            raise JqlError(f"Error in the JQL Query: Expecting operator but got '{op}'.")
        raw = self.take()[1]
        if field == "project" and raw.upper() not in self.projects:
            raise JqlError(f"The value '{raw}' does not exist for the field 'project'.")
        return _compare(field, op, raw)


def _compare(field: str, op: str, raw: str) -> Predicate:
    m = _RELATIVE.match(raw)
    if field == "resolutiondate":
        if m is None:
            raise JqlError(f"Date value '{raw}' for field 'resolutiondate' is invalid.")
        delta = int(m.group(1)) * _UNITS[m.group(2)]

        def dated(i: Issue, now: float) -> bool:
            when = i.get("resolutiondate")
            return when is not None and _ordered(when, op, now - delta)
        return dated
    if op not in ("=", "!="):
        raise JqlError(f"The operator '{op}' is not supported by the '{field}' field.")

    def equal(i: Issue, now: float) -> bool:
        have = i.get(field)
        hit = raw.lower() in [v.lower() for v in have] if isinstance(have, list) else (
            have is not None and str(have).lower() == raw.lower())
        # Jira: `!=` never matches an empty value.
        return hit if op == "=" else (have not in (None, "", []) and not hit)
    return equal


def _ordered(a: float, op: str, b: float) -> bool:
    return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b, "=": a == b,
            "!=": a != b}[op]


def parse_jql(text: str, projects: set[str]) -> Query:
    return _Parser(text, projects).parse()
