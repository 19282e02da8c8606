"""Reads logfmt lines back (`key=value` or `key="escaped value"`), for tests of the logs."""

from __future__ import annotations

import json
import re

_PAIR = re.compile(r'([^\s=]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse(line: str) -> dict[str, str]:
    """The pairs of one logfmt line; AssertionError if anything is left over."""
    out: dict[str, str] = {}
    rest = line.strip()
    for match in _PAIR.finditer(rest):
        raw = match.group(2)
        out[match.group(1)] = json.loads(raw) if raw.startswith('"') else raw
    assert _PAIR.sub("", rest).strip() == "", f"not logfmt: {line!r}"
    return out
