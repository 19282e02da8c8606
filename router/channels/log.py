"""The log channel: one readable line per notification, logged as the `msg` of a record of
the `router.notifications` logger (stdout, in the process's log format: router/logs.py), or
written raw to a given stream (tests). Useful as a first receiver; it always succeeds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TextIO

from router.channels.base import SendContext
from router.config.fields import FieldReader
from router.config.types import LogConfig, Pacing
from router.config.yaml_source import Node
from router.logs import NOTIFICATIONS
from router.model import Notification, common_items
from router.rendering import Renderer, label_matchers, template_data

if TYPE_CHECKING:  # only the registry's signature: this channel sends without HTTP
    from router.channels.http import HttpClient

log = logging.getLogger(__name__)
notes = logging.getLogger(NOTIFICATIONS)

MAX_LINE = 2000


def _value(v: str) -> str:
    """Bare when it is one simple word, quoted otherwise, so the line stays parseable."""
    if v and all(c.isalnum() or c in "._:/-@" for c in v):
        return v
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'


def log_line(n: Notification) -> str:
    """`[FIRING:2] receiver=x group={...} reason="..." | Name instance=... summary="..." ; ...`."""
    firing = sum(1 for a in n.alerts if not a.resolved(n.now))
    status = f"FIRING:{firing}" if firing else f"RESOLVED:{len(n.alerts)}"
    head = (f"[{status}] receiver={_value(n.receiver)} group={label_matchers(n.group_labels)} "
            f"reason={_value(str(n.reason))}")
    common = common_items(a.labels for a in n.alerts)
    parts = []
    for a in n.alerts:
        words = [a.labels.get("alertname", "") or "alert"]
        if a.resolved(n.now) and firing:
            words.append("(resolved)")
        # Only the labels that tell the alerts of this group apart.
        words += [f"{k}={_value(v)}" for k, v in sorted(a.labels.items())
                  if k != "alertname" and common.get(k) != v]
        summary = a.annotations.get("summary")
        if summary:
            words.append(f"summary={_value(summary)}")
        parts.append(" ".join(words))
    line = head + " | " + " ; ".join(parts)
    return cut_line(line)


def cut_line(line: str) -> str:
    line = " ".join(line.split())  # one physical line whatever the labels hold
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


class LogChannel:
    kind = "log"

    def __init__(self, cfg: LogConfig, renderer: Renderer, stream: TextIO | None = None) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing: Pacing | None = None
        self.target = "log"
        self._renderer = renderer
        self._stream = stream
        self._template = renderer.template(cfg.template) if cfg.template else None

    def render(self, n: Notification) -> bytes:
        if self._template is None:
            return log_line(n).encode()
        try:
            return cut_line(self._template.render(template_data(n))).encode()
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            return cut_line(self._renderer.plain_text(n).replace("\n", " | ")).encode()

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        line = payload.decode("utf-8", errors="replace")
        if self._stream is None:
            notes.info(line)
            return {}
        self._stream.write(line + "\n")
        self._stream.flush()
        return {}


def build(cfg: LogConfig, renderer: Renderer, http: HttpClient | None = None, *,
          stream: TextIO | None = None) -> LogChannel:
    """`http` is unused: the line goes to `stream`, else to the notifications logger."""
    if not isinstance(cfg, LogConfig):
        raise TypeError(f"log channel needs a LogConfig, got {type(cfg).__name__}")
    return LogChannel(cfg, renderer, stream)


# --- configuration: the `log_configs` entries -----------------------------------

CONFIG_KEY = "log_configs"
KEYS = ("send_resolved", "template")


def parse(fields: FieldReader, node: Node) -> LogConfig:
    return LogConfig(
        send_resolved=node.get_bool("send_resolved", True),
        template=fields.template_key(node, "template"),
    )
