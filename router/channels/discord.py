"""Discord: a webhook message with one embed per status (red/green) and one field per alert.

Embeds are filled within Discord's limits (10 embeds, 25 fields, 6,000 characters in all)
and the rest is summarised by a "+N more" footer. 429 answers carry `retry_after` in JSON.
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
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# Discord's message limits (discord.com/developers/docs/resources/message#embed-object).
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_FIELDS = 25
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_TOTAL = 6000  # title + description + field names and values + footer, all embeds
MAX_MORE = 300  # the "+N more" footer; reserved out of MAX_TOTAL
RED = 0xED4245
GREEN = 0x57F287
# Webhooks allow about 5 requests per 2 s each (and 30 a minute per channel).
DISCORD_PACING = Pacing(rate=0.5, burst=5)


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    """Alertmanager's `discord_configs` names: `webhook_url[_file]`, `title`, `message`."""

    webhook_url: Secret  # the webhook token is part of the URL: a secret
    title: str | None = None  # Jinja source: the first embed's title
    message: str | None = None  # Jinja source: the message content (push notification text)
    username: str | None = None
    avatar_url: str | None = None
    send_resolved: bool = True
    template: str | None = None  # Jinja file rendering the whole JSON body
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: Discord's webhook limit


@dataclass(slots=True)
class _Embeds:
    """Embeds being filled, with the characters they count against MAX_TOTAL."""

    embeds: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    used: int = 0


