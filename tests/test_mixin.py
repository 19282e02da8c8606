"""contrib/mixin (alert and recording rules for the router itself) and the Grafana
dashboard: checked by the real promtool (Debian's `prometheus` package).

Without promtool these tests skip, unless CI requires them (`CI=true` or
`ALERT_ROUTER_REQUIRE_PROMTOOL=1`, which .ci/run exports): then they fail. That every
metric and label these expressions use is exported by a running router is checked in
tests/e2e/test_mixin_vs_router.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from promql import grafana_to_promql, label_values_query

ROOT = Path(__file__).resolve().parent.parent
MIXIN = ROOT / "contrib" / "mixin"
DASHBOARD = ROOT / "contrib" / "grafana" / "alert-router.json"


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    reason = "promtool not on PATH (apt-get install prometheus)"
    if os.environ.get("CI") == "true" or os.environ.get("ALERT_ROUTER_REQUIRE_PROMTOOL"):
        pytest.fail(f"{reason}; CI or ALERT_ROUTER_REQUIRE_PROMTOOL requires it")
    pytest.skip(reason)


def run(*args: str | Path, cwd: Path = MIXIN) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=60, check=False)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules(name: str) -> list[dict[str, Any]]:
    return [r for g in load(MIXIN / name)["groups"] for r in g["rules"]]


ALERTS = [r["alert"] for r in rules("alerts.yml")]
RECORDS = [r["record"] for r in rules("rules.yml")]


def dashboard_expressions() -> list[str]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]


def test_the_rules_pass_promtool_check() -> None:
    done = run("check", "rules", "rules.yml", "alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(RECORDS)} rules found" in done.stdout
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    done = run("test", "rules", "tests.yml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_has_a_case_where_it_fires_and_one_where_it_does_not() -> None:
    cases = [c for t in load(MIXIN / "tests.yml")["tests"] for c in t.get("alert_rule_test", [])]
    for alert in ALERTS:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert}: no case where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{alert}: no case where it is quiet"
    assert {c["alertname"] for c in cases} <= set(ALERTS)


def test_every_recording_rule_is_tested() -> None:
    exprs = [c["expr"] for t in load(MIXIN / "tests.yml")["tests"]
             for c in t.get("promql_expr_test", [])]
    for record in RECORDS:
        assert any(record in e for e in exprs), f"{record} has no promql_expr_test"


@pytest.mark.parametrize(("expr", "why"), [
    ("vector(0) > 1", "never fires"),
    ('label_replace(vector(1), "instance", "r1", "", "")', "fires always"),
])
def test_each_alerts_tests_catch_a_broken_expression(tmp_path: Path, expr: str,
                                                     why: str) -> None:
    """With every alert's expression broken, promtool's unit tests fail for each alert:
    the tests are not vacuous."""
    doc = load(MIXIN / "alerts.yml")
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule["expr"] = expr
    for name in ("rules.yml", "tests.yml"):
        shutil.copy(MIXIN / name, tmp_path / name)
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = run("test", "rules", "tests.yml", cwd=tmp_path)
    assert done.returncode != 0
    for alert in ALERTS:
        assert f"alertname: {alert}," in done.stdout + done.stderr, \
            f"{alert}'s tests pass when it {why}"


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    exprs = dashboard_expressions()
    assert len(exprs) >= 25
    group = {"name": "dashboard", "rules": [
        {"record": f"dashboard:expr_{i}", "expr": grafana_to_promql(e)}
        for i, e in enumerate(exprs)
    ]}
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [group]}), encoding="utf-8")
    done = run("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in done.stdout


def test_the_dashboard_is_a_grafana_dashboard_on_a_chosen_data_source() -> None:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dash["uid"] == "alert-router"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("job", "instance", "receiver", "channel"):
        label_values_query(variables[name]["query"]["query"])  # raises if not label_values
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    for p in dash["panels"]:
        pos = p["gridPos"]
        assert pos["x"] >= 0, p["title"]
        assert pos["x"] + pos["w"] <= 24, p["title"]
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
            assert p["targets"], p["title"]
    # Every variable a panel uses is defined.
    for expr in dashboard_expressions():
        for name in ("job", "instance", "receiver", "channel"):
            if f"${name}" in expr:
                assert name in variables
