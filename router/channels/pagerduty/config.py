"""The `pagerduty_configs` entries: PagerdutyConfig and its parser.

Configuration is checked at load (a v1 service key, an unknown literal severity, a bad URL
all fail there, not at 3 a.m.); the sender in `channel` only reads the parsed dataclass.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field

from router.channels.pagerduty.events import DEFAULT_CLIENT, V1_URL, is_severity
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"


@dataclass(frozen=True, slots=True)
class PagerdutyLink:
    href: str  # Jinja source; an empty rendering drops the link
    text: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyImage:
    src: str  # Jinja source; an empty rendering drops the image
    href: str = ""
    alt: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyConfig:
    """One entry: Events API v2 with `routing_key`, or v1 with `service_key`."""

    routing_key: Secret | None
    url: str = DEFAULT_URL
    client: str = DEFAULT_CLIENT  # Jinja source, like every string below
    client_url: str | None = None  # None: the Alertmanager view of the receiver
    description: str | None = None  # payload.summary; None: templates/pagerduty.j2
    severity: str | None = None  # None: from the alerts' `severity` label
    # Added to the default firing/resolved/num_firing/num_resolved (as Alertmanager does).
    details: tuple[tuple[str, str], ...] = ()
    links: tuple[PagerdutyLink, ...] = ()
    images: tuple[PagerdutyImage, ...] = ()
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None  # `class` in YAML
    # One incident per alert (dedup_key = fingerprint) instead of one per group.
    incident_per_alert: bool = False
    send_resolved: bool = True
    template: str | None = None
    timeout: float | None = None
    pacing: Pacing | None = None  # None: PAGERDUTY_PACING
    service_key: Secret | None = None  # Events API v1 (Alertmanager's service_key)
    http_config: HttpConfig = field(default_factory=HttpConfig)

    @property
    def key(self) -> Secret:
        """The integration key sent with each event, v1 or v2."""
        key = self.service_key or self.routing_key
        assert key is not None
        return key


CONFIG_KEY = "pagerduty_configs"
_TEMPLATE_KEYS = ("client", "client_url", "description", "severity", "source", "component",
                  "group", "class")
KEYS = (
    "routing_key", "routing_key_file", "url", *_TEMPLATE_KEYS, "details", "links", "images",
    "incident_per_alert", "send_resolved", "template", "timeout", "pacing",
    "service_key", "service_key_file", "http_config",
)


def parse(fields: FieldReader, node: Node) -> PagerdutyConfig | None:
    has_v1 = node.has("service_key") or node.has("service_key_file")
    has_v2 = node.has("routing_key") or node.has("routing_key_file")
    if has_v1 and has_v2:
        node.error('"routing_key" (Events API v2) and "service_key" (v1) are exclusive')
    elif not has_v1 and not has_v2:
        node.error('one of "routing_key" or "routing_key_file" is required (or the '
                   'Events API v1 "service_key" / "service_key_file")')
    routing_key = fields.secret(node, "routing_key")
    service_key = fields.secret(node, "service_key")
    text = {key: fields.template_string(node.get(key)) for key in _TEMPLATE_KEYS}
    _check_severity(node)
    # v1 posts to its own endpoint (Alertmanager hard-codes it); `url` still overrides.
    url = _url(node, V1_URL if has_v1 else fields.global_.pagerduty_url)
    http_config = fields.http_config(node)
    details = _details(fields, node)
    links = tuple(PagerdutyLink(h, t) for h, t in
                  _items(fields, node, "links", ("href", "text")))
    images = tuple(PagerdutyImage(s, h, a) for s, h, a in
                   _items(fields, node, "images", ("src", "href", "alt")))
    per_alert = node.get_bool("incident_per_alert", False)
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if (routing_key is None) == (service_key is None):
        return None
    return PagerdutyConfig(
        routing_key, url, text["client"] or DEFAULT_CLIENT, text["client_url"],
        text["description"], text["severity"], details, links, images, text["source"],
        text["component"], text["group"], text["class"], per_alert, send_resolved,
        template, timeout, pacing, service_key, http_config,
    )


def _url(node: Node, default: str) -> str:
    url = node.get_str("url", default) or default
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        child = node.get("url")
        assert child is not None
        child.error("must be an http:// or https:// URL")
    return url


def _check_severity(node: Node) -> None:
    """A literal severity PagerDuty would reject is a typo better caught at load."""
    value = node.get_str("severity")
    if value is None or "{" in value or is_severity(value):
        return
    child = node.get("severity")
    assert child is not None
    child.error(f'"{value}" is not a PagerDuty severity: use critical, error, warning or '
                "info (or a template)")


def _details(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("details")
    if child is None:
        return ()
    out = []
    for key, value in child.entries():
        text = fields.template_string(value)
        if text is not None:
            out.append((key, text))
    return tuple(out)


def _items(
    fields: FieldReader, node: Node, key: str, names: tuple[str, ...]
) -> Iterable[tuple[str, ...]]:
    """Entries of a list of maps (`links`, `images`): each field a template, first required."""
    out: list[tuple[str, ...]] = []
    for item in node.get_list(key) or []:
        if not item.expect_map():
            continue
        item.expect_keys(names)
        item.require(names[0])
        values = tuple(fields.template_string(item.get(name)) or "" for name in names)
        if values[0]:
            out.append(values)
    return out
