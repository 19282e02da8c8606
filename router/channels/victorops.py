"""VictorOps (Splunk On-Call) REST endpoint: one incident per group, as Alertmanager sends it.

`entity_id` is the SHA-256 of the group key (Alertmanager's `Key.Hash()`), so a team moving
from Alertmanager keeps its open incidents and the resolution (`RECOVERY`) closes the same
one. The API key sits in the request path (`…/alert/<api_key>/<routing_key>`): it is added
at send time, never stored, and scrubbed from anything the endpoint answers.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import jinja2

from router.channels.base import SendContext, excerpt, json_object, key_hash, reveal, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.config.fields import FieldReader
from router.config.secrets import REDACTED
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://alert.victorops.com/integrations/generic/20131114/alert/"
MAX_STATE_MESSAGE = 20480  # VictorOps' incident-fields glossary (runes)
FIRING_TYPES = ("CRITICAL", "WARNING", "INFO")  # what a firing group may send
# Fields the endpoint sets from the config itself: a custom field must not replace them.
RESERVED = ("routing_key", "message_type", "state_message", "entity_display_name",
            "monitoring_tool", "entity_id", "entity_state")


@dataclass(frozen=True, slots=True)
class VictoropsConfig:
    """Alertmanager's `victorops_configs` names; every string but the key is Jinja."""

    api_key: Secret  # the entry's, else `global.victorops_api_key`
    routing_key: str
    api_url: str = DEFAULT_API_URL  # else `global.victorops_api_url`; ends with "/"
    message_type: str = "CRITICAL"
    state_message: str | None = None  # None: templates/victorops.j2
    entity_display_name: str | None = None
    monitoring_tool: str | None = None
    custom_fields: tuple[tuple[str, str], ...] = ()
    send_resolved: bool = True
    template: str | None = None  # a Jinja file rendering a JSON object merged over the body
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced


class VictoropsChannel:
    kind = "victorops"

    def __init__(self, cfg: VictoropsConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("victorops", cfg.api_key, cfg.routing_key)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        compile_ = renderer.compile_string
        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._routing_key = compile_(cfg.routing_key)
        self._message_type = compile_(cfg.message_type)
        self._custom = [(k, compile_(v)) for k, v in cfg.custom_fields]
        self._pieces: list[tuple[str, jinja2.Template | None, Any]] = [
            (name, renderer.compile_optional(src), renderer.macro("victorops.j2", name))
            for name, src in (("state_message", cfg.state_message),
                              ("entity_display_name", cfg.entity_display_name),
                              ("monitoring_tool", cfg.monitoring_tool))]

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        d = template_data(n)
        try:
            routing_key = self._routing_key.render(d).strip()
        except Exception:
            self._renderer.failed(self.kind, n.receiver, fallback="the literal routing_key")
            routing_key = self.cfg.routing_key
        try:
            body = self._body(n, d)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            body = self._plain(n)
        return json.dumps({"routing_key": routing_key, "body": body},
                          ensure_ascii=False).encode()

    def _body(self, n: Notification, d: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"message_type": self._type(n, self._message_type.render(d)),
                                "entity_id": key_hash(n.group_key)}
        for name, custom, default in self._pieces:
            body[name] = (custom.render(d) if custom is not None else default(d)).strip()
        body["state_message"] = cut(body["state_message"], MAX_STATE_MESSAGE)
        for key, tmpl in self._custom:
            body[key] = tmpl.render(d)
        if self._body_tmpl is not None:
            custom_body = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom_body, dict):
                raise ValueError("victorops template must render a JSON object")
            body.update(custom_body)
            # The incident's identity and lifecycle stay Alertmanager's.
            body["entity_id"] = key_hash(n.group_key)
            body["message_type"] = self._type(n, str(body.get("message_type")))
        return body

    @staticmethod
    def _type(n: Notification, rendered: str) -> str:
        """RECOVERY once the group resolved; a firing type VictorOps does not know pages
        as CRITICAL, as Alertmanager does."""
        if n.all_resolved:
            return "RECOVERY"
        value = rendered.strip().upper()
        return value if value in FIRING_TYPES else "CRITICAL"

    def _plain(self, n: Notification) -> dict[str, Any]:
        """Template-free and unable to fail: still opens (or closes) the incident."""
        text = self._renderer.plain_text(n)
        return {"message_type": "RECOVERY" if n.all_resolved else "CRITICAL",
                "entity_id": key_hash(n.group_key),
                "entity_display_name": text.splitlines()[0],
                "state_message": cut(text, MAX_STATE_MESSAGE),
                "monitoring_tool": "Alertmanager"}

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        data = json.loads(payload)
        key = reveal(self.cfg.api_key, "victorops api_key_file")
        url = (self.cfg.api_url + urllib.parse.quote(key, safe="") + "/"
               + urllib.parse.quote(str(data["routing_key"]), safe=""))
        body = json.dumps(data["body"], ensure_ascii=False).encode()
        status, headers, text = await self._http.post(
            url, body, headers={"Content-Type": "application/json", "User-Agent": user_agent()},
            timeout=ctx.timeout, endpoint="victorops endpoint",
            http_config=self.cfg.http_config,
        )
        if key:  # the endpoint may echo the path it was given
            text = text.replace(key, REDACTED).replace(urllib.parse.quote(key, safe=""),
                                                       REDACTED)
        answer = json_object(text) or {}
        error = classify_http(status, headers, text)
        if error is None and answer.get("result", "success") != "failure":
            found = answer.get("entity_id")
            return {"entity_id": found} if isinstance(found, str) and found else {}
        if error is None:  # a 200 carrying `"result": "failure"`: rejected
            error = DeliveryError(FailureReason.CLIENT_ERROR, f"HTTP {status}", retryable=False)
        message = answer.get("message")
        detail = excerpt(str(message)) if message else excerpt(text)
        raise error.with_message(f"victorops rejected the event: HTTP {status}: "
                                 f"{detail}".rstrip(": "))




