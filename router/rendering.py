"""Sandboxed Jinja rendering: Alertmanager-named template data, filters and plain fallbacks.

One `Renderer` per config: every template compiles at construction, so syntax errors surface
at config load (Jinja's TemplateSyntaxError carries file and line); runtime errors do not.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from router import regex
from router.logs import RepeatLog
from router.model import Alert, Notification, common_items
from router.timefmt import format_time, parse_time

log = logging.getLogger(__name__)

# Go's regexp.QuoteMeta escapes exactly these.
_GO_META = frozenset("\\.+*?()|[]{}^$")
_PLAIN_ALERTS = 20


def quote_meta(s: str) -> str:
    """Go's `regexp.QuoteMeta`: Alertmanager passes receiver names through it (a UI quirk)."""
    return "".join("\\" + c if c in _GO_META else c for c in s)


def default_templates_dir() -> Path:
    """`router/templates` in an installed wheel, else the repo's top-level `templates/`."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    if packaged.is_dir():
        return packaged
    return here.parent / "templates"


# --- template data --------------------------------------------------------------------


class AlertList(list[dict[str, Any]]):
    """`.Alerts` with Alertmanager's `.Firing` / `.Resolved` views (`alerts.firing`)."""

    @property
    def firing(self) -> list[dict[str, Any]]:
        return [a for a in self if a["status"] == "firing"]

    @property
    def resolved(self) -> list[dict[str, Any]]:
        return [a for a in self if a["status"] == "resolved"]


def label_matchers(labels: Mapping[str, str]) -> str:
    """`{a="x", b="y"}` as Alertmanager's UI filter and group keys print a label set."""
    pairs = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted_pairs(labels))
    return "{" + pairs + "}"


