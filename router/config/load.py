"""Loads and validates the YAML configuration into `config_types.RouterConfig`.

Every problem (unknown keys, bad values, dangling references, templates) is collected and
raised together in one `ConfigError`; `check_files` returns them as printable lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from router.channels import CHANNELS
from router.config.fields import FieldReader, matcher_list
from router.config.types import (
    GROUP_BY_ALL,
    ChannelConfig,
    DeliveryConfig,
    FlapConfig,
    GlobalConfig,
    IngestAuth,
    LogConfig,
    Receiver,
    Route,
    RouterConfig,
    Secret,
    ServerConfig,
    SourceConfig,
    StorageConfig,
    StormConfig,
)
from router.config.yaml_source import ConfigError, Node, Problem, Source, suggest
from router.matchers import Matcher, MatcherError, from_match_maps
from router.noise.flap import parse_flap
from router.noise.inhibition import parse_inhibit_rules
from router.noise.storm import parse_storm
from router.noise.time_intervals import parse_time_intervals
from router.routing import tree as routing

_T = TypeVar("_T")

__all__ = ["ConfigError", "check_files", "default_config", "load_config", "load_config_text"]

_TOP_KEYS = (
    "global",
    "route",
    "receivers",
    "templates",
    "server",
    "storage",
    "sources",
    "delivery",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",  # Alertmanager's deprecated name for time_intervals
)
_ROUTE_KEYS = (
    "receiver",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "matchers",
    "match",
    "match_re",
    "continue",
    "routes",
    "mute_time_intervals",
    "active_time_intervals",
    # alert-router's own (storm.py, flap.py, grouping.py); all three are inherited by child
    # routes unless overridden (`storm: false` / `flap: false` switch one off).
    "storm",
    "flap",
    "fast_resolve",
)
_SOURCE_KEYS = ("labels", "annotations", "status", "starts_at", "ends_at", "generator_url")
_SOURCE_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


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
        route=routing.assign_ids(root),
        receivers={"default": Receiver("default", (("log", LogConfig()),))},
    )


def load_config(path: str | Path) -> RouterConfig:
    """Load and validate a config file; ConfigError lists every problem found."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError([Problem(str(path), 1, 1, "", f"cannot read config: {reason}")]) from None
    return load_config_text(text, str(path))


def load_config_text(text: str, filename: str) -> RouterConfig:
    """Like `load_config` for text; relative paths resolve against `filename`'s directory."""
    src = Source(filename)
    root = src.compose(text)
    config = None if root is None else _Loader(src, Path(filename).absolute().parent).load(root)
    if src.problems or config is None:
        raise ConfigError(src.sorted_problems())
    return config


def check_files(paths: list[str]) -> list[str]:
    """Every problem of every file as `file:line:col: path: message`; [] when all valid."""
    out: list[str] = []
    for path in paths:
        try:
            load_config(path)
        except ConfigError as exc:
            out.extend(str(p) for p in exc.problems)
    return out


@dataclass(frozen=True, slots=True)
class _Inherited:
    receiver: str | None
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


