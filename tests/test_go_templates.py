"""Go templates from Alertmanager configs: check-config recognises each construct and its
Jinja suggestion renders what Alertmanager renders.

Each Go template is rendered by the real `amtool template render` (Debian's 0.25, on the
data of one webhook payload) and its Jinja translation by this project's Renderer on the
same payload: the two texts must be equal. Skips the amtool side without amtool (fails in
CI, where ALERT_ROUTER_REQUIRE_ALERTMANAGER is set).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from router.cli import main
from router.config.go_templates import find_go_actions, to_jinja
from router.ingest.formats import from_webhook
from router.model import Notification, NotifyReason, sort_alerts
from router.rendering import Renderer, template_data

AMTOOL = shutil.which("amtool")
if AMTOOL is None and os.environ.get("ALERT_ROUTER_REQUIRE_ALERTMANAGER"):
    raise RuntimeError("amtool is required in CI (apt-get install prometheus-alertmanager)")

NOW = 1_790_000_000.0

PAYLOAD: dict[str, Any] = {
    "receiver": "team-x", "status": "firing", "externalURL": "http://am:9093",
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "job": "node"},
    "commonAnnotations": {"summary": "disk full"},
    "alerts": [
        {"status": "firing", "labels": {"alertname": "DiskFull", "job": "node",
                                        "instance": "a:9100", "foo-bar": "x"},
         "annotations": {"summary": "disk full", "runbook": "https://r/disk"},
         "startsAt": "2026-09-21T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom/graph", "fingerprint": "0123456789abcdef"},
        {"status": "firing", "labels": {"alertname": "DiskFull", "job": "node",
                                        "instance": "b:9100"},
         "annotations": {"summary": "disk full"},
         "startsAt": "2026-09-21T10:01:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "", "fingerprint": "fedcba9876543210"},
    ],
}

CASES = [
    "{{ .Status | toUpper }}",
    "[{{ .Status | toUpper }}{{ if eq .Status \"firing\" }}:{{ .Alerts.Firing | len }}{{ end }}]",
    "{{ range .Alerts }}{{ .Labels.instance }}: {{ .Annotations.summary }};{{ end }}",
    "{{ len .Alerts }} alerts for {{ .CommonLabels.alertname }}",
    "{{ range $i, $a := .Alerts }}{{ $i }}={{ $a.Labels.instance }} {{ end }}",
    "{{ with .CommonAnnotations.summary }}S: {{ . }}{{ else }}none{{ end }}",
    "{{ with .CommonAnnotations.missing }}S: {{ . }}{{ else }}none{{ end }}",
    '{{ define "t.title" }}[{{ .Status }}] {{ .GroupLabels.alertname }}{{ end }}'
    '{{ template "t.title" . }}',
    '{{ .CommonLabels.alertname | reReplaceAll "Disk(.*)" "Vol$1" }}',
    "{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }},{{ end }}",
    '{{ join ", " .CommonLabels.Names }}',
    '{{ index (index .Alerts 0).Labels "foo-bar" }}',
    '{{ printf "%d firing" (len .Alerts.Firing) }}',
    "{{- /* a comment */ -}} {{ .Receiver }} {{- .ExternalURL }}",
    "{{ $n := len .Alerts }}{{ if gt $n 1 }}many{{ else if eq $n 1 }}one{{ end }}",
    "{{ if and .CommonLabels.job (not .CommonLabels.nope) }}job-only{{ end }}",
    "{{ range .Alerts }}{{ if .GeneratorURL }}<{{ .GeneratorURL }}>{{ end }}{{ end }}",
    "{{ .CommonLabels.alertname | toLower | title }}",
    '{{ if match "^Disk" .CommonLabels.alertname }}disk{{ end }}',
]


def go_render(text: str, tmp_path: Path) -> str:
    assert AMTOOL is not None
    data = tmp_path / "data.json"
    data.write_text(json.dumps(PAYLOAD), encoding="utf-8")
    empty = tmp_path / "empty.tmpl"
    empty.write_text("", encoding="utf-8")
    done = subprocess.run(
        [AMTOOL, "template", "render", f"--template.glob={empty}", f"--template.text={text}",
         f"--template.data={data}"],
        capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def jinja_render(text: str) -> str:
    alerts = from_webhook(PAYLOAD, NOW)
    n = Notification(PAYLOAD["receiver"], "{}:{}", PAYLOAD["groupLabels"],
                     tuple(sort_alerts(alerts)), NotifyReason.FIRST, NOW,
                     PAYLOAD["externalURL"])
    return Renderer(()).compile_string(text).render(**template_data(n))


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
@pytest.mark.parametrize("go", CASES)
def test_the_jinja_suggestion_renders_what_alertmanager_renders(go: str, tmp_path: Path
                                                                ) -> None:
    jinja, notes = to_jinja(go)
    assert notes == []
    assert find_go_actions(jinja) == []  # nothing Go is left
    assert jinja_render(jinja) == go_render(go, tmp_path), jinja


def test_jinja_is_never_mistaken_for_go() -> None:
    for text in ("{{ status | toUpper }}", "{{ alerts | length }}", "{% for a in alerts %}",
                 "{{ commonLabels.alertname }}", "{{ 'a' ~ b }}", "{{ x | join(', ') }}"):
        assert find_go_actions(text) == [], text


def test_check_config_prints_the_translation(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    go = tmp_path / "slack.tmpl"
    go.write_text('{{ define "slack.title" }}\n[{{ .Status | toUpper }}]\n'
                  '{{ range .Alerts }}{{ .Labels.instance }}{{ end }}{{ end }}\n',
                  encoding="utf-8")
    config = tmp_path / "am.yml"
    config.write_text(
        "route: {receiver: r}\ntemplates: ['*.tmpl']\nreceivers:\n  - name: r\n"
        "    webhook_configs: [{url: 'http://h/'}]\n"
        "    slack_configs:\n      - api_url: http://s/\n"
        "        title: '{{ .Status | toUpper }}: {{ len .Alerts }}'\n",
        encoding="utf-8")
    assert main(["check-config", str(config)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f'{go}:1:1: templates[0]: a Go template ({{{{ define "slack.title" }}}}); ' \
        "templates are Jinja here: write {% macro slack_title(d) +%} " \
        "(5 more Go actions in this file); `alert-router migrate` translates a whole config" \
        in out
    assert any(line.startswith(f"{config}:8:16:") and line.endswith(
        "write {{ status | toUpper }}: {{ alerts | length }}") for line in out), out
