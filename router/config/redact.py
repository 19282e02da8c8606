"""The loaded configuration as plain data with every secret replaced by `<secret>`, and
the scrubbing of a channel's secrets out of text that came from elsewhere.

`redacted` / `redacted_yaml` are what any "show config" view serves (today
`GET /api/v2/status`, as Alertmanager's `config.original`): the parsed config re-encoded,
never the raw file, so an inline secret cannot leak through it. Redaction goes by type:
every `Secret`, in any dataclass, tuple or dict, becomes `<secret>`, so a channel added
later is covered without a list of field names. A `_file` secret shows its path under the
`x_file` key (a path is not a secret; the file's content is). The text loads back to the
same configuration (secrets aside): values equal to their defaults are left out, durations
are in Prometheus' syntax, names in the YAML spelling (`global`, `continue`,
`slack_configs`) and time intervals as Alertmanager writes them.

`secret_values` / `scrub` serve delivery errors: a vendor may echo a URL's path or an
`Authorization` header back in its error body, which must not reach logs, the outbox or
the API.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from router.config.interval_types import InclusiveRange, TimeInterval, TimeSpec
from router.config.secrets import REDACTED
from router.config.time_intervals import MONTHS, WEEKDAYS
from router.config.types import Receiver, Route, RouterConfig, Secret
from router.matchers import Matcher

# Float fields holding seconds, written back as `30s` / `1h30m`.
_DURATIONS = frozenset({
    "group_wait", "group_interval", "repeat_interval", "resolve_timeout", "timeout",
    "max_age", "backoff_base", "backoff_cap", "window", "digest_interval", "quiet", "ttl",
    "retry", "expire", "reopen_duration", "interval", "startup_grace",
    "webhook_alert_timeout",
})
# Compiled or derived fields that are not configuration (a route's `key` is derived; a
# TLS `key` is a secret to show as such).
_SKIP = frozenset({"id", "source_file", "regex", "alertmanager_source"})
_ROUTE_SKIP = frozenset({"key"})
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
    if isinstance(value, TimeInterval):
        return {"name": value.name, "time_intervals": [_time_spec(s) for s in value.specs]}
    if isinstance(value, (PurePath, ZoneInfo, re.Pattern)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple) and value and all(
        isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str) for v in value
    ):
        return {k: _plain(v) for k, v in value}  # (name, value) pairs: a map in YAML
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
    elif name in _DURATIONS and isinstance(value, tuple) and all(
            isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], float) for v in value):
        out[name] = {k: format_duration(v) for k, v in value}  # e.g. webpush.ttl
    else:
        out[name] = _plain(value)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields that differ from their defaults (so the text loads back)."""
    out: dict[str, Any] = {}
    skip = _SKIP | _ROUTE_SKIP if isinstance(obj, Route) else _SKIP
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        default = _default(f)
        if f.name in skip or f.name.startswith("_") or value == default:
            continue
        if value is None and default is dataclasses.MISSING:
            continue  # an unset alternative (PagerDuty's routing_key beside service_key)
        if f.metadata.get("inline") and dataclasses.is_dataclass(value):
            out.update(_fields(value))  # keys the YAML spells flat (Slack's `color`, ...)
            continue
        if isinstance(value, Route) or (
            isinstance(value, tuple) and value and isinstance(value[0], Route)
        ):
            value = _plain(value) if isinstance(value, Route) else [_fields(r) for r in value]
        _put(out, _yaml_name(f.name), value)
    return out


def _time_spec(spec: TimeSpec) -> dict[str, Any]:
    """Alertmanager's spelling: `09:00`-style times, weekday and month names, `a:b` ranges."""

    def ranges(items: tuple[InclusiveRange, ...], name: Callable[[int], str]) -> list[str]:
        return [name(r.begin) if r.begin == r.end else f"{name(r.begin)}:{name(r.end)}"
                for r in items]

    out: dict[str, Any] = {}
    if spec.times is not None:
        out["times"] = [{"start_time": f"{t.start_minute // 60:02d}:{t.start_minute % 60:02d}",
                         "end_time": f"{t.end_minute // 60:02d}:{t.end_minute % 60:02d}"}
                        for t in spec.times]
    if spec.weekdays is not None:
        out["weekdays"] = ranges(spec.weekdays, lambda n: WEEKDAYS[n])
    if spec.days_of_month is not None:
        out["days_of_month"] = ranges(spec.days_of_month, str)
    if spec.months is not None:
        out["months"] = ranges(spec.months, lambda n: MONTHS[n - 1])
    if spec.years is not None:
        out["years"] = ranges(spec.years, str)
    if spec.location is not None:
        out["location"] = str(spec.location)
    return out


def _receiver(receiver: Receiver) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    if receiver.send_resolved_when_silenced:
        out["send_resolved_when_silenced"] = True
    for kind, cfg in receiver.integrations:
        out.setdefault(f"{kind}_configs", []).append(_plain(cfg))
    return out


def redacted(config: RouterConfig) -> dict[str, Any]:
    """The config as plain data (dicts, lists, strings, numbers), secrets as `<secret>`."""
    out: dict[str, Any] = {"global": _fields(config.global_), **_fields(config)}
    out["receivers"] = [_receiver(r) for r in config.receivers.values()]
    if config.sources:
        out["sources"] = {name: {k: v for k, v in _fields(src).items() if k != "name"}
                          for name, src in config.sources.items()}
    am_source = _fields(config.alertmanager_source)
    if am_source:
        out.setdefault("sources", {})["alertmanager"] = am_source
    if config.time_intervals:
        out["time_intervals"] = [_plain(t) for t in config.time_intervals.values()]
    return {k: v for k, v in out.items() if v != {}}


def redacted_yaml(config: RouterConfig) -> str:
    """`redacted(config)` as YAML text, keys in the config's own order."""
    text: str = yaml.safe_dump(redacted(config), sort_keys=False, allow_unicode=True,
                               default_flow_style=False)
    return text


# --- scrubbing secrets out of text that came from elsewhere (a vendor's error body) ------

# An echoed `Authorization` header: its credential is a secret whatever it encodes.
