"""The Web Push payload: a small JSON document the service worker turns into a notification.

`{v, title, body, severity, status, group_key, tag, receiver, url, alerts, firing, sent_at}`,
at most 3,993 bytes of UTF-8 (what one RFC 8291 record carries inside the 4,096 bytes every
push service must accept): the body, then the group key, the URL, the title and the
receiver are cut until it fits. `url` opens the router's own UI (`page_of`). `tag` is a
short hash of (receiver, group key): the service worker's notification tag and the push
`Topic`, so a newer state of the group replaces the older one, in the tray and while it
waits at the push service.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
from typing import Any

from router.model import Alert, Notification
from router.rendering import label_matchers
from router.timefmt import format_time

VERSION = 1
MAX_PLAINTEXT = 3993
_ELLIPSIS = "…"
_SEVERITIES = ("critical", "page", "error", "warning", "info")  # most severe first
_BODY_LINES = 5
_CUT_ORDER = ("body", "group_key", "url", "title", "receiver")


def tag_of(receiver: str, group_key: str) -> str:
    """22 base64url characters (132 bits): a notification tag and a valid RFC 8030 Topic."""
    digest = hashlib.sha256(f"{receiver}\x1f{group_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:22]


def page_of(n: Notification) -> str:
    """The page of alert-router's own UI the notification opens: the alert's detail (its
    trace, its notifications, Silence) for a group of one, else the alerts list filtered
    by the group's labels."""
    base = n.external_url.rstrip("/") + "/#/"
    if len(n.alerts) == 1:
        return base + "alert/" + urllib.parse.quote(n.alerts[0].fingerprint, safe="")
    return base + "alerts?filter=" + urllib.parse.quote(label_matchers(n.group_labels),
                                                         safe="")


def severity_of(alerts: tuple[Alert, ...] | list[Alert]) -> str:
    """The most severe `severity` label among the alerts ("" when none has a known one)."""
    found = {str(a.labels.get("severity", "")).lower() for a in alerts}
    return next((s for s in _SEVERITIES if s in found), "")


def render(n: Notification) -> bytes:
    """The payload of `n`, within MAX_PLAINTEXT bytes."""
    firing = [a for a in n.alerts if not a.resolved(n.now)]
    resolved = [a for a in n.alerts if a.resolved(n.now)]
    names = sorted({str(a.labels.get("alertname", "")) for a in n.alerts} - {""})
    head = f"FIRING:{len(firing)}" if firing else "RESOLVED"
    url = page_of(n)
    doc: dict[str, Any] = {
        "v": VERSION,
        "title": f"[{head}] {', '.join(names) or 'alerts'}",
        "body": _body(firing, resolved),
        "severity": severity_of(firing or list(n.alerts)),
        "status": "firing" if firing else "resolved",
        "group_key": n.group_key,
        "tag": tag_of(n.receiver, n.group_key),
        "receiver": n.receiver,
        "url": url,
        "alerts": len(n.alerts),
        "firing": len(firing),
        "sent_at": format_time(n.now),
    }
    return fit(doc)


def _body(firing: list[Alert], resolved: list[Alert]) -> str:
    # Firing first: at 3 a.m. what still burns matters more than what recovered.
    lines = []
    shown = [*firing, *resolved]
    for i, a in enumerate(shown[:_BODY_LINES]):
        text = (a.annotations.get("summary") or a.annotations.get("description")
                or a.labels.get("instance") or a.labels.get("alertname") or "alert")
        mark = "" if i < len(firing) else "✓ "
        lines.append(mark + " ".join(str(text).split()))
    if len(shown) > _BODY_LINES:
        lines.append(f"+{len(shown) - _BODY_LINES} more")
    return "\n".join(lines)


def _dumps(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def fit(doc: dict[str, Any]) -> bytes:
    """`doc` encoded, its text fields cut (in _CUT_ORDER) until it is MAX_PLAINTEXT bytes."""
    data = _dumps(doc)
    for name in _CUT_ORDER:
        while len(data) > MAX_PLAINTEXT and doc.get(name):
            doc[name] = _cut(str(doc[name]), len(data) - MAX_PLAINTEXT)
            data = _dumps(doc)
    return data


def _cut(text: str, over: int) -> str:
    """`text` shorter by at least `over` encoded bytes (an escape is never shorter than its
    UTF-8), an ellipsis marking the cut; "" when little would be left."""
    raw = text.encode()
    keep = len(raw) - over - len(_ELLIPSIS.encode())
    if keep <= 0:
        return ""
    return raw[:keep].decode(errors="ignore") + _ELLIPSIS