class _Loader:
    """One load: reads the node tree into dataclasses, recording problems in `src`."""

    def __init__(self, src: Source, base_dir: Path) -> None:
        self.src = src
        self.base_dir = base_dir
        self.fields = FieldReader(src, base_dir)
        self.receiver_refs: list[tuple[Node, str]] = []
        self.interval_refs: list[tuple[Node, str]] = []

    def load(self, root: Node) -> RouterConfig | None:
        if not root.expect_map():
            return None
        root.expect_keys(_TOP_KEYS)
        glob_node = root.get_map("global")
        global_ = self._global(glob_node) if glob_node else GlobalConfig()
        receivers = self._receivers(root.get_list("receivers") or [])
        templates = self._templates(root.get_list("templates") or [])
        server_node = root.get_map("server")
        server = self._server(server_node) if server_node else ServerConfig()
        storage_node = root.get_map("storage")
        storage = StorageConfig()
        if storage_node:
            storage_node.expect_keys(("path",))
            storage = StorageConfig(path=storage_node.get_str("path", storage.path) or "")
            if not storage.path:
                storage_node.error("must not be empty", path="storage.path")
        sources_node = root.get_map("sources")
        sources = self._sources(sources_node) if sources_node else {}
        delivery_node = root.get_map("delivery")
        delivery = self._delivery(delivery_node) if delivery_node else DeliveryConfig()
        intervals = parse_time_intervals(
            self.fields,
            (root.get_list("time_intervals") or []) + (root.get_list("mute_time_intervals") or []),
        )
        inhibit_rules = parse_inhibit_rules(self.fields, root.get_list("inhibit_rules") or [])
        route_node = root.require("route")
        route = None
        if route_node is not None and route_node.expect_map():
            route = self._route(route_node, None)
        for node, name in self.receiver_refs:
            if name not in receivers:
                node.error(f'unknown receiver "{name}"{suggest(name, receivers)}')
        for node, name in self.interval_refs:
            if name not in intervals:
                node.error(f'time interval "{name}" does not exist{suggest(name, intervals)}')
        if route is None:
            return None
        return RouterConfig(
            route=routing.assign_ids(route),
            receivers=receivers,
            global_=global_,
            templates=templates,
            server=server,
            storage=storage,
            sources=sources,
            delivery=delivery,
            inhibit_rules=tuple(inhibit_rules),
            time_intervals=intervals,
            source_file=self.src.file,
        )

    def _templates(self, items: list[Node]) -> tuple[str, ...]:
        found: list[str] = []
        for item in items:
            pattern = item.as_str()
            if not pattern:
                if pattern == "":
                    item.error("empty glob")
                continue
            full = self.fields.path(pattern)
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
                    self.fields.template_file(item, path)
        return tuple(found)

    # -- route tree -----------------------------------------------------------------
    def _route(
        self,
        node: Node,
        parent: _Inherited | None,
        options: tuple[StormConfig | None, FlapConfig | None, bool] = (None, None, False),
    ) -> Route | None:
        node.expect_keys(_ROUTE_KEYS)
        is_root = parent is None
        # storm / flap / fast_resolve: inherited from the parent (`options`) unless set here.
        options = (parse_storm(node, options[0]), parse_flap(node, options[1]),
                   node.get_bool("fast_resolve", options[2]))
        receiver = node.get_str("receiver")
        if receiver is not None:
            self.receiver_refs.append((node.get("receiver") or node, receiver))
        elif is_root:
            node.error("the root route needs a receiver", path=f"{node.path}.receiver")
        inherited = _Inherited(
            receiver=receiver or (parent.receiver if parent else None),
            group_by=self._group_by(node, parent.group_by if parent else ()),
            group_wait=node.get_duration(
                "group_wait", parent.group_wait if parent else DEFAULT_GROUP_WAIT
            )
            or 0.0,
            group_interval=node.get_duration(
                "group_interval",
                parent.group_interval if parent else DEFAULT_GROUP_INTERVAL,
                allow_zero=False,
            )
            or DEFAULT_GROUP_INTERVAL,
            repeat_interval=node.get_duration(
                "repeat_interval",
                parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL,
                allow_zero=False,
            )
            or DEFAULT_REPEAT_INTERVAL,
        )
        if is_root:
            # As in Alertmanager, only a true `continue` or non-empty matchers are errors.
            for key in ("matchers", "match", "match_re", "continue", "mute_time_intervals",
                        "active_time_intervals"):
                child = node.get(key)
                if child is None or child.is_null:
                    continue
                if node.get_bool(key, False) if key == "continue" else bool(child.raw.value):
                    child.error("not allowed on the root route")
        matchers = self._matchers(node)
        children = [
            self._route(c, inherited, options)
            for c in node.get_list("routes") or [] if c.expect_map()
        ]
        if inherited.receiver is None:
            return None
        return Route(
            receiver=inherited.receiver,
            group_by=inherited.group_by,
            group_wait=inherited.group_wait,
            group_interval=inherited.group_interval,
            repeat_interval=inherited.repeat_interval,
            matchers=tuple(matchers),
            continue_=node.get_bool("continue", False),
            routes=tuple(c for c in children if c is not None),
            mute_time_intervals=self._interval_names(node, "mute_time_intervals"),
            active_time_intervals=self._interval_names(node, "active_time_intervals"),
            storm=options[0],
            flap=options[1],
            fast_resolve=options[2],
        )

    def _interval_names(self, node: Node, key: str) -> tuple[str, ...]:
        names = []
        for item in node.get_list(key) or []:
            name = item.as_str()
            if name:
                names.append(name)
                self.interval_refs.append((item, name))
        return tuple(names)

    def _group_by(self, node: Node, inherited: tuple[str, ...]) -> tuple[str, ...]:
        child = node.get("group_by")
        if child is None or child.is_null:
            return inherited
        names = child.as_str_list()
        if names is None:
            return inherited
        seen: set[str] = set()
        for item, name in zip(child.elements(), names, strict=False):
            if name in seen:
                item.error(f'duplicate label "{name}" in group_by')
            seen.add(name)
        if GROUP_BY_ALL in seen and len(names) > 1:
            child.error(f'"{GROUP_BY_ALL}" (all labels) cannot be mixed with label names')
        return tuple(dict.fromkeys(names))

    def _matchers(self, node: Node) -> list[Matcher]:
        out = matcher_list(node, "matchers")
        for key in ("match", "match_re"):
            child = node.get_map(key)
            for name, value_node in child.entries() if child else []:
                value = value_node.as_str()
                if value is None:
                    continue
                try:
                    maps = ({name: value}, {}) if key == "match" else ({}, {name: value})
                    out.extend(from_match_maps(*maps))
                except MatcherError as exc:
                    value_node.error(f"invalid {key} value {value!r}: {exc.message}")
        return out

    # -- receivers ------------------------------------------------------------------
    def _receivers(self, items: list[Node]) -> dict[str, Receiver]:
        out: dict[str, Receiver] = {}
        for item in items:
            if not item.expect_map():
                continue
            item.expect_keys(("name", "send_resolved_when_silenced",
                              *(spec.config_key for spec in CHANNELS.values())))
            name_node = item.require("name")
            name = item.get_str("name")
            integrations: list[tuple[str, ChannelConfig]] = []
            for kind, spec in CHANNELS.items():
                for entry in item.get_list(spec.config_key) or []:
                    if entry.expect_map():
                        entry.expect_keys(spec.keys)
                        parsed = spec.parse(self.fields, entry)
                        if parsed is not None:
                            integrations.append((kind, parsed))
            if name is None or name_node is None:
                continue
            if name in out:
                name_node.error(f'duplicate receiver name "{name}"')
                continue
            out[name] = Receiver(
                name, tuple(integrations), item.get_bool("send_resolved_when_silenced", False)
            )
        return out

    # -- other sections -------------------------------------------------------------
    def _global(self, node: Node) -> GlobalConfig:
        node.expect_keys(("resolve_timeout",))
        default = GlobalConfig().resolve_timeout
        timeout = node.get_duration("resolve_timeout", default, allow_zero=False)
        return GlobalConfig(resolve_timeout=timeout or default)

    def _server(self, node: Node) -> ServerConfig:
        node.expect_keys(("listen", "external_url", "max_body_bytes", "auth"))
        default = ServerConfig()
        listen = node.get_str("listen", default.listen) or default.listen
        port = _listen_port(listen)
        if port is None:
            listen_node = node.get("listen")
            assert listen_node is not None
            listen_node.error(
                f'invalid listen address "{listen}": expected host:port, '
                "e.g. 127.0.0.1:9095 or :9095"
            )
        host = listen.rsplit(":", 1)[0]
        derived = (
            f"http://{listen}"
            if host not in ("", "0.0.0.0", "[::]")
            else f"http://localhost:{port}"
        )
        external_url = node.get_str("external_url", derived) or derived
        parts = urlsplit(external_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            bad = node.get("external_url") or node
            bad.error(f'invalid external_url "{external_url}": expected http(s)://host[:port]')
        auth = node.get_map("auth")
        return ServerConfig(
            listen=listen,
            external_url=external_url.rstrip("/"),
            auth=self._ingest_auth(auth) if auth else IngestAuth(),
            max_body_bytes=node.get_int("max_body_bytes", default.max_body_bytes, minimum=1),
        )

    def _ingest_auth(self, node: Node) -> IngestAuth:
        """`server.auth`. An empty or missing credentials file is an error, never "auth off"."""
        problems = len(self.src.problems)
        node.expect_keys(
            (
                "bearer_tokens",
                "bearer_tokens_file",
                "bearer_token",
                "bearer_token_file",
                "basic_auth",
                "public_read",
            )
        )
        tokens: list[Secret] = []
        single = self.fields.secret(node, "bearer_token")
        tokens.extend([single] if single else [])
        _require_content(node.get("bearer_token_file"), single)
        for item in node.get_list("bearer_tokens") or []:
            value = item.as_str()
            tokens.extend([Secret(value=value)] if value else [])
        for item in node.get_list("bearer_tokens_file") or []:
            text = item.as_str()
            if text is not None and not self.fields.path(text).is_file():
                item.error(f"file not found: {self.fields.path(text)}")
            elif text is not None:
                token = Secret(file=str(self.fields.path(text)))
                if _require_content(item, token):
                    tokens.append(token)
        auth_node = node.get("basic_auth")
        entries = (
            [auth_node] if auth_node and auth_node.is_map else node.get_list("basic_auth") or []
        )
        users = []
        for entry in entries:
            user = self.fields.basic_auth(entry) if entry.expect_map() else None
            if user is not None and _require_content(entry.get("password_file"), user.password):
                users.append(user)
        auth = IngestAuth(tuple(tokens), tuple(users), node.get_bool("public_read", False))
        if not auth.enabled and len(self.src.problems) == problems:
            node.error("no credentials: set bearer_tokens or basic_auth, or remove `auth` "
                       "to run without authentication")
        return auth

    def _sources(self, node: Node) -> dict[str, SourceConfig]:
        out: dict[str, SourceConfig] = {}
        for name, item in node.entries():
            if not _SOURCE_NAME.fullmatch(name):
                (node.key_node(name) or item).error(
                    f'invalid source name "{name}": use letters, digits, "_", "." and "-"'
                )
            if not item.expect_map():
                continue
            item.expect_keys(_SOURCE_KEYS)
            labels = self._template_map(item, "labels")
            if item.require("labels") is not None and not labels:
                item.error("at least one label is required", path=f"{item.path}.labels")
            out[name] = SourceConfig(
                name=name,
                labels=labels,
                annotations=self._template_map(item, "annotations"),
                status=self.fields.template_string(item.get("status")),
                starts_at=self.fields.template_string(item.get("starts_at")),
                ends_at=self.fields.template_string(item.get("ends_at")),
                generator_url=self.fields.template_string(item.get("generator_url")),
            )
        return out

    def _template_map(self, node: Node, key: str) -> dict[str, str]:
        child = node.get_map(key)
        if child is None:
            return {}
        out: dict[str, str] = {}
        for name, value in child.entries():
            if key == "labels" and not _LABEL_NAME.fullmatch(name):
                (child.key_node(name) or value).error(f'invalid label name "{name}"')
            text = self.fields.template_string(value)
            if text is not None:
                out[name] = text
        return out

    def _delivery(self, node: Node) -> DeliveryConfig:
        node.expect_keys(
            ("timeout", "max_attempts", "max_age", "backoff_base", "backoff_cap", "concurrency")
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
        )


def _listen_port(listen: str) -> int | None:
    """The port of `host:port` (host may be empty or a bracketed IPv6), None if invalid."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return None
    if host.startswith("[") != host.endswith("]") or (":" in host and not host.startswith("[")):
        return None
    return int(port)


def _require_content(node: Node | None, secret: Secret | None) -> bool:
    """False (and an error at `node`) when `secret` is a file that is empty or unreadable."""
    if node is None or secret is None or secret.file is None:
        return True
    try:
        content = secret.reveal()
    except (OSError, UnicodeDecodeError) as exc:
        node.error(f"cannot read credentials file {secret.file}: {type(exc).__name__}")
        return False
    if not content:
        node.error(f"credentials file is empty: {secret.file}")
        return False
    return True