def build(cfg: VictoropsConfig, renderer: Renderer, http: HttpClient) -> VictoropsChannel:
    if not isinstance(cfg, VictoropsConfig):
        raise TypeError(f"victorops channel needs a VictoropsConfig, got {type(cfg).__name__}")
    return VictoropsChannel(cfg, renderer, http)


# --- configuration: the `victorops_configs` entries ---------------------------------

CONFIG_KEY = "victorops_configs"
_TEMPLATE_KEYS = ("state_message", "entity_display_name", "monitoring_tool")
KEYS = ("api_key", "api_key_file", "api_url", "routing_key", "message_type", *_TEMPLATE_KEYS,
        "custom_fields", "send_resolved", "template", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> VictoropsConfig | None:
    api_key = fields.inherited_secret(node, "api_key", fields.global_.victorops_api_key,
                                      "no global VictorOps API Key set")
    routing_key = fields.template_string(node.get("routing_key"))
    if not routing_key:
        node.error("missing Routing key in VictorOps config")
    message_type = fields.template_string(node.get("message_type")) or "CRITICAL"
    if "{" not in message_type and message_type.strip().upper() not in FIRING_TYPES:
        (node.get("message_type") or node).error(
            f'"{message_type}" is not a VictorOps message type: use CRITICAL, WARNING or INFO '
            "(RECOVERY is sent when the group resolves)")
    text = {key: fields.template_string(node.get(key)) for key in _TEMPLATE_KEYS}
    custom = _custom_fields(fields, node)
    # Alertmanager appends "<api_key>/<routing_key>" to the URL's path.
    api_url = fields.base_url(node, "api_url",
                              fields.global_.victorops_api_url or DEFAULT_API_URL)
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if api_key is None or not routing_key:
        return None
    return VictoropsConfig(api_key, routing_key, api_url, message_type,
                           text["state_message"], text["entity_display_name"],
                           text["monitoring_tool"], custom, send_resolved, template,
                           http_config, timeout, pacing)


def _custom_fields(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("custom_fields")
    if child is None:
        return ()
    out = []
    for key, value in child.entries():
        if key in RESERVED:
            (child.key_node(key) or child).error(
                f"victorOps config contains custom field {key} which cannot be used as it "
                "conflicts with the fixed/static fields")
            continue
        text = fields.template_string(value)
        if text is not None:
            out.append((key, text))
    return tuple(out)
