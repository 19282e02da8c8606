"""Reads the small top-level sections: `templates`, `storage`, `sources`, `delivery` and
`stream`. Each function takes its section's node and records problems on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from router.config.fields import FieldReader
from router.config.http_config import parse_http_config
from router.config.source_types import ReconcileConfig
from router.config.types import (
    AlertmanagerSourceConfig,
    DeliveryConfig,
    SourceConfig,
    StorageConfig,
    StreamConfig,
)
from router.config.yaml_source import Node
from router.matchers import LABEL_NAME

__all__ = [
    "parse_alertmanager_source",
    "parse_delivery",
    "parse_sources",
    "parse_storage",
    "parse_stream",
    "parse_templates",
]

_SOURCE_KEYS = ("labels", "annotations", "status", "starts_at", "ends_at", "generator_url")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_templates(fields: FieldReader, items: list[Node]) -> tuple[str, ...]:
    found: list[str] = []
    for item in items:
        pattern = item.as_str()
        if not pattern:
            if pattern == "":
                item.error("empty glob")
            continue
        full = fields.path(pattern)
        try:
            matches = sorted(
                p
                for p in Path(full.anchor).glob(str(full.relative_to(full.anchor)))
                if p.is_file()
            )
        except ValueError as exc:
            item.error(f"invalid glob: {exc}")
            continue
        for path in matches:
            if str(path) not in found:
                found.append(str(path))
                fields.template_file(item, path)
    return tuple(found)


def parse_storage(node: Node) -> StorageConfig:
    node.expect_keys(("path",))
    storage = StorageConfig(path=node.get_str("path", StorageConfig().path) or "")
    if not storage.path:
        node.error("must not be empty", path="storage.path")
    return storage


# `sources.alertmanager` is not an event mapping: it configures the webhook input.
ALERTMANAGER = "alertmanager"
_AM_KEYS = ("reconcile", "webhook_alert_timeout")
_RECONCILE_KEYS = ("url", "interval", "timeout", "startup_grace", "http_config")


def parse_alertmanager_source(fields: FieldReader, node: Node) -> AlertmanagerSourceConfig:
    """`sources.alertmanager: {reconcile: {url, interval, ...}, webhook_alert_timeout}`."""
    node.expect_keys(_AM_KEYS)
    reconcile = None
    rec = node.get_map("reconcile")
    if rec is not None:
        rec.expect_keys(_RECONCILE_KEYS)
        url = rec.get_str("url") if rec.require("url") is not None else None
        if url is not None and not url.startswith(("http://", "https://")):
            (rec.get("url") or rec).error("must be an http:// or https:// URL")
        d = ReconcileConfig(url="")
        http_node = rec.get_map("http_config")
        reconcile = ReconcileConfig(
            url=(url or "").rstrip("/"),
            interval=rec.get_duration("interval", d.interval, allow_zero=False) or d.interval,
            timeout=rec.get_duration("timeout", d.timeout, allow_zero=False) or d.timeout,
            startup_grace=rec.get_duration("startup_grace", d.startup_grace) or 0.0,
            http_config=parse_http_config(fields, http_node) if http_node else d.http_config,
        )
    return AlertmanagerSourceConfig(
        reconcile=reconcile,
        webhook_alert_timeout=node.get_duration("webhook_alert_timeout", None,
                                                allow_zero=False),
    )


def parse_sources(fields: FieldReader, node: Node) -> dict[str, SourceConfig]:
    out: dict[str, SourceConfig] = {}
    for name, item in node.entries():
        if name == ALERTMANAGER:
            continue  # parse_alertmanager_source reads it
        if not _SOURCE_NAME.fullmatch(name):
            (node.key_node(name) or item).error(
                f'invalid source name "{name}": use letters, digits, "_", "." and "-"'
            )
        if not item.expect_map():
            continue
        item.expect_keys(_SOURCE_KEYS)
        labels = _template_map(fields, item, "labels")
        if item.require("labels") is not None and not labels:
            item.error("at least one label is required", path=f"{item.path}.labels")
        out[name] = SourceConfig(
            name=name,
            labels=labels,
            annotations=_template_map(fields, item, "annotations"),
            status=fields.template_string(item.get("status")),
            starts_at=fields.template_string(item.get("starts_at")),
            ends_at=fields.template_string(item.get("ends_at")),
            generator_url=fields.template_string(item.get("generator_url")),
        )
    return out

def _template_map(fields: FieldReader, node: Node, key: str) -> dict[str, str]:
    child = node.get_map(key)
    if child is None:
        return {}
    out: dict[str, str] = {}
    for name, value in child.entries():
        if key == "labels" and not LABEL_NAME.fullmatch(name):
            (child.key_node(name) or value).error(f'invalid label name "{name}"')
        text = fields.template_string(value)
        if text is not None:
            out[name] = text
    return out


def parse_delivery(node: Node) -> DeliveryConfig:
    node.expect_keys(
        ("timeout", "max_attempts", "max_age", "backoff_base", "backoff_cap", "concurrency",
         "dead_retention",
         "target_concurrency")
    )
    d = DeliveryConfig()
    base = node.get_duration("backoff_base", d.backoff_base, allow_zero=False)
    cap = node.get_duration("backoff_cap", d.backoff_cap, allow_zero=False)
    if base and cap and cap < base:
        (node.get("backoff_cap") or node).error("must be >= backoff_base")
    return DeliveryConfig(
        timeout=node.get_duration("timeout", d.timeout, allow_zero=False) or d.timeout,
        max_attempts=node.get_int("max_attempts", d.max_attempts, minimum=1),
        max_age=node.get_duration("max_age", d.max_age, allow_zero=False) or d.max_age,
        backoff_base=base or d.backoff_base,
        backoff_cap=cap or d.backoff_cap,
        concurrency=node.get_int("concurrency", d.concurrency, minimum=1),
        dead_retention=node.get_duration("dead_retention", d.dead_retention, allow_zero=False)
        or d.dead_retention,
        target_concurrency=node.get_int("target_concurrency", d.target_concurrency, minimum=1),
    )


def parse_stream(node: Node) -> StreamConfig:
    node.expect_keys(("retention", "keepalive", "client_queue", "client_buffer"))
    d = StreamConfig()
    return StreamConfig(
        retention=node.get_duration("retention", d.retention, allow_zero=False) or d.retention,
        keepalive=node.get_duration("keepalive", d.keepalive, allow_zero=False) or d.keepalive,
        client_queue=node.get_int("client_queue", d.client_queue, minimum=1),
        client_buffer=node.get_int("client_buffer", d.client_buffer, minimum=1024),
    )
