"""Microsoft Teams, legacy Office 365 connector (`msteams_configs`): Alertmanager's MessageCard.

The connector answers 200 with the body `1` when it posted the card; when Teams throttles
it, it may still answer 200 with "Webhook message delivery failed with error: Microsoft
Teams endpoint returned HTTP error 429 ...": that 200 is a failure, classified by the code
it quotes.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, excerpt, target_id
from router.channels.http import HttpClient, classify_http, cut
from router.channels.teams import TEAMS_PACING, cut_bytes
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# Connector cards are limited to 28 KB; titles and summaries are one line in Teams.
MAX_BODY_BYTES = 28_000
MAX_TITLE = 1_000
# Alertmanager's themeColor by group status.
RED, GREEN = "8C1A1A", "2DC72D"
_FAILED_IN_200 = re.compile(r"(?i)delivery failed.*?HTTP error (\d{3})")


@dataclass(frozen=True, slots=True)
class MSTeamsConfig:
    """Alertmanager's `msteams_configs` names: `webhook_url[_file]`, `title`, `summary`,
    `text` (Jinja; default: Alertmanager's msteams.default.* texts)."""

    webhook_url: Secret  # the connector URL is its only credential: a secret
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    send_resolved: bool = True
    template: str | None = None  # Jinja file rendering the whole MessageCard (JSON)
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: the connector's ~4 requests/s per webhook


def message_card(title: str, summary: str, text: str, firing: bool) -> dict[str, Any]:
    """Alertmanager's teamsMessage, in its key order."""
    return {"@context": "http://schema.org/extensions", "type": "MessageCard",
            "title": title, "summary": summary, "text": text,
            "themeColor": RED if firing else GREEN}


class MSTeamsChannel:
    kind = "msteams"

    def __init__(self, cfg: MSTeamsConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or TEAMS_PACING
        self.target = target_id("teams", cfg.webhook_url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._card_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._title = renderer.text_or_macro(cfg.title, "msteams.j2", "title")
        self._summary = renderer.text_or_macro(cfg.summary, "msteams.j2", "summary")
        self._text = renderer.text_or_macro(cfg.text, "msteams.j2", "text")

    def render(self, n: Notification) -> bytes:
        try:
            card = self._card(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            text = self._renderer.plain_text(n)
            first = text.partition("\n")[0]
            card = message_card(cut(first, MAX_TITLE), cut(first, MAX_TITLE),
                                cut_bytes(text, MAX_BODY_BYTES // 2),
                                any(not a.resolved(n.now) for a in n.alerts))
        return json.dumps(card, ensure_ascii=False).encode()

    def _card(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        if self._card_tmpl is not None:
            card = json.loads(self._card_tmpl.render(d))
            if not isinstance(card, dict):
                raise ValueError("msteams template must render a MessageCard JSON object")
            return card
        title = cut(self._title(d), MAX_TITLE)
        summary = cut(self._summary(d), MAX_TITLE)
        card = message_card(title, summary, "", d["status"] == "firing")
        # The text gets what the 28 KB leave; Alertmanager sends it whole and the
        # connector refuses the card (413): an alert cut short beats no alert.
        room = MAX_BODY_BYTES - len(json.dumps(card, ensure_ascii=False).encode()) - 16
        card["text"] = cut_bytes(self._text(d), room)
        return card

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        status, headers, text = await self._http.post(
            self.cfg.webhook_url.reveal(), payload,
            headers={"Content-Type": "application/json"}, timeout=ctx.timeout,
            endpoint="teams connector endpoint", http_config=self.cfg.http_config,
        )
        error = classify_http(status, headers, text)
        if error is not None:
            raise error
        failed = _FAILED_IN_200.search(text)
        if failed is not None:
            raise failure_in_200(int(failed.group(1)), headers, text)
        return {}


def failure_in_200(code: int, headers: dict[str, str], text: str) -> DeliveryError:
    """A 200 whose body reports that Teams refused the card, classified by the quoted code."""
    error = classify_http(code if code >= 400 else 500, headers, text)
    assert error is not None
    message = f"teams connector answered 200 but did not deliver: {excerpt(text)}"
    reason = error.reason if code != 429 else FailureReason.RATE_LIMITED
    return DeliveryError(reason, message, retryable=error.retryable or code == 429,
                         retry_after=error.retry_after)


def build(cfg: MSTeamsConfig, renderer: Renderer, http: HttpClient) -> MSTeamsChannel:
    if not isinstance(cfg, MSTeamsConfig):
        raise TypeError(f"msteams channel needs an MSTeamsConfig, got {type(cfg).__name__}")
    return MSTeamsChannel(cfg, renderer, http)


# --- configuration: the `msteams_configs` entries -----------------------------------

CONFIG_KEY = "msteams_configs"
KEYS = ("webhook_url", "webhook_url_file", "title", "summary", "text", "send_resolved",
        "template", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> MSTeamsConfig | None:
    url = fields.secret(node, "webhook_url", required=True)
    # Read every field even without a URL, so all of the entry's problems are reported.
    title = fields.template_string(node.get("title"))
    summary = fields.template_string(node.get("summary"))
    text = fields.template_string(node.get("text"))
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if url is None:
        return None
    return MSTeamsConfig(url, title, summary, text, send_resolved, template, http_config,
                         timeout, pacing)
