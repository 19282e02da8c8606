"""The loaded configuration as plain data with every secret replaced by `<secret>`.

This is what any "show config" view serves (today `GET /api/v2/status`, as Alertmanager's
`config.original`): the parsed config re-encoded, never the raw file, so an inline secret
cannot leak through it. Redaction goes by type: every `Secret` value, in any dataclass,
tuple or dict, becomes `<secret>`, so a channel added later is covered without a list of
field names. A `_file` secret shows its path under the `x_file` key (a path is not a
secret; the file's content is). Durations are written back in Prometheus' syntax and
Python field names in the YAML spelling (`global`, `continue`, `slack_configs`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from router.config.types import Receiver, Route, RouterConfig, Secret
from router.matchers import Matcher

REDACTED = "<secret>"

# Float fields holding seconds, written back as `30s` / `1h30m`.
_DURATIONS = frozenset({
    "group_wait", "group_interval", "repeat_interval", "resolve_timeout", "timeout",
    "max_age", "backoff_base", "backoff_cap", "window", "digest_interval", "quiet",
})
# Compiled or derived fields that are not configuration.
_SKIP = frozenset({"id", "key", "source_file", "regex"})
_UNITS = (("d", 86400_000), ("h", 3600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def format_duration(seconds: float) -> str:
    """Prometheus' duration syntax: 90.0 → `1m30s`, 0.5 → `500ms`, 0 → `0s`."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    out = ""
    for unit, size in _UNITS:
        count, ms = divmod(ms, size)
        if count:
            out += f"{count}{unit}"
    return out


def _yaml_name(name: str) -> str:
    return name[:-1] if name.endswith("_") else name


def _plain(value: Any) -> Any:
    """Any config value as YAML-safe data, secrets redacted."""
    if isinstance(value, Secret):
        return REDACTED if value.file is None else {"file": value.file}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Matcher):
        return str(value)
    if isinstance(value, Route):
        return _route(value)
    if isinstance(value, Receiver):
        return _receiver(value)
    if isinstance(value, (PurePath, ZoneInfo, re.Pattern)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    return str(value)  # unknown types: their str (a Secret inside is redacted by its repr)


def _put(out: dict[str, Any], name: str, value: Any) -> None:
    """Set `name`, moving `_file` secrets to `name_file` as the config spells them."""
    if isinstance(value, Secret):
        if value.file is None:
            out[name] = REDACTED
        else:
            out[f"{name}_file"] = value.file
    elif isinstance(value, tuple) and value and all(isinstance(v, Secret) for v in value):
        inline = [REDACTED for v in value if v.file is None]
        files = [v.file for v in value if v.file is not None]
        if inline:
            out[name] = inline
        if files:
            out[f"{name}_file"] = files
    elif isinstance(value, float) and name in _DURATIONS:
        out[name] = format_duration(value)
    else:
        out[name] = _plain(value)


def _fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name in _SKIP or f.name.startswith("_"):
            continue
        value = getattr(obj, f.name)
        if value is None or value == () or value == {}:
            continue
        _put(out, _yaml_name(f.name), value)
    return {k: v for k, v in out.items() if v != {}}


def _route(route: Route) -> dict[str, Any]:
    return _fields(route)


def _receiver(receiver: Receiver) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    if receiver.send_resolved_when_silenced:
        out["send_resolved_when_silenced"] = True
    for kind, cfg in receiver.integrations:
        out.setdefault(f"{kind}_configs", []).append(_plain(cfg))
    return out


def redacted(config: RouterConfig) -> dict[str, Any]:
    """The config as plain data (dicts, lists, strings, numbers), secrets as `<secret>`."""
    out = {"global": _fields(config.global_), **_fields(config)}
    out["receivers"] = [_receiver(r) for r in config.receivers.values()]
    return out


def redacted_yaml(config: RouterConfig) -> str:
    """`redacted(config)` as YAML text, keys in the config's own order."""
    text: str = yaml.safe_dump(redacted(config), sort_keys=False, allow_unicode=True,
                               default_flow_style=False)
    return text
