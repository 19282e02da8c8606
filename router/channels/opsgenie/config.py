"""The `opsgenie_configs` entries: OpsgenieConfig and its parser, with Alertmanager's checks.

The API key and URL are inherited from `global.opsgenie_api_key(_file)` and
`global.opsgenie_api_url`; responders and literal priorities are checked at load, so a
typo fails there instead of when the first alert should page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node

DEFAULT_API_URL = "https://api.opsgenie.com/"
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
RESPONDER_TYPES = re.compile(r"^(team|teams|user|escalation|schedule)$")


@dataclass(frozen=True, slots=True)
class OpsgenieResponder:
    """One responder; every field is Jinja. `type: teams` with comma-separated `name`s
    becomes one team responder per name, as in Alertmanager."""

    id: str = ""
    name: str = ""
    username: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class OpsgenieConfig:
    """Alertmanager's `opsgenie_configs` names; text keys are Jinja (None: opsgenie.j2)."""

    api_key: Secret  # the entry's, else `global.opsgenie_api_key(_file)`
    api_url: str = DEFAULT_API_URL  # else `global.opsgenie_api_url`; ends with "/"
    message: str | None = None
    description: str | None = None
    source: str | None = None
    # Sent with the alert's common labels (a detail of the same name replaces the label).
    details: tuple[tuple[str, str], ...] = ()
    entity: str | None = None
    responders: tuple[OpsgenieResponder, ...] = ()
    actions: str | None = None  # comma-separated
    tags: str | None = None  # comma-separated
    note: str | None = None
    priority: str | None = None  # P1..P5; None: the integration's default (P3)
    update_alerts: bool = False  # also update message and description of an open alert
    send_resolved: bool = True
    template: str | None = None  # a Jinja file rendering a JSON object merged over the body
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced


CONFIG_KEY = "opsgenie_configs"
TEXT_KEYS = ("message", "description", "source", "entity", "actions", "tags", "note",
             "priority")
KEYS = ("api_key", "api_key_file", "api_url", *TEXT_KEYS, "details", "responders",
        "update_alerts", "send_resolved", "template", "http_config", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> OpsgenieConfig | None:
    api_key = fields.inherited_secret(
        node, "api_key", fields.global_.opsgenie_api_key,
        "no global OpsGenie API Key set either inline or in a file")
    text = {key: fields.template_string(node.get(key)) for key in TEXT_KEYS}
    priority = text["priority"]
    if priority is not None and "{" not in priority and priority.strip() not in PRIORITIES:
        (node.get("priority") or node).error(
            f'"{priority}" is not an OpsGenie priority: use P1 to P5 (or a template)')
    details = _details(fields, node)
    responders = tuple(r for item in node.get_list("responders") or []
                       if (r := _responder(fields, item)) is not None)
    # Alertmanager appends "v2/alerts" to the URL's path.
    api_url = fields.base_url(node, "api_url", fields.global_.opsgenie_api_url or DEFAULT_API_URL)
    update_alerts = node.get_bool("update_alerts", False)
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if api_key is None:
        return None
    return OpsgenieConfig(api_key, api_url, text["message"], text["description"],
                          text["source"], details, text["entity"], responders,
                          text["actions"], text["tags"], text["note"], priority,
                          update_alerts, send_resolved, template, http_config, timeout,
                          pacing)


def _details(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("details")
    if child is None:
        return ()
    return tuple((key, text) for key, value in child.entries()
                 if (text := fields.template_string(value)) is not None)


def _responder(fields: FieldReader, node: Node) -> OpsgenieResponder | None:
    if not node.expect_map():
        return None
    node.expect_keys(("id", "name", "username", "type"))
    values = {key: fields.template_string(node.get(key)) or ""
              for key in ("id", "name", "username", "type")}
    if not (values["id"] or values["name"] or values["username"]):
        node.error("opsGenieConfig responder has to have at least one of id, username or "
                   "name specified")
        return None
    kind = values["type"]
    if "{" not in kind:
        kind = kind.lower()
        if not RESPONDER_TYPES.match(kind):
            (node.get("type") or node).error(
                f'responder type "{values["type"]}" does not match valid options '
                f"{RESPONDER_TYPES.pattern}")
            return None
    return OpsgenieResponder(values["id"], values["name"], values["username"], kind)
