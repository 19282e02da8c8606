"""Loads and validates the YAML configuration into `config.types.RouterConfig`.

Every problem (unknown keys, bad values, dangling references, templates) is collected and
raised together in one `ConfigError`; `check_files` returns them as printable lines. Each
section has its own reader module in config/; this one composes them and checks the names
that cross sections (receivers and time intervals named by routes).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from router.channels.webpush.config import WebPushConfig, parse_settings
from router.config.fields import FieldReader
from router.config.global_config import parse_global
from router.config.inhibit_rules import parse_inhibit_rules
from router.config.receivers import parse_receivers
from router.config.route import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    RouteReader,
    assign_ids,
)
from router.config.sections import (
    parse_delivery,
    parse_sources,
    parse_storage,
    parse_stream,
    parse_templates,
)
from router.config.server import parse_server
from router.config.time_intervals import parse_time_intervals
from router.config.types import (
    DeliveryConfig,
    GlobalConfig,
    LogConfig,
    Receiver,
    Route,
    RouterConfig,
    ServerConfig,
    StorageConfig,
    StreamConfig,
    WebPushSettings,
)
from router.config.yaml_source import Node, Source, suggest
from router.errors import ConfigError, Problem

__all__ = ["ConfigError", "as_warning", "check_files", "check_report", "default_config",
           "load_config", "load_config_text"]

_TOP_KEYS = (
    "global",
    "route",
    "receivers",
    "templates",
    "server",
    "storage",
    "sources",
    "delivery",
    "stream",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",  # Alertmanager's deprecated name for time_intervals
    "webpush",
)


def default_config() -> RouterConfig:
    """The built-in zero-config default: everything grouped by alertname, logged."""
    root = Route(
        receiver="default",
        group_by=("alertname",),
        group_wait=DEFAULT_GROUP_WAIT,
        group_interval=DEFAULT_GROUP_INTERVAL,
        repeat_interval=DEFAULT_REPEAT_INTERVAL,
    )
    return RouterConfig(
        route=assign_ids(root),
        receivers={"default": Receiver("default", (("log", LogConfig()),))},
    )


def load_config(
    path: str | Path, *, lenient_files: bool = False, warnings: list[Problem] | None = None
) -> RouterConfig:
    """Load and validate a config file; ConfigError lists every problem found.

    `lenient_files` (check-config, routes test, render): a secret or certificate file
    that does not exist here is a warning (appended to `warnings`), not an error; `serve`
    and reload load strictly.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError([Problem(str(path), 1, 1, "", f"cannot read config: {reason}")]) from None
    return load_config_text(text, str(path), lenient_files=lenient_files, warnings=warnings)


def load_config_text(
    text: str, filename: str, *, lenient_files: bool = False,
    warnings: list[Problem] | None = None,
) -> RouterConfig:
    """Like `load_config` for text; relative paths resolve against `filename`'s directory."""
    src = Source(filename, lenient_files=lenient_files)
    root = src.compose(text)
    config = None if root is None else _read(src, Path(filename).absolute().parent, root)
    if warnings is not None:
        warnings.extend(src.warnings)
    if src.problems or config is None:
        raise ConfigError(src.sorted_problems())
    return config


def check_files(paths: list[str]) -> list[str]:
    """Every problem of every file as `file:line:col: path: message`; [] when all valid."""
    return check_report(paths)[0]


def check_report(paths: list[str]) -> tuple[list[str], list[str]]:
    """(problems, warnings) of every file, each `file:line:col: path: message`; a warning
    (a secret file absent on this machine) does not make a file invalid."""
    out: list[str] = []
    warned: list[Problem] = []
    for path in paths:
        try:
            load_config(path, lenient_files=True, warnings=warned)
        except ConfigError as exc:
            out.extend(str(p) for p in exc.problems)
    return out, [as_warning(w) for w in warned]


def as_warning(problem: Problem) -> str:
    """`file:line:col: path: warning: message`."""
    return str(replace(problem, message=f"warning: {problem.message}"))


def _webpush(root: Node, receivers: dict[str, Receiver]) -> WebPushSettings:
    """The `webpush` section; a receiver with `webpush_configs` needs its `subject`."""
    node = root.get_map("webpush")
    settings = parse_settings(node) if node is not None else WebPushSettings()
    users = [name for name, r in receivers.items() if r.configs(WebPushConfig)]
    if users and node is None:
        root.error(f'receiver "{users[0]}" has webpush_configs: set webpush.subject '
                   "(a mailto: or https: contact)", path="webpush")
    return settings


def _read(src: Source, base_dir: Path, root: Node) -> RouterConfig | None:
    """One load: reads the node tree into dataclasses, recording problems in `src`."""
    if not root.expect_map():
        return None
    fields = FieldReader(src, base_dir)
    root.expect_keys(_TOP_KEYS)
    glob_node = root.get_map("global")
    global_ = parse_global(fields, glob_node) if glob_node else GlobalConfig()
    fields.global_ = global_  # receivers inherit from it
    receivers = parse_receivers(fields, root.get_list("receivers") or [])
    templates = parse_templates(fields, root.get_list("templates") or [])
    server_node = root.get_map("server")
    server = parse_server(fields, server_node) if server_node else ServerConfig()
    storage_node = root.get_map("storage")
    storage = parse_storage(storage_node) if storage_node else StorageConfig()
    sources_node = root.get_map("sources")
    sources = parse_sources(fields, sources_node) if sources_node else {}
    delivery_node = root.get_map("delivery")
    delivery = parse_delivery(delivery_node) if delivery_node else DeliveryConfig()
    stream_node = root.get_map("stream")
    stream = parse_stream(stream_node) if stream_node else StreamConfig()
    intervals = parse_time_intervals(
        fields,
        (root.get_list("time_intervals") or []) + (root.get_list("mute_time_intervals") or []),
    )
    inhibit_rules = parse_inhibit_rules(fields, root.get_list("inhibit_rules") or [])
    webpush = _webpush(root, receivers)
    route_node = root.require("route")
    routes = RouteReader()
    route = None
    if route_node is not None and route_node.expect_map():
        route = routes.read(route_node)
    for node, name in routes.receiver_refs:
        if name not in receivers:
            node.error(f'unknown receiver "{name}"{suggest(name, receivers)}')
    for node, name in routes.interval_refs:
        if name not in intervals:
            node.error(f'time interval "{name}" does not exist{suggest(name, intervals)}')
    if route is None:
        return None
    return RouterConfig(
        route=assign_ids(route),
        receivers=receivers,
        global_=global_,
        templates=templates,
        server=server,
        storage=storage,
        sources=sources,
        delivery=delivery,
        stream=stream,
        inhibit_rules=tuple(inhibit_rules),
        time_intervals=intervals,
        webpush=webpush,
        source_file=src.file,
    )