def alert_v4(alert: Alert, now: float) -> dict[str, Any]:
    """One alert exactly as Alertmanager's webhook v4 writes it, in its key order."""
    resolved = alert.resolved(now)
    return {
        "status": "resolved" if resolved else "firing",
        "labels": dict(sorted(alert.labels.items())),
        "annotations": dict(sorted(alert.annotations.items())),
        "startsAt": format_time(alert.starts_at),
        # Alertmanager blanks endsAt of every firing alert to Go's zero time.
        "endsAt": format_time(alert.ends_at if resolved else None),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def _alert_data(n: Notification, alert: Alert) -> dict[str, Any]:
    data = alert_v4(alert, n.now)
    # Alertmanager's silence-form address, which alert-router's UI reads too: the link
    # silences where the alert is muted (this router, or `server.silence_url`'s UI).
    base = (n.silence_url or n.external_url).rstrip("/")
    silence = base + "/#/silences/new?filter=" + urllib.parse.quote(
        label_matchers(alert.labels), safe="")
    data["starts_at"] = alert.starts_at
    data["ends_at"] = alert.ends_at if data["status"] == "resolved" else None
    data["silenceURL"] = silence
    return data


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return dict(sorted(common_items(maps).items()))


def template_data(n: Notification, *, truncated_alerts: int = 0) -> dict[str, Any]:
    """The data `.` of Alertmanager templates, with the same (camelCase) names."""
    alerts = AlertList(_alert_data(n, a) for a in n.alerts)
    data = {
        "receiver": quote_meta(n.receiver),
        "status": "firing" if alerts.firing else "resolved",
        "alerts": alerts,
        "groupLabels": dict(sorted(n.group_labels.items())),
        "commonLabels": _common(a["labels"] for a in alerts),
        "commonAnnotations": _common(a["annotations"] for a in alerts),
        "externalURL": n.external_url,
        "groupKey": n.group_key,
        "notificationReason": str(n.reason),
        "truncatedAlerts": truncated_alerts,
    }
    if n.digest is not None:
        # A storm digest's counts, top groups and `alertsURL` (route `storm`). Absent
        # otherwise, so `{% if digest %}` works (undefined values are chainable).
        data["digest"] = dict(n.digest)
    return data


# --- filters ----------------------------------------------------------------------------


class Pair(NamedTuple):
    name: str
    value: str


def sorted_pairs(labels: Mapping[str, str]) -> list[Pair]:
    """Sorted by name with `alertname` first, as Alertmanager's `.SortedPairs`."""
    items = sorted(labels.items(), key=lambda kv: (kv[0] != "alertname", kv[0]))
    return [Pair(str(k), str(v)) for k, v in items]


def go_title(s: str) -> str:
    """Go's `strings.Title`: upper-case the first letter of each word, leave the rest."""
    out = []
    prev = " "
    for c in str(s):
        out.append(c.upper() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _is_separator(c: str) -> bool:
    if c.isascii():
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


_GO_GROUP = re.compile(r"\$(\$|\{(\w+)\}|(\w+))")


def re_replace_all(s: str, pattern: str, repl: str) -> str:
    """Go's `Regexp.ReplaceAllString`: `$1`, `${name}` and `$$` in the replacement."""

    def expand(m: Any) -> str:  # the RE2 binding's match object
        def ref(g: re.Match[str]) -> str:
            if g.group(1) == "$":
                return "$"
            name = g.group(2) or g.group(3)
            try:
                value = m.group(int(name)) if name.isdigit() else m.group(name)
            except (IndexError, KeyError):
                return ""  # Go expands an unknown group to the empty string
            return value or ""

        return _GO_GROUP.sub(ref, repl)

    return regex.sub(pattern, expand, str(s))  # RE2, like Go's regexp


def humanize_duration(value: Any) -> str:
    """Prometheus' `humanizeDuration`: 3723 → "1h 2m 3s", 0.25 → "250ms"."""
    v = float(value)
    if v == 0 or abs(v) >= 1:
        sign = "-" if v < 0 else ""
        whole = int(abs(v))
        days, hours = whole // 86400, whole // 3600 % 24
        minutes, seconds = whole // 60 % 60, whole % 60
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{abs(v):.4g}s"
    for unit, scale in (("ms", 1e3), ("us", 1e6), ("ns", 1e9)):
        if abs(v) * scale >= 1:
            return f"{v * scale:.4g}{unit}"
    return f"{v * 1e9:.4g}ns"


def _epoch(value: Any) -> float:
    if isinstance(value, str):
        parsed = parse_time(value)
        return 0.0 if parsed is None else parsed
    return float(value)


def humanize_timestamp(value: Any) -> str:
    """Epoch seconds (or RFC 3339) → "2026-11-24 22:42:51 UTC"."""
    d = dt.datetime.fromtimestamp(_epoch(value), tz=dt.UTC)
    return d.strftime("%Y-%m-%d %H:%M:%S UTC")


def to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def string_slice(*args: Any) -> list[str]:
    return [str(a) for a in args]


def match(s: Any, pattern: str) -> bool:
    """Go's `match`: unanchored regular-expression search (RE2, like Go's regexp)."""
    return regex.search(pattern, str(s))


def labels_without(labels: Mapping[str, str], *names: Any) -> dict[str, str]:
    """A copy without `names` (strings or lists of strings), like `.Remove`."""
    drop: set[str] = set()
    for name in names:
        if isinstance(name, str):
            drop.add(name)
        else:
            drop.update(str(x) for x in name)
    return {k: v for k, v in labels.items() if k not in drop}


def slack_escape(s: Any) -> str:
    """Slack mrkdwn control characters (`&`, `<`, `>`) must be escaped in text."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- the renderer -----------------------------------------------------------------------


class _FilesLoader(jinja2.BaseLoader):
    """The user's template files, reachable by file name and by the path as configured."""

    def __init__(self, files: Sequence[str]) -> None:
        self._paths: dict[str, Path] = {}
        for f in files:
            self.add(f)

    def add(self, file: str) -> None:
        path = Path(file)
        self._paths[file] = path
        self._paths.setdefault(path.name, path)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self._paths.get(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise jinja2.TemplateNotFound(template) from exc
        return source, str(path), lambda: True  # compiled once; a reload builds a new Renderer

    def list_templates(self) -> list[str]:
        return sorted(self._paths)


class Renderer:
    """Compiles and renders every template of one config in a Jinja sandbox."""

    def __init__(
        self,
        template_files: Sequence[str],
        on_failure: Callable[[str], None] | None = None,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._on_failure = on_failure
        self._now = now
        self._failures = RepeatLog(log, now)  # per notification: a line a minute per cause
        self._files = _FilesLoader(template_files)
        # User files come first so a team can deliberately replace a default template.
        defaults = jinja2.FileSystemLoader(default_templates_dir())
        loader = jinja2.ChoiceLoader([self._files, defaults])
        self.env = SandboxedEnvironment(
            loader=loader,
            autoescape=False,
            # Missing labels render empty, like Go's `missingkey=zero`.
            undefined=jinja2.ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters.update(self._filters())
        self.env.globals.update(stringSlice=string_slice, now=now)
        self._strings: dict[str, jinja2.Template] = {}
        for name in sorted(p.name for p in default_templates_dir().glob("*.j2")):
            self.env.get_template(name)
        for file in template_files:
            self.env.get_template(file)

    def _filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "title": go_title,
            "toUpper": lambda s: str(s).upper(),
            "toLower": lambda s: str(s).lower(),
            "reReplaceAll": re_replace_all,
            "sortedPairs": sorted_pairs,
            "humanizeDuration": humanize_duration,
            "humanizeTimestamp": humanize_timestamp,
            "since": lambda t: self._now() - _epoch(t),
            "safeHtml": Markup,
            "toJson": to_json,
            "stringSlice": string_slice,
            "trimSpace": lambda s: str(s).strip(),
            "match": match,
            "labelsWithout": labels_without,
            "labelMatchers": label_matchers,
            "urlquery": lambda s: urllib.parse.quote_plus(str(s)),
            "slackEscape": slack_escape,
        }

    def template(self, name: str) -> jinja2.Template:
        """A file template by name or path; a path not listed in `templates:` is added."""
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound:
            if not Path(name).is_file():
                raise
            self._files.add(name)
            return self.env.get_template(name)

    def compile_string(self, src: str) -> jinja2.Template:
        tmpl = self._strings.get(src)
        if tmpl is None:
            tmpl = self.env.from_string(src)
            self._strings[src] = tmpl
        return tmpl

    def compile_optional(self, src: str | None) -> jinja2.Template | None:
        """`compile_string` for an optional key: None (unset or empty) stays None."""
        return self.compile_string(src) if src else None

    def text_or_macro(self, source: str | None, template: str, macro: str
                      ) -> Callable[..., str]:
        """A configured text (an explicit "" included: it renders empty, as in
        Alertmanager), else the default template's `macro`; called with the data."""
        if source is not None:
            return self.compile_string(source).render
        return self.macro(template, macro)

    def macro(self, template: str, name: str) -> Callable[..., str]:
        """A `{% macro %}` of a file template, callable from Python."""
        fn: Callable[..., str] = getattr(self.template(template).module, name)
        return fn

    def failed(self, kind: str, receiver: str = "", *, fallback: str = "plain text") -> None:
        """Count and log a template that failed at run time (call from an `except`); the
        channel then sends `fallback` instead, so the notification is never lost. Logged
        once per receiver, channel and error a minute: it fails for every notification."""
        self._failures.failure("template rendering failed; sending a fallback",
                               sys.exc_info()[1], per=("receiver", "channel"),
                               level=logging.WARNING, channel=kind, receiver=receiver,
                               fallback=fallback)
        if self._on_failure is not None:
            self._on_failure(kind)

    def plain_text(self, n: Notification) -> str:
        """A template-free rendering that cannot fail: the fallback after a template error."""
        firing = sum(1 for a in n.alerts if not a.resolved(n.now))
        status = f"FIRING:{firing}" if firing else "RESOLVED"
        names = sorted({str(a.labels.get("alertname", "")) for a in n.alerts} - {""})
        lines = [f"[{status}] {', '.join(names) or 'alerts'} (receiver {n.receiver})"]
        for a in n.alerts[:_PLAIN_ALERTS]:
            state = "resolved" if a.resolved(n.now) else "firing"
            name = a.labels.get("alertname", "")
            summary = a.annotations.get("summary", "")
            line = f"- [{state}] {name}"
            if summary:
                line += f": {summary}"
            lines.append(f"{line} {label_matchers(a.labels)}")
        if len(n.alerts) > _PLAIN_ALERTS:
            lines.append(f"+{len(n.alerts) - _PLAIN_ALERTS} more")
        return "\n".join(lines)
