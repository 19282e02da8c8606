"""Microsoft Teams through Workflows (`msteamsv2_configs`): Alertmanager's Adaptive Card.

A title block coloured by status and one Markdown text block, in the `message` envelope a
Workflows webhook takes, as Alertmanager's msteamsv2 notifier posts it. The same keys as
`teams_configs` (one config type, `TeamsConfig`), which posts alert-router's own card to
the same kind of webhook instead; both share the webhook's pacing target.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from router.channels.base import SendContext
from router.channels.http import HttpClient, cut
from router.channels.teams import (
    CARD_CONTENT_TYPE,
    KEYS,
    MAX_BODY_BYTES,
    MAX_TITLE,
    TeamsChannel,
    TeamsConfig,
    cut_bytes,
    parse,
)
from router.model import Notification
from router.rendering import Renderer, template_data

__all__ = ["CONFIG_KEY", "KEYS", "MSTeamsV2Channel", "build", "parse"]

log = logging.getLogger(__name__)

# Alertmanager's colours by group status.
_COLOR = {"firing": "Attention", "resolved": "Good"}


def am_envelope(title: str, text: str, color: str) -> dict[str, Any]:
    """Alertmanager's teamsMessage for Workflows, in its key order."""
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.2",
        "body": [
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium",
             "wrap": True, "style": "heading", "color": color},
            {"type": "TextBlock", "text": text, "wrap": True},
        ],
        "msteams": {"width": "full"},
    }
    return {"type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None,
                             "content": card}]}


class MSTeamsV2Channel:
    kind = "msteamsv2"

    def __init__(self, cfg: TeamsConfig, renderer: Renderer, http: HttpClient) -> None:
        # The transport, pacing, target and `template:` handling are the Teams channel's.
        self._teams = TeamsChannel(cfg, renderer, http)
        self._teams.kind = self.kind  # a `template:` failure counts as msteamsv2's
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = self._teams.pacing
        self.target = self._teams.target
        self._renderer = renderer
        # An explicit "" sends nothing there, as in Alertmanager.
        self._title = renderer.text_or_macro(cfg.title, "msteams.j2", "title")
        self._text = renderer.text_or_macro(cfg.text, "msteams.j2", "text")

    def render(self, n: Notification) -> bytes:
        if self.cfg.template:
            return self._teams.render(n)  # a whole card from the user's file
        try:
            body = self._body(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            text = self._renderer.plain_text(n)
            first, _, rest = text.partition("\n")
            status = "firing" if first.startswith("[FIRING") else "resolved"
            body = am_envelope(cut(first, MAX_TITLE), cut_bytes(rest, MAX_BODY_BYTES // 2),
                               _COLOR[status])
        return json.dumps(body, ensure_ascii=False).encode()

    def _body(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        title = self._title(d)
        body = am_envelope(cut(title, MAX_TITLE), "", _COLOR[d["status"]])
        # Workflows refuses bodies over 28 KB; Alertmanager sends the text whole and loses
        # the card, alert-router cuts the text to what is left.
        room = MAX_BODY_BYTES - len(json.dumps(body, ensure_ascii=False).encode()) - 16
        text = self._text(d)
        body["attachments"][0]["content"]["body"][1]["text"] = cut_bytes(text, room)
        return body

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        return await self._teams.send(payload, ctx)


def build(cfg: TeamsConfig, renderer: Renderer, http: HttpClient) -> MSTeamsV2Channel:
    if not isinstance(cfg, TeamsConfig):
        raise TypeError(f"msteamsv2 channel needs a TeamsConfig, got {type(cfg).__name__}")
    return MSTeamsV2Channel(cfg, renderer, http)


# --- configuration: the `msteamsv2_configs` entries: the keys of `teams_configs` --------

CONFIG_KEY = "msteamsv2_configs"
