"""Config loading: the shipped rules files, inheritance, every bad-config case, secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from router.config.load import check_files, default_config, load_config, load_config_text
from router.config.types import (
    GROUP_BY_ALL,
    LogConfig,
    Route,
    RouterConfig,
    SlackConfig,
    WebhookConfig,
)
from router.config.yaml_source import parse_duration
from router.errors import ConfigError, Problem
from router.matchers import MatchOp

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"
BAD = sorted((DATA / "bad").glob("*.yml"))
GOOD = sorted((DATA / "good").glob("*.yml"))
# `# expect: <line>:<col>: [<path>: ]<message substring>`; a path has no spaces.
EXPECT = re.compile(r"# expect: (\d+):(\d+): (?:([^\s:]+): )?(.+)")


def load(text: str, tmp_path: Path | None = None) -> RouterConfig:
    name = str(tmp_path / "config.yml") if tmp_path else "test.yml"
    return load_config_text(text, name)


def problems(text: str, tmp_path: Path | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load(text, tmp_path)
    return info.value.problems


def find(route: Route, route_id: str) -> Route:
    if route.id == route_id:
        return route
    for child in route.routes:
        if route_id.startswith(child.id):
            return find(child, route_id)
    raise KeyError(route_id)


# -- the shipped rules files ---------------------------------------------------------


@pytest.mark.parametrize("name", ["minimal.yml", "example.yml"])
def test_rules_files_load_from_any_directory(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(ROOT / "rules" / name)
    assert config.route.receiver in config.receivers
    assert check_files([str(ROOT / "rules" / name)]) == []


def test_minimal_rules_file_sends_everything_to_slack() -> None:
    config = load_config(ROOT / "rules" / "minimal.yml")
    assert config.route.routes == ()
    (slack,) = config.receivers[config.route.receiver].configs(SlackConfig)
    assert slack.api_url is not None
    assert slack.api_url.reveal().startswith("https://hooks.slack.com/")


def test_example_rules_file_shape() -> None:
    config = load_config(ROOT / "rules" / "example.yml")
    root = config.route
    assert root.receiver == "team-slack"
    assert root.group_by == ("alertname", "cluster")
    assert [r.receiver for r in root.routes] == [
        "oncall-webhook",
        "db-slack",
        "frontend-slack",
        "audit-log",
        "payments-pager",
        "mobile-chat",
    ]
    critical, db, frontend, watchdog, _pager, _chat = root.routes
    assert critical.continue_
    assert critical.group_by == ("alertname",)
    assert critical.group_wait == 10.0
    assert [(m.name, m.op, m.value) for m in db.matchers] == [
        ("team", MatchOp.EQ, "db"),
        ("env", MatchOp.RE, "prod|staging"),
    ]
    nested = db.routes[0]
    assert nested.receiver == "db-slack"  # inherited
    assert nested.repeat_interval == 12 * 3600.0
    assert nested.id == "0.1.0"
    assert {(m.name, m.op) for m in frontend.matchers} == {
        ("team", MatchOp.EQ),
        ("service", MatchOp.RE),
    }
    assert frontend.group_by_all
    assert watchdog.group_by == ()
    assert config.receivers["blackhole"].channels() == []
    assert config.receivers["db-slack"].configs(SlackConfig)[0].token is not None
    assert config.receivers["oncall-webhook"].configs(WebhookConfig)[0].max_alerts == 20
    assert config.server.auth.enabled
    assert config.global_.resolve_timeout == 300.0
    assert config.delivery.backoff_base == 0.5
    ci = config.sources["ci"]
    assert ci.labels["alertname"] == "PipelineFailed"
    assert ci.status is not None
    assert "failed" in ci.status


def test_default_config() -> None:
    config = default_config()
    assert config.route.receiver == "default"
    assert config.route.group_by == ("alertname",)
    assert (config.route.group_wait, config.route.group_interval) == (30.0, 300.0)
    assert config.route.repeat_interval == 4 * 3600.0
    assert len(config.receivers["default"].configs(LogConfig)) == 1
    assert config.server.listen == "127.0.0.1:9095"
    assert config.storage.path == "alert-router.db"
    assert config.source_file is None


# -- route tree ----------------------------------------------------------------------

TREE = """
route:
  receiver: root
  group_by: [alertname, cluster]
  group_wait: 1s
  routes:
    - matchers: ['{team="db", env=~"prod|dev",}', 'severity!=info']
      group_interval: 1m
      continue: true
      routes:
        - matchers: [alertname=Lag]
          receiver: db
          group_by: []
    - match: {team: web}
      match_re: {service: "web-.*"}
      group_by: ['...']
      repeat_interval: 1d
