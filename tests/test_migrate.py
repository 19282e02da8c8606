"""`alert-router migrate`: an Alertmanager config with Go templates becomes one that loads
here and sends the same text.

The Go side is always the real thing: `amtool template render` (Alertmanager 0.25's
template package) renders Alertmanager's own default templates, a team's template file and
the config's template strings; the migrated Jinja must render exactly the same text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from gotemplates import AMTOOL, data_of, go_render

from router.channels.email.config import EmailConfig
from router.cli import main
from router.config.go_templates import macro_name
from router.config.load import load_config
from router.config.migrate import default_templates, migrate
from router.config.types import SlackConfig
from router.model import fingerprint
from router.rendering import Renderer, default_templates_dir

DEFAULTS = Path(__file__).parent / "data" / "alertmanager-templates"
SIMPLE = Path(__file__).parent / "data" / "alertmanager" / "simple-with-templates.yml"
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool not installed")

# Two alerts of one group, one resolved; values with HTML and URL characters.
PAYLOAD: dict[str, Any] = {
    "receiver": "team-x", "status": "firing", "externalURL": "http://am:9093",
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "job": "node", "severity": "critical"},
    "commonAnnotations": {"summary": "disk <full> & more"},
    "alerts": [
        {"status": "firing",
         "labels": {"alertname": "DiskFull", "job": "node", "instance": "a:9100",
                    "severity": "critical"},
         "annotations": {"summary": "disk <full> & more", "runbook": "https://r/d?a=1&b=2"},
         "startsAt": "2026-09-21T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://prom/graph?g0.expr=up", "fingerprint": "0123456789abcdef"},
        {"status": "resolved",
         "labels": {"alertname": "DiskFull", "job": "node", "instance": "b:9100",
                    "severity": "critical"},
         "annotations": {"summary": "disk <full> & more"},
         "startsAt": "2026-09-21T10:01:00Z", "endsAt": "2026-09-21T10:05:00Z",
         "generatorURL": "", "fingerprint": "fedcba9876543210"},
    ],
}
RESOLVED: dict[str, Any] = {
    **PAYLOAD, "status": "resolved", "groupLabels": {},
    "alerts": [PAYLOAD["alerts"][1]], "commonLabels": PAYLOAD["alerts"][1]["labels"],
    "commonAnnotations": PAYLOAD["alerts"][1]["annotations"],
}

DEFINES = sorted({name for file in ("default.tmpl", "email.tmpl")
                  for name in re.findall(r'define "([^"]+)"',
                                         (DEFAULTS / file).read_text(encoding="utf-8"))})


def test_the_shipped_defaults_are_the_translation_of_alertmanagers() -> None:
    shipped = (default_templates_dir() / "alertmanager.j2").read_text(encoding="utf-8")
    assert shipped == default_templates(), (
        "templates/alertmanager.j2 is stale: regenerate it (tests/data/alertmanager-templates/"
        "README.md)")
    assert "migrate:" not in shipped  # nothing left untranslated
    assert len(DEFINES) >= 60


@needs_amtool
@pytest.mark.parametrize("payload", [PAYLOAD, RESOLVED], ids=["firing", "resolved"])
@pytest.mark.parametrize("name", DEFINES)
def test_every_default_template_renders_what_alertmanager_renders(
        name: str, payload: dict[str, Any], tmp_path: Path) -> None:
    renderer = Renderer(())
    data = data_of(payload)
    globs = (str(DEFAULTS / "default.tmpl"), str(DEFAULTS / "email.tmpl"))
    html = name.endswith(".html")
    # Most take the whole data; the alert lists (`__text_alert_list`) take `.Alerts`.
    value: Any = None
    for arg, candidate in ((".", data["data"]), (".Alerts", data["alerts"])):
        code, go = go_render(f'{{{{ template "{name}" {arg} }}}}', payload, tmp_path, globs,
                             html=html)
        if code == 0:
            value = candidate
            break
    assert code == 0, go
    # Called by name from a config string, as a migrated `{{ template "x" . }}` is.
    jinja = renderer.compile_string(f"{{{{ {macro_name(name)}(v) }}}}").render(v=value)
    assert jinja == go


SLACK_TMPL = """\
{{/* The team's Slack message. */}}
{{ define "slack.team.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}
{{- end }}

{{ define "slack.team.text" }}
{{- range $i, $a := .Alerts }}
{{ if $i }}---
{{ end }}*{{ $a.Annotations.summary }}* ({{ $a.Labels.severity | toUpper }}) since {{ $a.StartsAt.Format "15:04" }}
{{- range $a.Labels.SortedPairs }}
  • {{ .Name }}: `{{ .Value }}`
{{- end }}
{{- with $a.Annotations.runbook }}
<{{ . }}|Runbook>{{ end }}
{{- end }}
{{ end }}
"""  # noqa: E501

CONFIG = """\
# Our Alertmanager config.
global:
  slack_api_url_file: secrets/slack-url   # kept out of git
templates:
  - 'tmpl/*.tmpl'
route:
  receiver: team
receivers:
  - name: team
    slack_configs:
      - channel: '#alerts'
        title: '{{ template "slack.team.title" . }}'
        text: |
          {{ template "slack.team.text" . }}
          {{ template "__alertmanagerURL" . }}
        fallback: '{{ template "slack.default.fallback" . }}'
"""


# The Go text of each templated key of CONFIG, as Alertmanager reads it.
GO_STRINGS = {
    "title": '{{ template "slack.team.title" . }}',
    "text": '{{ template "slack.team.text" . }}\n{{ template "__alertmanagerURL" . }}\n',
    "fallback": '{{ template "slack.default.fallback" . }}',
}


def _team_config(tmp_path: Path) -> Path:
    (tmp_path / "tmpl").mkdir()
    (tmp_path / "tmpl" / "slack.tmpl").write_text(SLACK_TMPL, encoding="utf-8")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "slack-url").write_text("http://slack.test/hook\n", encoding="utf-8")
    src = tmp_path / "alertmanager.yml"
    src.write_text(CONFIG, encoding="utf-8")
    return src


@needs_amtool
def test_a_migrated_config_loads_and_sends_what_alertmanager_sends(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _team_config(tmp_path)
    out = tmp_path / "new" / "alert-router.yml"
    assert main(["migrate", str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.strip().endswith("check-config: valid"), err
    text = out.read_text(encoding="utf-8")
    # The YAML is edited in place: comments and untouched values stay as written.
    assert text.startswith("# Our Alertmanager config.\n")
    assert "# kept out of git" in text
    assert "channel: '#alerts'" in text
    assert 'title: "{{ slack_team_title(data) }}"' in text
    assert '- "templates/slack.tmpl.j2"' in text
    # The team's file redefines none of Alertmanager's defaults: no key is added.
    assert "username:" not in text
    # The relative secret file still names the same file from the new directory.
    assert 'slack_api_url_file: "../secrets/slack-url"' in text

    # The receiver builds and renders: what its Slack message shows a person.
    payload_file = tmp_path / "payload.json"
    payload_file.write_text(json.dumps(PAYLOAD), encoding="utf-8")
    assert main(["render", "--config", str(out), "--receiver", "team",
                 "--payload", str(payload_file)]) == 0
    shown = capsys.readouterr().out
    assert "[FIRING:1] DiskFull" in shown
    assert "• instance: `a:9100`" in shown

    config = load_config(out)
    slack = config.receivers["team"].configs(SlackConfig)[0]
    assert slack.attachment is not None
    sources = {"title": slack.title, "text": slack.text, "fallback": slack.attachment.fallback}
    renderer = Renderer(config.templates)
    for payload in (PAYLOAD, RESOLVED):
        data = data_of(payload)
        for key, go_source in GO_STRINGS.items():
            code, go = go_render(go_source, payload, tmp_path, (
                str(DEFAULTS / "default.tmpl"), str(tmp_path / "tmpl/*.tmpl")))
            assert code == 0, go
            jinja = renderer.compile_string(sources[key] or "").render(**data)
            # Jinja drops a template's last newline (every channel strips it anyway).
            assert jinja == (go.removesuffix("\n") if key == "text" else go), key


def test_alertmanagers_example_config_migrates_as_is(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """doc/examples/simple.yml unchanged: its templates glob (/etc/alertmanager/template)
    matches nothing here; migrate says so, drops it, and the result loads."""
    out = tmp_path / "alert-router.yml"
    assert main(["migrate", str(SIMPLE), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert f"{SIMPLE}:10:5: templates: '/etc/alertmanager/template/*.tmpl' matches no " \
        "file; dropped" in err
    assert err[-1].endswith("check-config: valid")
    assert "\ntemplates: []\n" in out.read_text(encoding="utf-8")
    assert load_config(out).receivers.keys() >= {"team-X-mails", "team-DB-pager"}


def test_what_cannot_be_translated_is_pointed_at_and_marked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "am.yml"
    src.write_text("route: {receiver: r}\nreceivers:\n  - name: r\n    webhook_configs:\n"
                   "      - url: http://h/\n    slack_configs:\n      - api_url: http://s/\n"
                   "        title: '{{ .Status }} {{ call .Fn 1 }}'\n", encoding="utf-8")
    # No -o: the config goes to standard output.
    assert main(["migrate", str(src)]) == 1
    captured = capsys.readouterr()
    assert f"{src}:8:16: could not translate: `call` has no Jinja filter here" \
        in captured.err.splitlines()
    assert "{# migrate: `call` has no Jinja filter here #}" in captured.out
    assert "{{ status }}" in captured.out
    # The result is checked: the unknown filter is an error there too.
    assert "No filter named 'call'" in captured.err
    assert "1 problem(s): fix them" in captured.err


def test_migrate_refuses_what_it_cannot_do_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _team_config(tmp_path)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["migrate", str(src), "-o", str(src)]) == 2  # never over the original
    assert "must name a new file" in capsys.readouterr().err
    assert main(["migrate", str(src)]) == 2  # template files need a directory
    assert "give -o" in capsys.readouterr().err
    bad = tmp_path / "bad.yml"
    bad.write_text("route: [\n", encoding="utf-8")
    assert main(["migrate", str(bad), "-o", str(tmp_path / "x.yml")]) == 2
    assert "not YAML" in capsys.readouterr().err
    assert main(["migrate", str(tmp_path / "missing.yml")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted([*before, "bad.yml"])
    assert src.read_text(encoding="utf-8") == CONFIG


COMMUNITY = Path(__file__).parent / "data" / "alertmanager" / "community"
# The one construct of these files with no Jinja equivalent: `printf "%#v"` prints Go
# syntax (`template.KV{…}`). migrate points at each use instead.
UNTRANSLATABLE = {("gitlab-com-runbooks", "slack.debug")}


def _community_cases() -> list[tuple[str, str]]:
    return [(d.name, name) for d in sorted(COMMUNITY.iterdir()) if d.is_dir()
            for f in sorted(d.glob("*.tmpl"))
            for name in re.findall(r'define "([^"]+)"', f.read_text(encoding="utf-8"))]


@needs_amtool
@pytest.mark.parametrize(("team", "name"), _community_cases())
def test_teams_templates_render_what_alertmanager_renders(
        team: str, name: str, tmp_path: Path) -> None:
    """Templates from public repositories (tests/data/alertmanager/community/README.md),
    migrated file by file; each define called from a config string."""
    files = sorted((COMMUNITY / team).glob("*.tmpl"))
    out = tmp_path / "alert-router.yml"
    (tmp_path / "am").mkdir()
    src = tmp_path / "am" / "alertmanager.yml"
    src.write_text("route: {receiver: r}\nreceivers: [{name: r}]\ntemplates:\n"
                   + "".join(f"  - {f}\n" for f in files), encoding="utf-8")
    result = migrate(src, tmp_path)
    for path, text in result.templates.items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    out.write_text(result.config, encoding="utf-8")
    renderer = Renderer(load_config(out).templates)
    # Alertmanager fingerprints are of the labels; ours are the same function.
    payload = {**PAYLOAD, "alerts": [{**a, "fingerprint": fingerprint(a["labels"])}
                                     for a in PAYLOAD["alerts"]]}
    code, go = go_render(f'{{{{ template "{name}" . }}}}', payload, tmp_path,
                         (str(DEFAULTS / "default.tmpl"), *map(str, files)))
    assert code == 0, go
    if (team, name) in UNTRANSLATABLE:
        assert any("could not translate: printf" in note for note in result.notes)
        return
    assert all("slack.tmpl:" in note and "%#v" in note for note in result.notes)
    jinja = renderer.compile_string(f"{{{{ {macro_name(name)}(data) }}}}").render(
        **data_of(payload))
    assert jinja == go


def test_a_public_config_migrates_with_its_templates(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Giant Swarm's whole Alertmanager config (460 lines: 20 receivers, Slack actions,
    Opsgenie, inhibit rules) with its template file, the glob pointed at it."""
    team = COMMUNITY / "giantswarm-prometheus-meta-operator"
    text = (team / "alertmanager.yaml").read_text(encoding="utf-8")
    src = tmp_path / "alertmanager.yaml"
    src.write_text(text.replace("/etc/alertmanager/config/*.tmpl", str(team / "*.tmpl")),
                   encoding="utf-8")
    out = tmp_path / "out" / "alert-router.yml"
    assert main(["migrate", str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [f"migrated {src} to {out} and 1 template file(s); check-config: valid"]
    config = load_config(out)
    assert len(config.receivers) >= 10
    # Its receivers leave Slack's title unset and redefine `slack.default.title` (and more)
    # in their file: Alertmanager renders the redefinition, so migrate sets the key to it.
    slack = next(c for r in config.receivers.values() for c in r.configs(SlackConfig))
    assert slack.title == "{{ slack_default_title(data) }}"
    renderer = Renderer(config.templates)
    code, go = go_render('{{ template "slack.default.title" . }}', PAYLOAD, tmp_path,
                         (str(DEFAULTS / "default.tmpl"), str(team / "*.tmpl")))
    assert code == 0, go
    default_code, default = go_render('{{ template "slack.default.title" . }}', PAYLOAD,
                                      tmp_path, (str(DEFAULTS / "default.tmpl"),))
    assert default_code == 0
    assert go != default
    assert renderer.compile_string(slack.title).render(**data_of(PAYLOAD)) == go


@needs_amtool
def test_a_redefined_default_is_set_where_alertmanager_would_use_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A team redefines `__subject`; Alertmanager's unset Slack title and fallback and
    PagerDuty description call it, so they show the team's subject there and here."""
    (tmp_path / "subject.tmpl").write_text(
        '{{ define "__subject" }}{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} on '
        "{{ .CommonLabels.job }}{{ end }}\n", encoding="utf-8")
    src = tmp_path / "alertmanager.yml"
    src.write_text(
        "templates: ['*.tmpl']\nroute: {receiver: r}\nreceivers:\n  - name: r\n"
        "    slack_configs:\n      - api_url: http://slack.test/hook\n"
        "        text: |\n          {{ range .Alerts }}{{ .Labels.instance }} {{ end }}\n\n"
        "    pagerduty_configs: [{routing_key: abc}]\n", encoding="utf-8")
    out = tmp_path / "out" / "alert-router.yml"
    assert main(["migrate", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    text = out.read_text(encoding="utf-8")
    assert ('        text: |\n          {% for alert in alerts %}{{ alert.labels.instance }} '
            '{% endfor +%}\n        title: "{{ slack_default_title(data) }}"\n') in text
    assert 'fallback: "{{ slack_default_fallback(data) }}"' in text
    assert "username" not in text  # slack.default.username does not use __subject
    assert ('[{routing_key: abc, description: "{{ pagerduty_default_description(data) }}"}]'
            in text)
    assert "client" not in text

    config = load_config(out)
    renderer = Renderer(config.templates)
    slack = config.receivers["r"].configs(SlackConfig)[0]
    code, go = go_render('{{ template "slack.default.title" . }}', PAYLOAD, tmp_path,
                         (str(DEFAULTS / "default.tmpl"), str(tmp_path / "subject.tmpl")))
    assert code == 0, go
    assert go == "FIRING: DiskFull on node"
    assert renderer.compile_string(slack.title or "").render(**data_of(PAYLOAD)) == go


@needs_amtool
def test_the_example_config_with_alertmanagers_template_files_sends_their_email(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """doc/examples/simple.yml with its glob pointed at a copy of Alertmanager's own
    default.tmpl and email.tmpl (as a team that copied them to edit them has): every
    default is redefined, so the email's `html` and PagerDuty's `description` are set to
    them, and the email HTML is html/template's, byte for byte."""
    text = SIMPLE.read_text(encoding="utf-8")
    src = tmp_path / "alertmanager.yml"
    src.write_text(text.replace("/etc/alertmanager/template/*.tmpl", str(DEFAULTS / "*.tmpl")),
                   encoding="utf-8")
    out = tmp_path / "out" / "alert-router.yml"
    assert main(["migrate", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().err.strip().endswith("check-config: valid")
    migrated = out.read_text(encoding="utf-8")
    assert migrated.count('html: "{{ email_default_html(data) }}"') == 3  # 3 email receivers
    assert 'description: "{{ pagerduty_default_description(data) }}"' in migrated

    config = load_config(out)
    email = next(c for c in config.receivers["team-X-mails"].configs(EmailConfig))
    assert email.html == "{{ email_default_html(data) }}"
    code, go = go_render('{{ template "email.default.html" . }}', PAYLOAD, tmp_path,
                         (str(DEFAULTS / "*.tmpl"),), html=True)
    assert code == 0, go
    html = Renderer(config.templates).compile_string(email.html).render(**data_of(PAYLOAD))
    assert html == go
    assert "disk &lt;full&gt; &amp; more" in html  # escaped as html/template escapes
    # And the Subject header Alertmanager's email default carries.
    assert migrated.count('headers: {"Subject": "{{ email_default_subject(data) }}"}') == 3
    code, go = go_render('{{ template "email.default.subject" . }}', PAYLOAD, tmp_path,
                         (str(DEFAULTS / "*.tmpl"),))
    assert code == 0, go
    subject = dict(email.headers)["Subject"]
    assert Renderer(config.templates).compile_string(subject).render(
        **data_of(PAYLOAD)) == go == "[FIRING:1] DiskFull (node critical)"
