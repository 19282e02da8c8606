"""Alertmanager's default texts in Jinja (templates/default.j2) against the real amtool:
`amtool template render` runs Alertmanager's own Go definitions (copied below from
template/default.tmpl, prometheus/alertmanager main, 2026) over its example data, and our
macros over the same alerts must print the same bytes."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from router.rendering import AlertList, Renderer

# Alertmanager's __text_alert_list_markdown and msteams.default.text (also msteamsv2's and
# jira's description), renamed so amtool 0.25's own definitions do not clash; `.Alerts`
# stands for `.Alerts.Firing` because amtool's example alerts have no status.
GO_TEMPLATES = """\
{{ define "t.list" }}{{ range . }}
Labels:
{{ range .Labels.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Annotations:
{{ range .Annotations.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Source: {{ .GeneratorURL }}
{{ end }}
{{ end }}
{{ define "t.text" }}
{{ if gt (len .Alerts) 0 }}
# Alerts Firing:
{{ template "t.list" .Alerts }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
# Alerts Resolved:
{{ template "t.list" .Alerts.Resolved }}
{{ end }}
{{ end }}
"""
# amtool's example data (cli/template_render.go).
EXAMPLE_ALERTS = [
    {"status": "firing", "generatorURL": "https://generatorurl.com",
     "labels": {"commonlabelkey1": "commonlabelvalue1", "commonlabelkey2": "commonlabelvalue2",
                "instance": "foo.bar:1234", "label1": "value1", "label2": "value2"},
     "annotations": {"annotation1": "value1", "annotation2": "value2",
                     "commonannotationkey1": "commonannotationvalue1",
                     "commonannotationkey2": "commonannotationvalue2"}},
    {"status": "firing", "generatorURL": "https://generatorurl.com",
     "labels": {"baz": "qux", "commonlabelkey1": "commonlabelvalue1",
                "commonlabelkey2": "commonlabelvalue2", "foo": "bar"},
     "annotations": {"aaa": "bbb", "ccc": "ddd",
                     "commonannotationkey1": "commonannotationvalue1",
                     "commonannotationkey2": "commonannotationvalue2"}},
]


def _amtool(tmp_path: Path, text: str) -> str:
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
            pytest.fail("amtool not on PATH; ALERT_ROUTER_REQUIRE_ALERTMANAGER is set")
        pytest.skip("amtool not on PATH (apt-get install prometheus-alertmanager)")
    (tmp_path / "t.tmpl").write_text(GO_TEMPLATES, encoding="utf-8")
    result = subprocess.run(
        [amtool, "template", "render", f"--template.glob={tmp_path}/*.tmpl",
         f"--template.text={text}"], capture_output=True, text=True, timeout=30, check=True)
    return result.stdout


@pytest.mark.parametrize(("go", "macro"), [
    ('{{ template "t.list" .Alerts }}', "text_alert_list_markdown"),
    ('{{ template "t.text" . }}', "alerts_markdown"),
])
def test_markdown_alert_lists_match_alertmanager(tmp_path: Path, go: str, macro: str) -> None:
    expected = _amtool(tmp_path, go)
    fn = Renderer([]).macro("default.j2", macro)
    arg = AlertList(EXAMPLE_ALERTS)
    ours = fn(arg) if macro == "text_alert_list_markdown" else fn({"alerts": arg})
    assert ours == expected