class DiscordChannel:
    kind = "discord"

    def __init__(self, cfg: DiscordConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or DISCORD_PACING
        self.target = target_id("discord", cfg.webhook_url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._title = renderer.compile_string(cfg.title) if cfg.title else None
        self._message = renderer.compile_string(cfg.message) if cfg.message else None
        self._m_title = renderer.macro("discord.j2", "embed_title")
        self._m_description = renderer.macro("discord.j2", "description")
        self._m_name = renderer.macro("discord.j2", "field_name")
        self._m_value = renderer.macro("discord.j2", "field_value")
        self._m_more = renderer.macro("discord.j2", "more")
        self._m_content = renderer.macro("discord.j2", "content")

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        try:
            body = self._body(n)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = self._envelope({"content": cut(self._renderer.plain_text(n), MAX_CONTENT)})
        return json.dumps(body, ensure_ascii=False).encode()

    def _body(self, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        if self._body_tmpl is not None:
            body = json.loads(self._body_tmpl.render(d))
            if not isinstance(body, dict):
                raise ValueError("discord template must render a JSON object")
            return self._envelope(body)
        content = self._message.render(d) if self._message else self._m_content(d)
        return self._envelope({"content": cut(content.strip(), MAX_CONTENT),
                               "embeds": self._embeds(d)})

    def _embeds(self, d: dict[str, Any]) -> list[dict[str, Any]]:
        # Firing first: at 3 a.m. what is still burning matters more than what recovered.
        alerts = d["alerts"].firing + d["alerts"].resolved
        out = _Embeds()
        shown = 0
        for a in alerts:
            if not self._add(out, a, d):
                break
            shown += 1
        hidden = alerts[shown:]
        if hidden:
            out.embeds[-1]["footer"] = {"text": cut(self._m_more(d, hidden).strip(), MAX_MORE)}
        return out.embeds

    def _add(self, out: _Embeds, a: dict[str, Any], d: dict[str, Any]) -> bool:
        """Add `a` as a field (opening a new embed if needed); False when it does not fit."""
        name = cut(self._m_name(a, d).strip(), MAX_FIELD_NAME)
        value = cut(self._m_value(a, d).strip(), MAX_FIELD_VALUE)
        cost = len(name) + len(value)
        status = a["status"]
        opening = (not out.embeds or out.statuses[-1] != status
                   or len(out.embeds[-1]["fields"]) >= MAX_FIELDS)
        embed: dict[str, Any] = {}
        if opening:
            if len(out.embeds) >= MAX_EMBEDS:
                return False
            embed = self._open(out, status, d)
            cost += len(embed["title"]) + len(embed.get("description", ""))
        if out.used + cost > MAX_TOTAL - MAX_MORE:
            return False
        if opening:
            out.embeds.append(embed)
            out.statuses.append(status)
        out.embeds[-1]["fields"].append({"name": name, "value": value, "inline": False})
        out.used += cost
        return True

    def _open(self, out: _Embeds, status: str, d: dict[str, Any]) -> dict[str, Any]:
        first = not out.embeds
        continued = status in out.statuses
        of_status = d["alerts"].firing if status == "firing" else d["alerts"].resolved
        if first and self._title is not None:
            title = self._title.render(d)
        else:
            title = self._m_title(d, status, of_status, continued)
        embed: dict[str, Any] = {"title": cut(title.strip(), MAX_TITLE),
                                 "color": RED if status == "firing" else GREEN}
        if first:
            # Only one embed may carry the URL: Discord merges embeds sharing one.
            embed["url"] = f"{d['externalURL']}/#/alerts"
            embed["description"] = cut(self._m_description(d).strip(), MAX_DESCRIPTION)
        embed["fields"] = []
        return embed

    def _envelope(self, body: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.cfg.username:
            out["username"] = self.cfg.username
        if self.cfg.avatar_url:
            out["avatar_url"] = self.cfg.avatar_url
        out.update(body)
        # Alert text must never ping @everyone or a role.
        out.setdefault("allowed_mentions", {"parse": []})
        return out

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        status, resp_headers, text = await self._http.post(
            self.cfg.webhook_url.reveal(), payload, headers=headers,
            timeout=ctx.timeout, endpoint="discord webhook endpoint",
            http_config=self.cfg.http_config,
        )
        # 204 No Content (200 with a message body under `?wait=true`).
        error = classify_http(status, resp_headers, text)
        if error is None:
            return {}
        if status == 429:
            raise rate_limited(error, text)
        raise error


def rate_limited(error: DeliveryError, text: str) -> DeliveryError:
    """Discord's 429 carries `retry_after` (float seconds) in JSON, more precise than the
    `Retry-After` header (whole seconds); either is honoured."""
    try:
        answer = json.loads(text)
    except ValueError:
        return error
    retry = answer.get("retry_after") if isinstance(answer, dict) else None
    if isinstance(retry, bool) or not isinstance(retry, int | float) or retry < 0:
        return error
    scope = " (global)" if answer.get("global") is True else ""
    return DeliveryError(FailureReason.RATE_LIMITED,
                         f"discord rate limited{scope}: retry after {float(retry):g}s",
                         retryable=True, retry_after=float(retry))


def build(cfg: DiscordConfig, renderer: Renderer, http: HttpClient) -> DiscordChannel:
    if not isinstance(cfg, DiscordConfig):
        raise TypeError(f"discord channel needs a DiscordConfig, got {type(cfg).__name__}")
    return DiscordChannel(cfg, renderer, http)


# --- configuration: the `discord_configs` entries -----------------------------------

CONFIG_KEY = "discord_configs"
KEYS = (
    "webhook_url",
    "webhook_url_file",
    "title",
    "message",
    "username",
    "avatar_url",
    "send_resolved",
    "template",
    "http_config",
    "timeout",
    "pacing",
)


def parse(fields: FieldReader, node: Node) -> DiscordConfig | None:
    url = fields.secret(node, "webhook_url", required=True)
    # Read every field even without a URL, so all of the entry's problems are reported.
    title = fields.template_string(node.get("title"))
    message = fields.template_string(node.get("message"))
    username = node.get_str("username")
    avatar_url = node.get_str("avatar_url")
    if avatar_url is not None and not avatar_url.startswith(("https://", "http://")):
        child = node.get("avatar_url")
        assert child is not None
        child.error("must be an http(s) URL")
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if url is None:
        return None
    return DiscordConfig(url, title, message, username, avatar_url, send_resolved, template,
                         http_config, timeout, pacing)
