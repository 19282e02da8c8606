"""`jira_configs`: Alertmanager's Jira keys and defaults, read into JiraConfig.

`summary` and `description` take Alertmanager's two forms: a template string, or
`{template, enable_update}`. `fields` holds any YAML (strings in it are templates); it is
left out of the config's hash, so the config stays a usable frozen value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import yaml

from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing
from router.config.yaml_source import Node

CONFIG_KEY = "jira_configs"
KEYS = (
    "api_url", "api_type", "project", "summary", "description", "labels", "priority",
    "issue_type", "reopen_transition", "resolve_transition", "wont_fix_resolution",
    "reopen_duration", "fields", "send_resolved", "http_config", "timeout", "pacing",
)
API_TYPES = ("auto", "cloud", "datacenter")


@dataclass(frozen=True, slots=True)
class JiraField:
    """`summary` / `description`: a template (None: Alertmanager's default) and whether an
    update of an existing issue rewrites it."""

    template: str | None = None
    enable_update: bool = True


@dataclass(frozen=True, slots=True)
class JiraConfig:
    """Alertmanager's `jira_configs` names. Templates are Jinja source; None means
    Alertmanager's default (templates/jira.j2). Credentials come from `http_config`
    (`basic_auth` with an API token on Jira Cloud, `authorization` with a PAT on Data
    Center)."""

    api_url: str  # e.g. https://example.atlassian.net/rest/api/2/
    project: str
    issue_type: str
    api_type: str = "auto"
    summary: JiraField = field(default_factory=JiraField)
    description: JiraField = field(default_factory=JiraField)
    labels: tuple[str, ...] = ()
    priority: str | None = None  # "" sends none
    reopen_transition: str = ""
    resolve_transition: str = ""
    wont_fix_resolution: str = ""
    reopen_duration: float = 0.0  # seconds
    # Other and custom fields as YAML gave them (strings are templates).
    fields: dict[str, Any] = field(default_factory=dict, hash=False)
    send_resolved: bool = True
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: Jira Cloud's per-user budget

    @property
    def template(self) -> str | None:
        return None  # every field has its own template

    @property
    def api_v3(self) -> bool:
        """API v3 takes the description as an Atlassian Document (JSON)."""
        return urlsplit(self.api_url).path.rstrip("/").endswith("/3")


def parse(fields: FieldReader, node: Node) -> JiraConfig | None:
    inherited = fields.global_.jira_api_url
    api_url = node.get_str("api_url", inherited) or inherited
    if not api_url:
        node.error("no global Jira Cloud URL set (set api_url or global.jira_api_url)")
    elif urlsplit(api_url).scheme not in ("http", "https") or not urlsplit(api_url).netloc:
        (node.get("api_url") or node).error("must be an http(s) URL")
    api_type = node.get_str("api_type", "auto") or "auto"
    if api_type not in API_TYPES:
        (node.get("api_type") or node).error(
            "unknown api_type on jira_config, must be auto, cloud or datacenter")
    project = _template(fields, node, "project")
    issue_type = _template(fields, node, "issue_type")
    if not project:
        node.error("missing project in jira_config")
    if not issue_type:
        node.error("missing issue_type in jira_config")
    summary = _field(fields, node, "summary")
    description = _field(fields, node, "description")
    labels = tuple(fields.template_string(item) or "" for item in node.get_list("labels") or [])
    priority_node = node.get("priority")
    priority = None if priority_node is None else fields.template_string(priority_node)
    custom = _custom_fields(fields, node.get_map("fields"))
    out = JiraConfig(
        api_url=api_url, project=project or "", issue_type=issue_type or "",
        api_type=api_type, summary=summary, description=description, labels=labels,
        priority=priority, reopen_transition=node.get_str("reopen_transition", "") or "",
        resolve_transition=node.get_str("resolve_transition", "") or "",
        wont_fix_resolution=node.get_str("wont_fix_resolution", "") or "",
        reopen_duration=node.get_duration("reopen_duration", 0.0) or 0.0,
        fields=custom, send_resolved=node.get_bool("send_resolved", True),
        http_config=fields.http_config(node), timeout=fields.timeout(node),
        pacing=fields.pacing(node),
    )
    if not api_url or not project or not issue_type or api_type not in API_TYPES:
        return None
    return out


def _template(fields: FieldReader, node: Node, key: str) -> str | None:
    return fields.template_string(node.get(key))


def _field(fields: FieldReader, node: Node, key: str) -> JiraField:
    """`key: "<template>"` or `key: {template, enable_update}` (Alertmanager 0.29+)."""
    child = node.get(key)
    if child is None or child.is_null:
        return JiraField()
    if not child.is_map:
        return JiraField(fields.template_string(child))
    child.expect_keys(("template", "enable_update"))
    return JiraField(fields.template_string(child.get("template")),
                     child.get_bool("enable_update", True))


def _custom_fields(fields: FieldReader, node: Node | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, child in node.entries() if node is not None else []:
        # Plain JSON-able data: YAML's dates and the like become their text.
        value = json.loads(json.dumps(yaml.safe_load(yaml.serialize(child.raw)), default=str))
        _check_templates(fields, child, value)
        out[name] = value
    return out


def _check_templates(fields: FieldReader, node: Node, value: Any) -> None:
    """Every string in a custom field value is a template: check each compiles."""
    if isinstance(value, str):
        fields.template_string(node)
    elif isinstance(value, list):
        for item, child in zip(value, node.elements(), strict=False):
            _check_templates(fields, child, item)
    elif isinstance(value, dict):
        for key, child in node.entries():
            _check_templates(fields, child, value.get(key))
