"""Go templates from Alertmanager configs: check-config recognises each construct and its
Jinja suggestion renders what Alertmanager renders.

Each Go template is rendered by the real `amtool template render` (Debian's 0.25, on the
data of one webhook payload) and its Jinja translation by this project's Renderer on the
same payload: the two texts must be equal. Skips the amtool side without amtool (fails in
CI, where ALERT_ROUTER_REQUIRE_ALERTMANAGER is set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gotemplates import AMTOOL, go_render, jinja_render

from router.cli import main
from router.config.go_templates import find_go_actions, to_jinja

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
    # Times as Go prints and formats them.
    '{{ range .Alerts }}{{ .StartsAt }} / {{ .StartsAt.Format "Mon Jan _2 15:04:05 2006" }}'
    ' / {{ .EndsAt.Format "2006-01-02T15:04:05Z07:00" }};{{ end }}',
    # A layout's literal text stays as it is, a `%` and a `%%` too.
    '{{ range .Alerts }}{{ .StartsAt.Format "15:04 100% %% %d" }};{{ end }}',
    '{{ range .Alerts }}{{ .StartsAt.Format "3:04pm PM" }};{{ end }}',
    # Label-map methods with arguments, and `.` inside `with` as a map.
    '{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}',
    '{{ range $k, $v := .CommonLabels }}{{ $k }}={{ $v }};{{ end }}',
    "{{ range .CommonLabels }}<{{ . }}>{{ end }}",
    # A variable reassigned inside a loop keeps its value after it (a Jinja namespace).
    '{{ $last := "" }}{{ range .Alerts }}{{ $last = .Labels.instance }}{{ end }}{{ $last }}',
    # Go keeps every newline and indent around actions; the Renderer trims after block
    # tags unless told not to.
    "{{ if true }}\nyes\n{{ end }}\n  {{ range .Alerts }}\n- {{ .Labels.instance }}\n"
    "  {{ end }}\ndone",
    '{{ define "t.list" }}{{ range . }}\n* {{ .Labels.instance }}{{ end }}{{ end }}'
    "Firing:{{ template \"t.list\" .Alerts.Firing }}",
    '{{ if eq .Status "resolved" "firing" }}any{{ end }} {{ printf "%v/%s" .Status .Receiver }}',
]


@pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")
@pytest.mark.parametrize("go", CASES)
def test_the_jinja_suggestion_renders_what_alertmanager_renders(go: str, tmp_path: Path
                                                                ) -> None:
    jinja, notes = to_jinja(go)
    assert notes == []
    assert find_go_actions(jinja) == []  # nothing Go is left
    assert jinja_render(jinja, PAYLOAD) == go_render(go, PAYLOAD, tmp_path)[1], jinja


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
