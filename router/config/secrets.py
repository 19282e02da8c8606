"""Scrubbing secrets out of text: what a vendor echoes must never reach a log or the store.

`secret_values` collects every secret a config dataclass holds (in the forms a vendor may
echo: as is, URL-quoted, the basic-auth header); `scrub` replaces them with `<secret>`.
Delivery runs every failure message through it before it is logged, stored or served.
A value module: it imports only config.types, so run-time modules may use it.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any
from urllib.parse import quote, urlsplit

from router.config.types import BasicAuth, Secret

REDACTED = "<secret>"
_AUTH_HEADER = re.compile(r"(?i)\b(basic|bearer)(\s+)[A-Za-z0-9+/=._~-]{4,}")
_TOKENISH = re.compile(r"(?=[^/?&=]*\d)[^/?&=]{6,}")


def _reveal(secret: Secret) -> str:
    try:
        return secret.reveal()
    except (OSError, UnicodeDecodeError):
        return ""


def _variants(value: str) -> set[str]:
    """The forms a secret takes when a server echoes it: as is, URL- or JSON-escaped, and
    for a URL its path and query and every token-like part of them."""
    out = {value, quote(value, safe=""), value.replace("/", "\\/")}
    parts = urlsplit(value)
    if parts.scheme and parts.netloc:
        if parts.password:  # a proxy URL's user:password
            out.add(parts.password)
        tail = parts.path + (f"?{parts.query}" if parts.query else "")
        out.update(p for p in (tail, parts.path, parts.query) if len(p) > 1)
        out.update(m.group() for m in _TOKENISH.finditer(parts.path + "/" + parts.query))
    return {v for v in out if len(v) >= 4}


def secret_values(obj: Any) -> list[str]:
    """Every secret held anywhere in `obj` (a config dataclass), in its echoed forms,
    longest first; `_file` secrets are read now. Basic auth adds its encoded header."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, Secret):
            found.update(_variants(_reveal(value)))
        elif isinstance(value, BasicAuth):
            password = _reveal(value.password)
            found.update(_variants(password))
            username = value.username
            if value.username_file:
                username = _reveal(Secret(file=value.username_file))
            pair = f"{username}:{password}".encode()
            found.add(base64.b64encode(pair).decode())
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(obj)
    return sorted(found, key=len, reverse=True)


def scrub(text: str, secrets: list[str]) -> str:
    """`text` with every secret (and any echoed credential header) as `<secret>`.

    An excerpt cut with "…" inside a secret would keep the secret's start: that goes too.
    """
    for value in secrets:
        text = text.replace(value, REDACTED)
    text = _AUTH_HEADER.sub(rf"\1\2{REDACTED}", text)
    if text.endswith("…"):
        body = text[:-1]
        for value in secrets:
            n = next((n for n in range(min(len(value), len(body)), 3, -1)
                      if body.endswith(value[:n])), 0)
            if n:
                body = body[:-n] + REDACTED
                break
        text = body + "…"
    return text