receivers: [{name: root}, {name: db}]
"""


def test_defaults_and_inheritance() -> None:
    root = load(TREE).route
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (1.0, 300.0, 14400.0)
    db = find(root, "0.0")
    assert db.receiver == "root"
    assert db.group_by == ("alertname", "cluster")
    assert (db.group_wait, db.group_interval, db.repeat_interval) == (1.0, 60.0, 14400.0)
    assert db.continue_
    lag = find(root, "0.0.0")
    assert lag.receiver == "db"
    assert lag.group_interval == 60.0
    assert not lag.continue_  # continue is not inherited
    assert [str(m) for m in lag.matchers] == ['alertname="Lag"']  # nor are matchers
    assert lag.key == '{}/{env=~"prod|dev",severity!="info",team="db"}/{alertname="Lag"}'


def test_group_by_empty_list_overrides_parent_and_dots_mean_all() -> None:
    root = load(TREE).route
    assert find(root, "0.0.0").group_by == ()
    web = find(root, "0.1")
    assert web.group_by == (GROUP_BY_ALL,)
    assert web.group_by_all
    assert web.repeat_interval == 86400.0


def test_match_and_match_re_are_merged_into_matchers() -> None:
    web = find(load(TREE).route, "0.1")
    assert [(m.name, m.op, m.value) for m in web.matchers] == [
        ("team", MatchOp.EQ, "web"),
        ("service", MatchOp.RE, "^(?:web-.*)$"),  # anchored as Alertmanager keys it
    ]


def test_root_without_group_by_groups_everything_together() -> None:
    config = load("route: {receiver: r}\nreceivers: [{name: r}]\n")
    assert config.route.group_by == ()
    assert config.route.matchers == ()


def test_delivery_target_concurrency() -> None:
    base = "route: {receiver: r}\nreceivers: [{name: r}]\n"
    assert load(base).delivery.target_concurrency == 4
    config = load(base + "delivery: {concurrency: 8, target_concurrency: 3}\n")
    assert (config.delivery.concurrency, config.delivery.target_concurrency) == (8, 3)
    (problem,) = problems(base + "delivery: {target_concurrency: 0}\n")
    assert "target_concurrency" in problem.path


def test_anchors_and_merge_keys() -> None:
    config = load_config(DATA / "good" / "anchors.yml")
    hook = config.receivers["b"].configs(WebhookConfig)[0]
    assert hook.url.reveal() == "http://127.0.0.1:9/b"
    assert (hook.send_resolved, hook.max_alerts) == (False, 3)


# -- files, templates and secrets ----------------------------------------------------


def test_relative_paths_resolve_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    good = DATA / "good"
    config = load_config(good / "files.yml")
    assert config.templates == (
        str(good / "templates" / "10-common.j2"),
        str(good / "templates" / "20-extra.j2"),
    )
    first, second = config.receivers["slack"].configs(SlackConfig)
    assert first.api_url is not None
    assert first.api_url.reveal() == "https://hooks.slack.com/services/T111/B111/FILESECRET"
    assert first.template == str(good / "templates" / "slack.jinja")
    assert second.token is not None
    assert second.token.reveal() == "xoxb-file-token-secret"
    assert second.channel == "#alerts"
    auth = config.server.auth
    assert sorted(t.reveal() for t in auth.bearer_tokens) == [
        "ingest-file-token",
        "inline-ingest-secret",
    ]
    assert [u.username for u in auth.basic_auth] == ["prometheus", "other"]
    assert auth.basic_auth[0].password.reveal() == "hunter2-file-password"
    assert config.server.external_url == "http://localhost:9095"


def test_repr_never_shows_secret_values() -> None:
    config = load_config(DATA / "good" / "files.yml")
    text = repr(config) + str(config)
    for secret in (DATA / "good" / "secrets").iterdir():
        assert secret.read_text().strip() not in text
    for inline in ("inline-ingest-secret", "inline-basic-secret", "inline-bearer-secret"):
        assert inline not in text
    example = load_config(ROOT / "rules" / "example.yml")
    assert "XXXX" not in repr(example)
    assert "PLACEHOLDER" not in repr(example)


def test_problems_never_show_secret_values(tmp_path: Path) -> None:
    found = problems(
        """
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: https://hooks.slack.com/services/T0/B0/TOPSECRET
        api_url_file: nowhere
