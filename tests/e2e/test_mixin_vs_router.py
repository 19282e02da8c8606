"""Every metric and label that contrib/mixin's rules and the Grafana dashboard use is
exported by a real running router: a renamed metric or label breaks this test, not the
dashboard in production.

The router runs as a process and gets some of everything first (alerts from the API and
from Alertmanager's webhook, a delivery, a failed attempt, a dead letter, a silence, a
reload); then its /metrics is read with prometheus_client's parser (histograms'
_bucket/_sum/_count included) and compared with each expression, read by tests/promql.py.
Syntax is checked by promtool in tests/test_mixin.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families
from promql import label_values_query, uses

from .conftest import FakeFactory, RouterFactory, rfc3339, wait_until

ROOT = Path(__file__).resolve().parents[2]
MIXIN = ROOT / "contrib" / "mixin"
DASHBOARD = ROOT / "contrib" / "grafana" / "alert-router.json"
FIXTURE = ROOT / "tests" / "data" / "fixtures" / "default-warning-firing.json"
# Added by Prometheus to every series of a target, and its own `up`.
TARGET_LABELS = {"job", "instance"}
PROMETHEUS_SERIES = {"up": TARGET_LABELS}

Exported = dict[str, dict[str, set[str]]]  # sample name -> label -> values seen


def expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every rule, alert, dashboard panel and variable."""
    found: list[tuple[str, str]] = []
    for name in ("rules.yml", "alerts.yml"):
        for group in yaml.safe_load((MIXIN / name).read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                found.append((f"{name}: {rule.get('alert') or rule['record']}", rule["expr"]))
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            found.append((f"dashboard panel {panel['title']!r}", target["expr"]))
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [(v["name"], *label_values_query(v["query"]["query"]))
            for v in dash["templating"]["list"] if v["type"] == "query"]


def recorded() -> dict[str, set[str]]:
    """Recording rule name -> the metrics its expression reads."""
    group = yaml.safe_load((MIXIN / "rules.yml").read_text(encoding="utf-8"))["groups"]
    return {r["record"]: uses(r["expr"]).metrics for g in group for r in g["rules"]}


def exported(text: str) -> Exported:
    out: Exported = defaultdict(lambda: defaultdict(set))
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = out[sample.name]
            for name, value in sample.labels.items():
                labels[name].add(value)
    return out


def total(text: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that have these labels."""
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and labels.items() <= s.labels.items())


def check(where: str, expr: str, metrics: Exported, records: dict[str, set[str]]
          ) -> list[str]:
    """What `expr` uses that the router does not export."""
    used = uses(expr)
    problems: list[str] = []
    sources: set[str] = set()
    for metric in used.metrics:
        if metric in records:
            sources |= records[metric]
        elif metric in metrics or metric in PROMETHEUS_SERIES:
            sources.add(metric)
        else:
            problems.append(f"{where}: metric {metric} is not exported")
    labels: dict[str, set[str]] = defaultdict(set)
    for metric in sources:
        for name, values in metrics.get(metric, {}).items():
            labels[name] |= values
    for label in used.labels - TARGET_LABELS - labels.keys():
        problems.append(f"{where}: label {label} is on none of {sorted(sources)}")
    for label, value in used.values:
        if label in labels and value not in labels[label]:
            problems.append(f"{where}: {label}={value!r} never appears "
                            f"(seen: {sorted(labels[label])})")
    return problems


async def some_of_everything(http: aiohttp.ClientSession, url: str) -> None:
    now = datetime.now(UTC)
    alerts = [
        {"labels": {"alertname": "Delivered", "team": "ok"}, "startsAt": rfc3339()},
        {"labels": {"alertname": "Refused", "team": "broken"}, "startsAt": rfc3339()},
        {"labels": {"alertname": "Silenced", "team": "ok"}, "startsAt": rfc3339()},
    ]
    silence = {
        "matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False,
                      "isEqual": True}],
        "startsAt": rfc3339(now - timedelta(minutes=1)),
        "endsAt": rfc3339(now + timedelta(hours=1)),
        "createdBy": "e2e", "comment": "metrics",
    }
    async with http.post(f"{url}/api/v2/silences", json=silence) as resp:
        assert resp.status == 200, await resp.text()
    async with http.post(f"{url}/api/v2/alerts", json=alerts) as resp:
        assert resp.status == 200, await resp.text()
    webhook = json.loads(FIXTURE.read_text(encoding="utf-8"))["body"]
    async with http.post(f"{url}/api/v1/alertmanager", json=webhook) as resp:
        assert resp.status == 202, await resp.text()
    async with http.post(f"{url}/-/reload") as resp:
        assert resp.status == 200, await resp.text()


async def test_every_metric_and_label_of_the_mixin_and_dashboard_is_exported(
    fake_receiver: FakeFactory, start_router: RouterFactory, http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ok = await fake_receiver(script=[503])  # one failed attempt, then delivered
    bad = await fake_receiver(script=[400] * 10)  # a permanent error: a dead letter
    config: dict[str, Any] = {
        "route": {
            "receiver": "team", "group_by": ["alertname"], "group_wait": "0s",
            "group_interval": "1s", "repeat_interval": "1h",
            "routes": [{"receiver": "broken", "matchers": ['team="broken"']}],
        },
        "receivers": [
            {"name": "team", "webhook_configs": [{"url": ok.url("/hook")}]},
            {"name": "broken", "webhook_configs": [{"url": bad.url("/hook")}]},
        ],
        "delivery": {"backoff_base": "100ms", "backoff_cap": "200ms"},
    }
    router = await start_router(config)
    await some_of_everything(http, router.url)

    async def scrape() -> str:
        async with http.get(f"{router.url}/metrics") as resp:
            assert resp.status == 200
            return await resp.text()

    await wait_until(lambda: len(ok.requests) >= 2 and len(bad.requests) >= 1,
                     within=30, what=f"the deliveries and a dead letter\n{router.logs()}")
    deadline = time.monotonic() + 30
    while True:  # the outcomes are counted right after the answers
        text = await scrape()
        if time.monotonic() > deadline or (
                total(text, "alert_router_notifications_total", receiver="team") >= 1
                and total(text, "alert_router_notifications_failed_total", receiver="broken")
                and total(text, "alert_router_notification_requests_failed_total",
                          receiver="team", reason="server_error")):
            break
        await asyncio.sleep(0.1)
    assert total(text, "alert_router_notifications_failed_total", receiver="broken",
                 reason="client_error") >= 1, router.logs()
    assert total(text, "alert_router_notifications_suppressed_total", reason="silence") == 1
    assert total(text, "alert_router_silences", state="active") == 1
    assert total(text, "alert_router_alerts_received_total", source="alertmanager") == 1
    assert total(text, "alert_router_send_latency_seconds_count", receiver="team") >= 1
    metrics = exported(text)
    assert metrics["alert_router_build_info"]["version"]
    assert "process_cpu_seconds_total" in metrics
    assert "alert_router_send_latency_seconds_bucket" in metrics

    records = recorded()
    problems = [p for where, expr in expressions() for p in check(where, expr, metrics, records)]
    for name, selector, label in variable_queries():
        problems += check(f"dashboard variable ${name}", selector, metrics, records)
        if label not in TARGET_LABELS and not any(
                label in metrics.get(m, {}) for m in uses(selector).metrics):
            problems.append(f"dashboard variable ${name}: label {label} is not exported")
    assert not problems, "\n".join(problems)


def test_a_renamed_metric_or_label_is_caught() -> None:
    """The checker itself: what it must refuse."""
    metrics: Exported = exported(
        '# TYPE alert_router_x_total counter\nalert_router_x_total{receiver="a"} 1\n')
    assert check("t", 'sum by (receiver) (rate(alert_router_x_total{job="j"}[5m]))',
                 metrics, {}) == []
    assert check("t", "rate(alert_router_y_total[5m])", metrics, {}) == [
        "t: metric alert_router_y_total is not exported"]
    assert check("t", "sum by (channel) (alert_router_x_total)", metrics, {}) == [
        "t: label channel is on none of ['alert_router_x_total']"]
    assert check("t", 'alert_router_x_total{receiver="b"}', metrics, {}) == [
        "t: receiver='b' never appears (seen: ['a'])"]
    assert check("t", "sum without (receiver) (r:x:rate5m)", metrics,
                 {"r:x:rate5m": {"alert_router_x_total"}}) == []
