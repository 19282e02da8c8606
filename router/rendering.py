"""Sandboxed Jinja rendering: Alertmanager-named template data, filters and plain fallbacks.

One `Renderer` per config: every template compiles at construction, so syntax errors surface
at config load (Jinja's TemplateSyntaxError carries file and line); runtime errors do not.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from router.logs import RepeatLog
from router.model import Alert, Notification, common_items
from router.template_filters import (
    epoch,
    go_time,
    go_title,
    humanize_duration,
    humanize_timestamp,
    labels_without,
    match,
    re_replace_all,
    slack_escape,
    sorted_pairs,
    string_slice,
    to_json,
)
from router.timefmt import format_time

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
    data: dict[str, Any] = {
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
    # The whole data under one name: Go's `.` at the top of a template, which a migrated
    # `{{ template "x" . }}` passes on as `x(data)`. A copy, so it holds no cycle.
    data["data"] = dict(data)
    return data


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


class Missing(jinja2.ChainableUndefined):
    """A missing label or field: renders empty, and equals "" as Go's zero value does
    (`{{ if eq .CommonLabels.team "" }}` is true when the label is absent)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return other == "" or isinstance(other, jinja2.Undefined)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash("")


# A macro of the generated alertmanager.j2: its name (group 1) and body (group 2).
MACRO_DEF = re.compile(
    r"\{%[-+]? macro (\w+)\(d\) [-+]?%\}(.*?)\{%[-+]? endmacro [-+]?%\}", re.S)


def _macro_names(source: str) -> set[str]:
    return {m.group(1) for m in MACRO_DEF.finditer(source)}


def _macros_of(load: Callable[[], jinja2.Template]) -> dict[str, Any]:
    try:
        module = load().module
    except Exception:  # a whole-message template that needs the data: no macros
        return {}
    return {k: v for k, v in vars(module).items() if isinstance(v, jinja2.runtime.Macro)}


class _Named(dict[str, Any]):
    """The named templates by name. Alertmanager's defaults (a 400-line file) are
    compiled on the first call of one, not for every config load."""

    def __init__(self, load_defaults: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self._load: Callable[[], dict[str, Any]] | None = load_defaults

    def __missing__(self, name: str) -> Any:
        if self._load is None:
            raise KeyError(name)
        load, self._load = self._load, None
        for key, value in load().items():
            self.setdefault(key, value)  # the user's (already here) win
        return self[name]


class _Late:
    """A named template looked up when called: a global every module sees, bound to the
    macro of that name once every file is loaded."""

    __slots__ = ("_macros", "_name")

    def __init__(self, name: str, macros: _Named) -> None:
        self._name, self._macros = name, macros

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._macros[self._name](*args, **kwargs)


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
        self._defaults = jinja2.FileSystemLoader(default_templates_dir())
        loader = jinja2.ChoiceLoader([self._files, self._defaults])
        self.env = SandboxedEnvironment(
            loader=loader,
            autoescape=False,
            # Missing labels render empty, like Go's `missingkey=zero`.
            undefined=Missing,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
        )
        self.env.filters.update(self._filters())
        self.env.globals.update(stringSlice=string_slice, now=now)
        self._strings: dict[str, jinja2.Template] = {}
        for name in sorted(p.name for p in default_templates_dir().glob("*.j2")):
            if name != "alertmanager.j2":  # compiled when first called (_Named)
                self.env.get_template(name)
        for file in template_files:
            self.env.get_template(file)
        self._named_templates(template_files)

    def _named_templates(self, template_files: Sequence[str]) -> None:
        """Alertmanager's named templates (alertmanager.j2) and the macros of the user's
        files, callable by name from every template, bound late as Go's `{{ template "x"
        . }}` is: a user file's macro replaces the default of that name everywhere, inside
        the other defaults too (a redefined `__subject` changes `slack.default.title`)."""
        user: dict[str, Any] = {}
        defaults = self.env.loader.get_source(self.env, "alertmanager.j2")[0]  # type: ignore[union-attr]

        def load_defaults() -> dict[str, Any]:
            if not user.keys() & default_names:
                return _macros_of(lambda: self.env.get_template("alertmanager.j2"))
            # Without what the user redefines: the other defaults call theirs.
            source = MACRO_DEF.sub(lambda m: "" if m.group(1) in user else m.group(),
                                    defaults)
            return _macros_of(lambda: self.env.from_string(source))

        macros = _Named(load_defaults)
        # Every name first, so each module's context sees all of them as globals.
        default_names = _macro_names(defaults)  # a generated file: macros of one shape
        names = set(default_names)
        for file in template_files:
            source = self.env.loader.get_source(self.env, file)[0]  # type: ignore[union-attr]
            names.update(n.name for n in self.env.parse(source).find_all(jinja2.nodes.Macro))
        self.env.globals.update((name, _Late(name, macros)) for name in names)
        for file in template_files:
            user.update(_macros_of(functools.partial(self.env.get_template, file)))
        macros.update(user)

    def _filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "title": go_title,
            "toUpper": lambda s: str(s).upper(),
            "toLower": lambda s: str(s).lower(),
            "reReplaceAll": re_replace_all,
            "sortedPairs": sorted_pairs,
            "humanizeDuration": humanize_duration,
            "humanizeTimestamp": humanize_timestamp,
            "since": lambda t: self._now() - epoch(t),
            "safeHtml": Markup,
            "toJson": to_json,
            "stringSlice": string_slice,
            "trimSpace": lambda s: str(s).strip(),
            "match": match,
            "labelsWithout": labels_without,
            "labelMatchers": label_matchers,
            "urlquery": lambda s: urllib.parse.quote_plus(str(s)),
            "slackEscape": slack_escape,
            "goTime": go_time,
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
        fn: Callable[..., str] | None = getattr(self.template(template).module, name, None)
        if fn is None:
            # A user file named like a default (`slack.j2`) that lacks one of its pieces:
            # that piece stays the default's.
            source = self._defaults.get_source(self.env, template)[0]
            fn = getattr(self.compile_string(source).module, name)
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
