"""Microsoft Teams: an Adaptive Card posted to a Workflows (Power Automate) webhook.

The card is cut with a "+N more" line so the encoded body stays under Teams' 28 KB limit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, target_id
from router.channels.http import HttpClient, classify_http, cut
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# Workflows rejects bodies over about 28 KB; stay below with room for the "+N more" block.
MAX_BODY_BYTES = 28_000
_MORE_RESERVE = 400
MAX_TITLE = 500
MAX_TEXT = 2000  # per alert text block, so one huge description cannot fill the card
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
# Workflows webhooks are throttled at about 4 requests per second per flow.
TEAMS_PACING = Pacing(rate=4.0, burst=4)


@dataclass(frozen=True, slots=True)
class TeamsConfig:
    """Alertmanager's `msteamsv2_configs` names: `webhook_url[_file]`, `title`, `text`."""

    webhook_url: Secret  # the Workflows URL carries its signature (`sig=`): a secret
    title: str | None = None  # Jinja source; default: status, severity, alert name, count
    text: str | None = None  # Jinja source; replaces the per-alert blocks
    send_resolved: bool = True
    template: str | None = None  # Jinja file rendering the Adaptive Card object (JSON)
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: Teams' ~4 requests/s per webhook


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message",
            "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}


def text_block(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **extra}


class TeamsChannel:
    kind = "teams"

    def __init__(self, cfg: TeamsConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or TEAMS_PACING
        self.target = target_id("teams", cfg.webhook_url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._card_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._title = renderer.compile_string(cfg.title) if cfg.title else None
        self._text = renderer.compile_string(cfg.text) if cfg.text else None
        self._m_title = renderer.macro("teams.j2", "title")
        self._m_context = renderer.macro("teams.j2", "context")
        self._m_alert_title = renderer.macro("teams.j2", "alert_title")
        self._m_facts = renderer.macro("teams.j2", "facts")
        self._m_links = renderer.macro("teams.j2", "links")
        self._m_more = renderer.macro("teams.j2", "more")
        self._m_url = renderer.macro("teams.j2", "alertmanager_url")

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            body = envelope(self._card(n))
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = envelope(self._plain_card(n))
        return json.dumps(body, ensure_ascii=False).encode()

    def _card(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        if self._card_tmpl is not None:
            card = json.loads(self._card_tmpl.render(d))
            if not isinstance(card, dict):
                raise ValueError("teams template must render an Adaptive Card JSON object")
            if _size(envelope(card)) > MAX_BODY_BYTES:
                raise ValueError("teams template rendered a card over the 28 KB limit")
            return card
        title = (self._title.render(d) if self._title else self._m_title(d)).strip()
        firing = d["status"] == "firing"
        card = self._skeleton(d, cut(title, MAX_TITLE), firing)
        body: list[dict[str, Any]] = card["body"]
        if self._text is not None:
            budget = MAX_BODY_BYTES - _size(envelope(card)) - 64
            body.append(text_block(cut_bytes(self._text.render(d).strip(), budget)))
            return card
        # Firing first: at 3 a.m. what is still burning matters more than what recovered.
        alerts = d["alerts"].firing + d["alerts"].resolved
        used = _size(envelope(card)) + _MORE_RESERVE
        shown = 0
        for a in alerts:
            block = self._alert_block(a, d)
            cost = _size(block) + 1  # and a comma
            if used + cost > MAX_BODY_BYTES:
                break
            body.append(block)
            used += cost
            shown += 1
        hidden = alerts[shown:]
        if hidden:
            body.append(text_block(cut(self._m_more(d, hidden).strip(), 300),
                                   isSubtle=True, separator=True))
        return card

    def _skeleton(self, d: dict[str, Any], title: str, firing: bool) -> dict[str, Any]:
        return {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": [
                text_block(title, size="Large", weight="Bolder",
                           color="Attention" if firing else "Good"),
                text_block(cut(self._m_context(d).strip(), MAX_TEXT), isSubtle=True,
                           spacing="None"),
            ],
            "actions": [{"type": "Action.OpenUrl", "title": "Open in Alertmanager",
                         "url": self._m_url(d).strip()}],
        }

    def _alert_block(self, a: dict[str, Any], d: dict[str, Any]) -> dict[str, Any]:
        items: list[dict[str, Any]] = [
            text_block(cut(self._m_alert_title(a, d).strip(), MAX_TITLE), weight="Bolder",
                       color="Attention" if a["status"] == "firing" else "Good"),
        ]
        description = a["annotations"].get("description", "")
        if description:
            items.append(text_block(cut(description, MAX_TEXT), spacing="Small"))
        facts = json.loads(self._m_facts(a, d))
        items.append({"type": "FactSet", "spacing": "Small",
                      "facts": [{"title": cut(str(t), 100), "value": cut(str(v), 500)}
                                for t, v in facts]})
        items.append(text_block(cut(self._m_links(a, d).strip(), MAX_TEXT), spacing="Small"))
        return {"type": "Container", "separator": True, "items": items}

    def _plain_card(self, n: Notification) -> dict[str, Any]:
        text = self._renderer.plain_text(n)
        title, _, rest = text.partition("\n")
        return {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [text_block(cut(title, MAX_TITLE), size="Large", weight="Bolder"),
                     text_block(cut_bytes(rest, MAX_BODY_BYTES // 2))],
        }

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        # Workflows answers 202 Accepted; any 2xx is delivered.
        headers = {"Content-Type": "application/json"}
        status, resp_headers, text = await self._http.post(
            self.cfg.webhook_url.reveal(), payload,
            headers=headers, timeout=ctx.timeout,
            endpoint="teams workflow endpoint", http_config=self.cfg.http_config,
        )
        error = classify_http(status, resp_headers, text)
        if error is not None:
            raise error
        return {}


def cut_bytes(text: str, limit: int) -> str:
    """`text` cut so its JSON-encoded UTF-8 form stays within `limit` bytes."""
    if _size(text) <= limit:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits, with room for the ellipsis
        mid = (low + high + 1) // 2
        if _size(text[:mid] + "…") <= limit:
            low = mid
        else:
            high = mid - 1
    return text[:low] + "…"


def build(cfg: TeamsConfig, renderer: Renderer, http: HttpClient) -> TeamsChannel:
    if not isinstance(cfg, TeamsConfig):
        raise TypeError(f"teams channel needs a TeamsConfig, got {type(cfg).__name__}")
    return TeamsChannel(cfg, renderer, http)


# --- configuration: the `teams_configs` entries ------------------------------------

CONFIG_KEY = "teams_configs"
KEYS = (
    "webhook_url",
    "webhook_url_file",
    "title",
    "text",
    "send_resolved",
    "template",
    "http_config",
    "timeout",
    "pacing",
)


def parse(fields: FieldReader, node: Node) -> TeamsConfig | None:
    url = fields.secret(node, "webhook_url", required=True)
    # Read every field even without a URL, so all of the entry's problems are reported.
    title = fields.template_string(node.get("title"))
    text = fields.template_string(node.get("text"))
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if url is None:
        return None
    return TeamsConfig(url, title, text, send_resolved, template, http_config, timeout, pacing)
