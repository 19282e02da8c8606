"""The filters of every template: Alertmanager's template functions, in Jinja spelling.

`.SortedPairs` → `sortedPairs`, `title` (Go's strings.Title), `reReplaceAll` (RE2, Go's
`$1` groups), `humanizeDuration`, `toJson`, `match`, and `goTime`, Go's `Time.Format`
(and Time's default print) for a migrated `{{ .StartsAt.Format "15:04" }}`. The Renderer
(router/rendering.py) registers them under those names.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from router import regex
from router.timefmt import parse_time


class Pair(NamedTuple):
    name: str
    value: str


def sorted_pairs(labels: Mapping[str, str]) -> list[Pair]:
    """Sorted by name with `alertname` first, as Alertmanager's `.SortedPairs`."""
    items = sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
    return [Pair(str(k), str(v)) for k, v in items]


def go_title(s: str) -> str:
    """Go's `strings.Title`: upper-case the first letter of each word, leave the rest."""
    out = []
    prev = " "
    for c in str(s):
        out.append(c.upper() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _is_separator(c: str) -> bool:
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


_GO_GROUP = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def re_replace_all(s: str, pattern: str, repl: str) -> str:
    """Go's `Regexp.ReplaceAllString`: `$1`, `${name}` and `$$` in the replacement."""

    def expand(m: Any) -> str:  # the RE2 binding's match object
        def ref(g: re.Match[str]) -> str:
            if g.group(1) == "$":
                return "$"
            name = g.group(2) or g.group(3)
            try:
                value = m.group(int(name)) if name.isdigit() else m.group(name)
            except (IndexError, KeyError):
                return ""  # Go expands an unknown group to the empty string
            return value or ""

        return _GO_GROUP.sub(ref, repl)

    return regex.sub(pattern, expand, str(s))  # RE2, like Go's regexp


def humanize_duration(value: Any) -> str:
    """Prometheus' `humanizeDuration`: 3723 → "1h 2m 3s", 0.25 → "250ms"."""
    v = float(value)
    if v == 0 or abs(v) >= 1:
        sign = "-" if v < 0 else ""
        whole = int(abs(v))
        days, hours = whole // 86400, whole // 3600 % 24
        minutes, seconds = whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{abs(v):.4g}s"
    for unit, scale in (("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if abs(v) * scale >= 1:
            return f"{v * scale:.4g}{unit}"
    return f"{v * 1e9:.4g}ns"


def epoch(value: Any) -> float:
    if isinstance(value, str):
        parsed = parse_time(value)
        return 0.0 if parsed is None else parsed
    return float(value)


def humanize_timestamp(value: Any) -> str:
    """Epoch seconds (or RFC 3339) → "2026-11-24 22:42:51 UTC"."""
    d = dt.datetime.fromtimestamp(epoch(value), tz=dt.UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def string_slice(*args: Any) -> list[str]:
    return [str(a) for a in args]


def match(s: Any, pattern: str) -> bool:
    """Go's `match`: unanchored regular-expression search (RE2, like Go's regexp)."""
    return regex.search(pattern, str(s))


def labels_without(labels: Mapping[str, str], *names: Any) -> dict[str, str]:
    """A copy without `names` (strings or lists of strings), like `.Remove`."""
    drop: set[str] = set()
    for name in names:
        if isinstance(name, str):
            drop.add(name)
        else:
            drop.update(str(x) for x in name)
    return {k: v for k, v in labels.items() if k not in drop}


def slack_escape(s: Any) -> str:
    """Slack mrkdwn control characters (`&`, `<`, `>`) must be escaped in text."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Go's reference-time layout elements (time/format.go), longest first, as strftime.
_GO_LAYOUT = re.compile(r"January|Monday|2006|Jan|Mon|MST|Z07:00|-07:00|-0700|Z0700|"
                        r"\.000000000|\.000000|\.000|\.999999999|\.999999|\.999|"
                        r"01|02|_2|03|04|05|06|15|PM|pm|1|2|3|4|5")
_STRFTIME = {
    "January": "%B", "Monday": "%A", "2006": "%Y", "Jan": "%b", "Mon": "%a", "MST": "%Z",
    "Z07:00": "Z", "-07:00": "+00:00", "-0700": "+0000", "Z0700": "Z",
    "01": "%m", "02": "%d", "03": "%I", "04": "%M", "05": "%S", "06": "%y", "15": "%H",
    "PM": "%p",
}


def go_time(value: Any, layout: str = "2006-01-02 15:04:05.999999999 -0700 MST") -> str:
    """Go's `Time.Format(layout)` in UTC (Alertmanager's times are UTC); the default
    layout is how Go prints a time. An unset time (Go's zero time) prints as Go's."""
    ts = parse_time(value) if isinstance(value, str) else (
        None if value is None else float(value))
    if ts is None or ts <= -62135596800:
        d = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    else:
        d = dt.datetime.fromtimestamp(ts, tz=dt.UTC)

    def one(m: re.Match[str]) -> str:
        tok = m.group()
        if tok == "pm":
            return d.strftime("%p").lower()  # Go's lower-case AM/PM
        if tok == "2006":
            return f"{d.year:04d}"  # strftime writes year 1 as "1"
        if tok in _STRFTIME:
            fmt = _STRFTIME[tok]
            return d.strftime(fmt) if "%" in fmt else fmt
        if tok.startswith(".0"):
            return "." + f"{d.microsecond:06d}{0:03d}"[:len(tok) - 1]
        if tok.startswith(".9"):
            frac = f"{d.microsecond:06d}".rstrip("0")
            return "." + frac[:len(tok) - 1] if frac else ""
        return {"_2": f"{d.day:2d}", "1": str(d.month), "2": str(d.day),
                "3": str(d.hour % 12 or 12), "4": str(d.minute), "5": str(d.second)}[tok]

    return _GO_LAYOUT.sub(one, layout)