""",
        tmp_path,
    )
    assert found
    assert all("TOPSECRET" not in str(p) for p in found)


def test_template_file_error_points_at_the_template_file() -> None:
    (problem,) = problems_of(DATA / "bad" / "template_file_error.yml")
    assert problem.file == str(DATA / "bad" / "templates" / "broken.j2")
    assert problem.line == 4


def test_go_template_in_a_source_suggests_jinja() -> None:
    found = problems(
        """
route: {receiver: r}
receivers: [{name: r}]
sources:
  ci:
    labels:
      pipeline: "{{ .Status }} {{ .GroupLabels.x }}"
""",
    )
    assert [p.path for p in found] == ["sources.ci.labels.pipeline"]
    assert "write {{ status }}" in found[0].message


def test_multi_line_template_error_reports_the_template_line() -> None:
    (problem,) = problems(
        """
route: {receiver: r}
receivers:
  - name: r
    slack_configs:
      - api_url: https://example.com/x
        text: |
          line one
          {{ alerts | length }
""",
    )
    assert (problem.line, problem.path) == (9, "receivers[0].slack_configs[0].text")


# -- bad configs -----------------------------------------------------------------------


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_reports_the_problem(path: Path) -> None:
    expect = EXPECT.fullmatch(path.read_text(encoding="utf-8").splitlines()[0])
    assert expect, f"{path.name} must start with '# expect: <line>:<col>: <path>: <message>'"
    line, col, where, message = expect.groups()
    found = problems_of(path)
    assert any(
        (p.line, p.col, p.path) == (int(line), int(col), where or "") and message in p.message
        for p in found
    ), "\n".join(str(p) for p in found)
    assert all(str(p).startswith(f"{p.file}:{p.line}:{p.col}: ") for p in found)


def test_there_are_enough_bad_cases() -> None:
    assert len(BAD) >= 20


def test_every_problem_is_reported_in_file_order() -> None:
    text = """
route:
  receiver: nobody
  group_wait: soon
  continue: true
  routes:
    - matchers: ['a=~"("']
      repet_interval: 1h
receivers:
  - name: r
    webhook_configs:
      - max_alerts: -3
server:
  listen: "nowhere"
"""
    found = problems(text)
    assert [(p.line, p.path) for p in found] == [
        (3, "route.receiver"),
        (4, "route.group_wait"),
        (5, "route.continue"),
        (7, "route.routes[0].matchers[0]"),
        (8, "route.routes[0].repet_interval"),
        (12, "receivers[0].webhook_configs[0]"),
        (12, "receivers[0].webhook_configs[0].max_alerts"),
        (14, "server.listen"),
    ]
    assert 'did you mean "repeat_interval"' in found[4].message


def test_check_files_lists_every_problem_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("route:\n  receiver: x\n  group_interval: 0s\nreceivers: []\n")
    lines = check_files([str(ROOT / "rules" / "minimal.yml"), str(bad), str(tmp_path / "no.yml")])
    assert lines[:2] == [
        f'{bad}:2:13: route.receiver: unknown receiver "x"',
        f"{bad}:3:19: route.group_interval: must be greater than zero",
    ]
    assert lines[2].startswith(f"{tmp_path / 'no.yml'}:1:1: cannot read config")
    assert len(lines) == 3
    assert check_files([str(p) for p in GOOD]) == []


# -- durations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("0s", 0.0),
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1d", 86400.0),
        ("2w", 14 * 86400.0),
        ("1y", 365 * 86400.0),
        ("1h0m10s100ms", 3610.1),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "1m1h", "-5s", "1.5h", "5M"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="use forms like 30s, 5m, 1h30m"):
        parse_duration(text)


def test_root_may_spell_out_empty_matchers_and_false_continue() -> None:
    config = load(
        "route: {receiver: r, matchers: [], match: {}, continue: false}\nreceivers: [{name: r}]\n"
    )
    assert config.route.matchers == ()
    assert not config.route.continue_
