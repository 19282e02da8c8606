"""Render every template of a config against sample data at load: an unknown filter is an
error, a variable the data does not have is a warning (check-config prints both).

Syntax is checked as each template is read (config/fields.py); that cannot see
`{{ Status }}` (a name the data lacks, rendered empty) or `{{ x | toupper }}` (no such
filter, refused only when the router compiles it). Rendering with the Renderer's own
environment on a notification that has every field set finds both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2
from jinja2.utils import missing

from router.config.yaml_source import Node, suggest
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer, template_data

# Names some templates see besides Alertmanager's data: a storm digest's `digest`, and
# the SMS channel's `text` and `to` (router/channels/sms/).
_EXTRA_NAMES = frozenset({"digest", "text", "to"})
_T0 = 1_790_000_000.0


def _sample() -> dict[str, Any]:
    """Template data of one firing and one resolved alert, every field set."""
    labels = {"alertname": "SampleAlert", "severity": "critical", "instance": "host:9100",
              "job": "node"}
    annotations = {"summary": "sample summary", "description": "sample description",
                   "runbook_url": "https://runbooks.example/sample"}
    alerts = (make_alert(labels, annotations, _T0 - 600, None, "http://prometheus/graph",
                         _T0, source="alertmanager"),
              make_alert({**labels, "instance": "host2:9100"}, annotations, _T0 - 900,
                         _T0 - 60, "", _T0, source="alertmanager"))
    n = Notification("sample-receiver", '{}:{alertname="SampleAlert"}',
                     {"alertname": "SampleAlert"}, alerts, NotifyReason.FIRST, _T0,
                     "http://alert-router.example")
    return template_data(n)


def _recording(found: list[str]) -> type[jinja2.Undefined]:
    class Recording(jinja2.ChainableUndefined):
        """Records each top-level name the data lacks (a missing label is normal)."""

        __slots__ = ()

        def __init__(self, hint: str | None = None, obj: Any = missing,
                     name: str | None = None,
                     exc: type[jinja2.TemplateRuntimeError] = jinja2.UndefinedError) -> None:
            super().__init__(hint, obj, name, exc)
            if obj is missing and name is not None and name not in _EXTRA_NAMES:
                found.append(name)

    return Recording


def _warn_names(node: Node, found: list[str], data: dict[str, Any], file: str = "") -> None:
    where = f"template {file} uses" if file else "template uses"
    for name in dict.fromkeys(found):
        node.warn(f'{where} "{name}", which the template data does not have (it renders '
                  f"empty){suggest(name, data)}")


def check_templates(strings: Sequence[tuple[Node, str]],
                    files: Sequence[tuple[Node, str]]) -> None:
    """Record problems (unknown filters) and warnings (undefined names, failures) on the
    node of each template string, and of each `templates:` entry for its files."""
    if not strings and not files:
        return  # building a Renderer compiles every default template: ~80 ms
    try:
        renderer = Renderer(tuple(path for _, path in files))
    except jinja2.TemplateError:
        return  # a file that does not compile: already reported with its line
    found: list[str] = []
    renderer.env.undefined = _recording(found)
    data = _sample()
    for node, text in strings:
        found.clear()
        try:
            renderer.compile_string(text).render(data)
        except jinja2.TemplateAssertionError as exc:  # e.g. "No filter named 'toupper'."
            node.error(f"template error: {exc.message}")
            continue
        except Exception as exc:  # a value the sample data cannot take: worth a look only
            node.warn(f"template fails on sample data: {type(exc).__name__}: {exc}")
            continue
        _warn_names(node, found, data)
    for node, path in files:
        found.clear()
        try:
            renderer.template(path).render(data)
        except jinja2.TemplateAssertionError as exc:
            node.error(f"template {path}: {exc.message}")
            continue
        except Exception as exc:
            node.warn(f"template {path} fails on sample data: {type(exc).__name__}: {exc}")
            continue
        _warn_names(node, found, data, path)


__all__ = ["check_templates"]
