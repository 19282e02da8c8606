"""A rendered channel payload as a person will read it (`alert-router render`): an email's
headers and decoded plain-text part, a chat message's visible texts in order (Slack blocks,
Teams cards, Discord embeds, Telegram's HTML as text), JSON for machines pretty-printed with
its characters decoded (no `\\ud83d` escapes).
"""

from __future__ import annotations

import html
import json
import re
from email import policy
from email.parser import BytesParser
from typing import Any

# Payloads read by programs, not people: shown as indented JSON.
_MACHINE = {"webhook"}
# Keys whose string values a person sees, in the order the message shows them.
_TEXT_KEYS = {"text", "title", "pretext", "description", "summary", "content", "message",
              "body", "name", "value", "footer", "severity", "source"}
_TAG = re.compile(r"<[^>]+>")


def readable(kind: str, payload: bytes) -> str:
    if kind == "email":
        return _email(payload)
    text = payload.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if kind in _MACHINE or not isinstance(body, dict | list):
        return json.dumps(body, indent=2, ensure_ascii=False)
    lines: list[str] = []
    _walk(body, lines, html_text=isinstance(body, dict) and body.get("parse_mode") == "HTML")
    return "\n".join(lines) if lines else json.dumps(body, indent=2, ensure_ascii=False)


def _walk(node: Any, out: list[str], *, html_text: bool, key: str = "") -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _walk(v, out, html_text=html_text, key=k)
    elif isinstance(node, list):
        for item in node:
            _walk(item, out, html_text=html_text, key=key)
    elif isinstance(node, str) and key in _TEXT_KEYS and node.strip():
        text = html.unescape(_TAG.sub("", node)) if html_text else node
        if not out or out[-1] != text:
            out.append(text)


def _email(payload: bytes) -> str:
    msg = BytesParser(policy=policy.default).parsebytes(payload)
    head = [f"{name}: {msg[name]}" for name in ("Subject", "From", "To") if msg[name]]
    part = msg.get_body(preferencelist=("plain",))
    text = part.get_content() if part is not None else ""
    return "\n".join(head) + "\n\n" + str(text).rstrip("\n")
