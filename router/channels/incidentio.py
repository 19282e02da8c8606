"""incident.io (`incidentio_configs`): Alertmanager's webhook message to an alert source.

The body is what Alertmanager's incidentio notifier posts to an incident.io Alertmanager
alert source: the webhook v4 message with `version: "1"`; incident.io groups it into one
alert per `groupKey`. Over incident.io's 512 KB limit only the first alert is kept, as
Alertmanager does. The token goes in `Authorization: Bearer`, added at send time.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from router.channels.base import SendContext, excerpt, reveal, target_id
from router.channels.http import HttpClient, classify_http, user_agent
from router.channels.webhook import go_json, v4_body
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.model import Notification
from router.rendering import Renderer

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 512 * 1024
# incident.io's API allows 1,200 requests a minute per key.
INCIDENTIO_PACING = Pacing(rate=20.0, burst=20)


@dataclass(frozen=True, slots=True)
class IncidentioConfig:
    """Alertmanager's `incidentio_configs` names."""

    url: Secret  # the alert source URL: its config id is enough to post events, a secret
    alert_source_token: Secret | None = None  # else http_config.authorization
    max_alerts: int = 0
    send_resolved: bool = True
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: incident.io's API rate limit

    @property
    def template(self) -> str | None:
        return None  # the body is Alertmanager's message, never templated


def message(n: Notification, max_alerts: int) -> dict[str, Any]:
    """Alertmanager's incidentio Message: template data, version "1", group key,
    truncated count (max_alerts applies first)."""
    body = v4_body(n, max_alerts)
    body["version"] = "1"
    return body


class IncidentioChannel:
    kind = "incidentio"

    def __init__(self, cfg: IncidentioConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or INCIDENTIO_PACING
        self.target = target_id("incidentio", cfg.url)
        self._renderer = renderer
        self._http = http
        self._user_agent = user_agent()

    def render(self, n: Notification) -> bytes:
        body = message(n, self.cfg.max_alerts)
        data = go_json(body)
        if len(data) > MAX_PAYLOAD_BYTES and len(body["alerts"]) > 1:
            # One alert per group is what incident.io makes of it: the rest is optional.
            body["alerts"] = body["alerts"][:1]
            data = go_json(body)
            log.warning("incident.io payload over 512 KB: sending only the first alert",
                        extra={"receiver": n.receiver})
        return data

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": self._user_agent}
        token = self.cfg.alert_source_token
        if token is not None:
            # The token wins over http_config's authorization, as in Alertmanager.
            bearer = reveal(token, "incident.io alert_source_token_file")
            headers["Authorization"] = f"Bearer {bearer}"
        url = reveal(self.cfg.url, "incident.io url_file")
        status, resp_headers, text = await self._http.post(
            url, payload, headers=headers, timeout=ctx.timeout,
            endpoint="incident.io alert source", http_config=self.cfg.http_config,
        )
        error = classify_http(status, resp_headers, text)
        if error is None:
            return {}
        raise error.with_message(f"incident.io: {error_details(status, text)}")


def error_details(status: int, text: str) -> str:
    """incident.io's error body (`errors[].message`, `message`, `error`) in short."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    parts: list[str] = []
    if isinstance(answer, dict):
        for key in ("message", "error"):
            if isinstance(answer.get(key), str) and answer[key]:
                parts.append(answer[key])
        for item in answer.get("errors") or []:
            found = item.get("message") if isinstance(item, dict) else item
            if isinstance(found, str) and found:
                parts.append(found)
    return f"HTTP {status}: {excerpt(': '.join(parts) or text)}".rstrip(": ")


def build(cfg: IncidentioConfig, renderer: Renderer, http: HttpClient) -> IncidentioChannel:
    if not isinstance(cfg, IncidentioConfig):
        raise TypeError(f"incidentio channel needs an IncidentioConfig, got {type(cfg).__name__}")
    return IncidentioChannel(cfg, renderer, http)


# --- configuration: the `incidentio_configs` entries --------------------------------

CONFIG_KEY = "incidentio_configs"
KEYS = ("url", "url_file", "alert_source_token", "alert_source_token_file", "max_alerts",
        "send_resolved", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> IncidentioConfig | None:
    url = fields.secret(node, "url", required=True)
    token = fields.secret(node, "alert_source_token")
    max_alerts = node.get_int("max_alerts", 0, minimum=0)
    send_resolved = node.get_bool("send_resolved", True)
    http_config = fields.http_config(node)
    # Alertmanager's `timeout: 0s` means none: the delivery timeout applies.
    timeout = node.get_duration("timeout", None) or None
    pacing = fields.pacing(node)
    # Alertmanager's checks, on the entry's own http_config (a global one comes later).
    own_auth = node.get_map("http_config") is not None and http_config.auth is not None
    if own_auth and token is not None:
        node.error("cannot specify alert_source_token or alert_source_token_file when "
                   "using http_config.authorization")
    elif node.get_map("http_config") is not None and not own_auth and token is None:
        node.error("at least one of alert_source_token, alert_source_token_file or "
                   "http_config.authorization must be configured")
    if url is None or max_alerts is None:
        return None
    return IncidentioConfig(url, token, max_alerts, send_resolved, http_config, timeout,
                            pacing)
