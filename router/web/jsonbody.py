"""Decoding a request body as JSON, refusing what no JSON peer can hold, with its path.

Syntax errors (and `NaN`/`Infinity`, which Python reads but JSON does not have) are 400;
well-formed values outside what the router accepts are 422 with the JSON path of the value
(README "Accepted values"): a string holding a lone surrogate (`"\\ud800"`: not Unicode
text, so it could not be stored, hashed or sent on), an integer longer than 308 digits or
a number beyond float64 (what Go's decoder and every sender can represent). Paths use the
ingest formats' spelling: `[1].labels.pg`, `alerts[0].startsAt`, `$` for the document.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from router.errors import InputError
from router.web.errors import RequestError

# float64 holds every integer of up to 308 digits (1.8e308); longer ones are out of range.
MAX_INT_DIGITS = 308

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Bad:
    """Stands in for a number the decoder refused, until the walk finds its path."""

    __slots__ = ("message", "status")

    def __init__(self, message: str, status: int) -> None:
        self.message = message
        self.status = status


def _decode_text(raw: bytes) -> str:
    """RFC 8259: UTF-8 (a BOM tolerated); UTF-16/32 as `json.loads` detects them. Strict:
    encoded surrogates and invalid bytes are malformed JSON."""
    encoding = json.detect_encoding(raw)
    if encoding == "utf-8-sig":
        raw, encoding = raw[3:], "utf-8"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise RequestError(f"malformed JSON: not valid {encoding} text at byte {exc.start}",
                           status=400) from None


def loads(raw: bytes) -> Any:
    """The body as JSON; RequestError (400) or InputError (422) with the path otherwise."""
    text = _decode_text(raw)
    bad = False

    def parse_int(digits: str) -> Any:
        nonlocal bad
        if len(digits) - digits.startswith("-") > MAX_INT_DIGITS:
            bad = True
            return _Bad(f"number longer than {MAX_INT_DIGITS} digits", 422)
        return int(digits)

    def parse_float(digits: str) -> Any:
        nonlocal bad
        value = float(digits)
        if not math.isfinite(value):
            bad = True
            return _Bad("number out of range (beyond float64)", 422)
        return value

    def parse_constant(name: str) -> Any:
        nonlocal bad
        bad = True
        return _Bad(f"malformed JSON: {name} is not a JSON value", 400)

    try:
        value = json.loads(text, parse_int=parse_int, parse_float=parse_float,
                           parse_constant=parse_constant)
        if bad or _SURROGATE_ESCAPE.search(text):
            _walk(value, "")
    except RecursionError:
        raise RequestError("JSON nested too deeply", status=400) from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"malformed JSON: {exc}", status=400) from None
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(value: Any, path: str) -> None:
    if isinstance(value, _Bad):
        where = path or "$"
        if value.status == 400:
            raise RequestError(value.message, where, status=400)
        raise InputError(value.message, where)
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise InputError("not valid Unicode text (a lone surrogate)", path or "$")
    elif isinstance(value, dict):
        for key, item in value.items():
            if _SURROGATE.search(key):
                raise InputError("a key is not valid Unicode text (a lone surrogate)",
                                 path or "$")
            _walk(item, _join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]")
