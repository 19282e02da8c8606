"""Each input format → list[Alert], validating shapes with the JSON path of any bad field.

Formats: Alertmanager's webhook v4, API v2 postable alerts (what Prometheus sends), and
generic JSON events mapped by a `sources:` entry of Jinja expressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from router.config.types import SourceConfig
from router.errors import InputError
from router.model import Alert, make_alert
from router.timefmt import parse_time


def _obj(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"expected an object, got {_type(value)}", path)
    return value


def _type(value: Any) -> str:
    return {
        dict: "an object", list: "an array", str: "a string", bool: "a boolean",
        int: "a number", float: "a number", type(None): "null",
    }.get(type(value), type(value).__name__)


# Accepted values (README "Accepted values"). Sizes are UTF-8 bytes. Label names and
# values are identity (fingerprints, group keys, matchers, the notification log, every
# vendor's title): names as long as Mimir allows (1 KiB), values 8x its 2 KiB, and 256
# labels, far above any real alert yet a bound on every key built from them. Free text
# (annotations, generatorURL) may be larger: 64 KiB each, still inside any vendor's body.
MAX_NAME_BYTES = 1024
MAX_LABEL_VALUE_BYTES = 16 * 1024
MAX_TEXT_BYTES = 64 * 1024
MAX_ENTRIES = 256


def _size(text: str, path: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: not Unicode text
        raise InputError("not valid Unicode text (a lone surrogate)", path) from None


def _check_text(text: str, path: str, limit: int, what: str = "value") -> None:
    if len(text) * 4 > limit and _size(text, path) > limit:
        raise InputError(f"{what} longer than {limit} bytes", path)
    if not text.isascii():
        _size(text, path)


def _check_map(obj: Mapping[str, str], path: str, value_limit: int, kind: str,
               *, key_paths: bool = True) -> None:
    """Names, values and entry count of a label or annotation map inside the bounds."""
    if len(obj) > MAX_ENTRIES:
        raise InputError(f"more than {MAX_ENTRIES} {kind}s", path)
    for k, v in obj.items():
        _check_text(k, path, MAX_NAME_BYTES, f"{kind} name")
        where = f"{path}.{k}" if key_paths else path
        what = "value" if key_paths else f"{kind} {k!r} value"
        _check_text(v, where, value_limit, what)


def _str_map(value: Any, path: str, *, required: bool = False,
             limit: int = MAX_TEXT_BYTES, kind: str = "annotation") -> dict[str, str]:
    if value is None and not required:
        return {}
    obj = _obj(value, path)
    for k, v in obj.items():
        if not isinstance(v, str):
            raise InputError(f"expected a string value, got {_type(v)}", f"{path}.{k}")
    _check_map(obj, path, limit, kind)
    return obj


def _opt_str(value: Any, path: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"expected a string, got {_type(value)}", path)
    _check_text(value, path, MAX_TEXT_BYTES)
    return value


def _time(value: Any, path: str) -> float | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError(f"expected an RFC 3339 timestamp string, got {_type(value)}", path)
    try:
        return parse_time(value)
    except ValueError as exc:
        raise InputError(str(exc), path) from None


def _labels(value: Any, path: str) -> dict[str, str]:
    raw = _str_map(value, path, required=True, limit=MAX_LABEL_VALUE_BYTES, kind="label")
    labels = {k: v for k, v in raw.items() if v != ""}
    if not labels:
        raise InputError("at least one label with a non-empty value is required", path)
    if "" in labels:
        raise InputError("label names must not be empty", path)
    return labels


def _array(body: Any, path: str = "") -> list[Any]:
    if not isinstance(body, list):
        raise InputError(f"expected an array of alerts, got {_type(body)}", path or "$")
    return body


def from_postable(
    body: Any, now: float, resolve_timeout: float, source: str = "api"
) -> list[Alert]:
    """API v2 `[{labels, annotations, startsAt, endsAt, generatorURL}]` with AM's defaults:
    no startsAt → now (or endsAt); no endsAt → now + resolve_timeout, marked as a timeout."""
    out = []
    for i, item in enumerate(_array(body)):
        path = f"[{i}]"
        obj = _obj(item, path)
        labels = _labels(obj.get("labels"), f"{path}.labels")
        annotations = _str_map(obj.get("annotations"), f"{path}.annotations")
        starts = _time(obj.get("startsAt"), f"{path}.startsAt")
        ends = _time(obj.get("endsAt"), f"{path}.endsAt")
        gen = _opt_str(obj.get("generatorURL"), f"{path}.generatorURL")
        timeout_end = False
        if starts is None:
            starts = ends if ends is not None and ends < now else now
        if ends is None:
            ends, timeout_end = now + resolve_timeout, True
        if ends < starts:
            raise InputError("endsAt must not be before startsAt", f"{path}.endsAt")
        out.append(make_alert(labels, annotations, starts, ends, gen, now,
                              timeout_end=timeout_end, source=source))
    return out


def from_webhook(body: Any, now: float, timeout: float | None = None) -> list[Alert]:
    """Alertmanager's webhook v4. Firing alerts carry Go's zero endsAt: they stay firing
    until Alertmanager sends the resolution (it does, with send_resolved: true), or, with
    `timeout` (sources.alertmanager.webhook_alert_timeout), until `timeout` passes without
    a re-send (an end derived like resolve_timeout's, moved on by each re-send)."""
    obj = _obj(body, "$")
    version = obj.get("version")
    if version is not None and version != "4":
        raise InputError(f"unsupported webhook version {version!r}; expected \"4\"", "version")
    out = []
    for i, item in enumerate(_array(obj.get("alerts"), "alerts")):
        path = f"alerts[{i}]"
        a = _obj(item, path)
        status = a.get("status", "firing")
        if status not in ("firing", "resolved"):
            raise InputError('status must be "firing" or "resolved"', f"{path}.status")
        labels = _labels(a.get("labels"), f"{path}.labels")
        annotations = _str_map(a.get("annotations"), f"{path}.annotations")
        starts = _time(a.get("startsAt"), f"{path}.startsAt")
        starts = now if starts is None else starts
        ends = _time(a.get("endsAt"), f"{path}.endsAt")
        gen = _opt_str(a.get("generatorURL"), f"{path}.generatorURL")
        derived = False
        if status == "firing":
            ends, derived = (None, False) if timeout is None else (now + timeout, True)
        elif ends is None or ends > now:
            ends = min(now if ends is None else ends, now)
        out.append(make_alert(labels, annotations, starts, ends, gen, now, timeout_end=derived,
                              source="alertmanager"))
    return out


class EventMapper:
    """A `sources:` entry compiled once: Jinja expressions over the event → an alert."""

    def __init__(self, cfg: SourceConfig, env: SandboxedEnvironment | None = None) -> None:
        env = env or SandboxedEnvironment()
        self.name = cfg.name
        self._labels = {k: env.from_string(v) for k, v in cfg.labels.items()}
        self._annotations = {k: env.from_string(v) for k, v in cfg.annotations.items()}
        self._status = env.from_string(cfg.status) if cfg.status else None
        self._starts = env.from_string(cfg.starts_at) if cfg.starts_at else None
        self._ends = env.from_string(cfg.ends_at) if cfg.ends_at else None
        self._gen = env.from_string(cfg.generator_url) if cfg.generator_url else None

    def map(self, body: Any, now: float, resolve_timeout: float) -> list[Alert]:
        events = body if isinstance(body, list) else [body]
        out = []
        for i, event in enumerate(events):
            path = f"[{i}]" if isinstance(body, list) else "$"
            if not isinstance(event, dict):
                raise InputError(f"expected an event object, got {_type(event)}", path)
            try:
                out.append(self._one(event, now, resolve_timeout, path))
            # An expression can fail on the event's own values too (`event.n + 1` with a
            # string n, `xmlattr` of a string, a macro recursing `event.depth` times): that
            # is a bad event (4xx), not a router failure.
            except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError,
                    AttributeError, RecursionError) as exc:
                raise InputError(f"source {self.name!r} could not map the event: {exc}",
                                 path) from None
        return out

    def _one(self, event: Mapping[str, Any], now: float, timeout: float, path: str) -> Alert:
        ctx = {"event": event}
        labels = {k: t.render(ctx).strip() for k, t in self._labels.items()}
        labels = {k: v for k, v in labels.items() if v}
        if not labels:
            raise InputError(f"source {self.name!r} mapped the event to no labels", path)
        annotations = {k: t.render(ctx) for k, t in self._annotations.items()}
        # Names come from the config; what the templates made of the event must fit too.
        _check_map(labels, path, MAX_LABEL_VALUE_BYTES, "label", key_paths=False)
        _check_map(annotations, path, MAX_TEXT_BYTES, "annotation", key_paths=False)
        status = self._status.render(ctx).strip().lower() if self._status else "firing"
        if status not in ("firing", "resolved"):
            raise InputError(
                f"source {self.name!r} status must render to firing or resolved, got {status!r}",
                path,
            )
        starts = _time(self._starts.render(ctx).strip(), path) if self._starts else None
        ends = _time(self._ends.render(ctx).strip(), path) if self._ends else None
        gen = self._gen.render(ctx).strip() if self._gen else ""
        _check_text(gen, path, MAX_TEXT_BYTES, "generatorURL")
        timeout_end = False
        if status == "resolved":
            ends = min(ends, now) if ends is not None else now
        elif ends is None or ends <= now:
            ends, timeout_end = now + timeout, True
        starts = starts if starts is not None else min(now, ends)
        return make_alert(labels, annotations, starts, ends, gen, now,
                          timeout_end=timeout_end, source="events")
