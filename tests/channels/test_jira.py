"""The Jira channel against a stateful Jira fake: one issue per group, updated, resolved,
reopened within `reopen_duration` and replaced after it; errors, auth and config."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_config_problem
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.jira import JiraChannel, JiraConfig, JiraField
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import BasicAuth, HttpConfig, Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason
from router.rendering import Renderer

from .fake_jira import API_TOKEN, EMAIL, JiraFake, start_jira
from .fakes import T0, sample_alerts, sample_notification
from .sending import send as _send

AUTH = HttpConfig(basic_auth=BasicAuth(EMAIL, Secret(API_TOKEN)))
# Alertmanager's label: "ALERT{" + the SHA-256 of the group key + "}" (computed here, not
# by the code under test, so a change of the hash fails this test).
GROUP_LABEL = "ALERT{" + hashlib.sha256(b'{}:{alertname="HighErrorRate"}').hexdigest() + "}"


def _channel(fake: JiraFake, http: HttpClient, **kw: Any) -> JiraChannel:
    cfg = JiraConfig(api_url=kw.pop("api_url", fake.url), project="OPS", issue_type="Incident",
                     http_config=kw.pop("http_config", AUTH), **kw)
    return JiraChannel(cfg, Renderer([]), http)


def _firing(count: int = 1) -> Notification:
    return sample_notification(sample_alerts(count))


def _resolved() -> Notification:
    return sample_notification(sample_alerts(1, ends=T0 + 30), NotifyReason.ALL_RESOLVED)



async def test_issue_lifecycle_follows_the_group(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    clock = FakeClock()
    fake = await start_jira(aiohttp_server, clock)
    channel = _channel(fake, http, resolve_transition="Done", reopen_transition="Reopen",
                       reopen_duration=3600.0,
                       labels=("alertmanager", "{{ commonLabels.nothing }}"))
    # Firing: one new issue, as Alertmanager files it.
    assert await _send(channel, _firing()) == {"issue": "OPS-1"}
    issue = fake.issue("OPS-1")
    assert issue["fields"]["summary"] == ("[FIRING:1] HighErrorRate "
                                          "(10.0.0.0:8080 checkout critical)")
    assert issue["labels"] == [GROUP_LABEL, "alertmanager"]  # an empty label is left out
    assert issue["priority"] == "High"  # severity critical
    assert issue["fields"]["description"].startswith("\n\n# Alerts Firing:\n\nLabels:\n"
                                                     "  - alertname = HighErrorRate\n")
    # Firing again (more alerts): the same issue is updated, none is added.
    assert await _send(channel, _firing(3)) == {"issue": "OPS-1"}
    assert list(fake.issues) == ["OPS-1"]
    assert issue["fields"]["summary"] == "[FIRING:3] HighErrorRate (checkout critical)"
    assert issue["updates"] == 1
    # Resolved: transitioned to Done.
    assert await _send(channel, _resolved()) == {"issue": "OPS-1"}
    assert (issue["status"], issue["resolution"]) == ("Done", "Done")
    # Firing within reopen_duration: reopened, still one issue.
    await clock.advance(1800)
    assert await _send(channel, _firing()) == {"issue": "OPS-1"}
    assert (issue["status"], issue["resolution"]) == ("To Do", None)
    await _send(channel, _resolved())
    # After reopen_duration: a new issue, the old one stays done.
    await clock.advance(3601)
    assert await _send(channel, _firing()) == {"issue": "OPS-2"}
    assert (fake.issue("OPS-1")["status"], fake.issue("OPS-2")["status"]) == ("Done", "To Do")
    searches = [r.json()["jql"] for r in fake.requests if r.path.endswith("/search")]
    assert searches[0] == ('(resolutiondate is EMPTY OR resolutiondate >= -60m) and '
                           f'project="OPS" and labels="{GROUP_LABEL}" '
                           'order by status ASC,resolutiondate DESC')


async def test_resolved_group_without_issue_opens_none(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_jira(aiohttp_server)
    assert await _send(_channel(fake, http, resolve_transition="Done"), _resolved()) == {}
    assert fake.issues == {}
    # Without reopen settings only open issues are searched for.
    assert fake.requests[0].json()["jql"].startswith("statusCategory != Done and project=")


async def test_wont_fix_issue_is_not_reused(http: HttpClient,
                                            aiohttp_server: AiohttpServer) -> None:
    fake = await start_jira(aiohttp_server)
    channel = _channel(fake, http, resolve_transition="Won't Do", reopen_transition="Reopen",
                       reopen_duration=3600.0, wont_fix_resolution="Won't Fix")
    await _send(channel, _firing())
    await _send(channel, _resolved())
    assert fake.issue("OPS-1")["resolution"] == "Won't Fix"
    assert await _send(channel, _firing()) == {"issue": "OPS-2"}


async def test_update_can_leave_summary_and_description(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_jira(aiohttp_server)
    channel = _channel(fake, http, summary=JiraField(enable_update=False),
                       description=JiraField(enable_update=False))
    await _send(channel, _firing())
    await _send(channel, _firing(2))
    put = next(r for r in fake.requests if r.method == "PUT").json()["fields"]
    assert "summary" not in put
    assert "description" not in put
    assert fake.issue("OPS-1")["fields"]["summary"].startswith("[FIRING:1]")


async def test_cloud_uses_search_jql_and_atlassian_documents(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_jira(aiohttp_server)
    channel = _channel(fake, http, api_url=fake.url_v3(), api_type="cloud",
                       fields={"customfield_10001": {"value": "{{ status }}"}})
    assert await _send(channel, _firing()) == {"issue": "OPS-1"}
    assert [r.path for r in fake.requests] == ["/rest/api/3/search/jql", "/rest/api/3/issue"]
    issue = fake.issue("OPS-1")
    assert issue["fields"]["description"]["type"] == "doc"  # the default text, as ADF
    assert issue["fields"]["customfield_10001"] == {"value": "firing"}
    # The legacy search is gone on Cloud, as the fake (and Jira Cloud) answer.
    auto = _channel(fake, http, api_url=fake.url_v3())
    with pytest.raises(DeliveryError) as info:
        await _send(auto, _firing())
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "removed" in info.value.message


@pytest.mark.parametrize(
    ("script", "reason", "retryable", "retry_after"),
    [
        ([(429, {"Retry-After": "30"})], FailureReason.RATE_LIMITED, True, 30.0),
        ([(503, {})], FailureReason.SERVER_ERROR, True, None),
        ([(0, {}), (500, {})], FailureReason.SERVER_ERROR, True, None),  # create fails
    ],
)
async def test_vendor_failures_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, script: list[tuple[int, dict[str, str]]],
    reason: FailureReason, retryable: bool, retry_after: float | None,
) -> None:
    fake = await start_jira(aiohttp_server)
    fake.script = list(script)
    channel = _channel(fake, http)
    with pytest.raises(DeliveryError) as info:
        await _send(channel, _firing())
    assert fake.issues == {}
    # The outbox retries the whole send: the next attempt files the issue once.
    assert await _send(channel, _firing()) == {"issue": "OPS-1"}
    err = info.value
    assert (err.reason, err.retryable, err.retry_after) == (reason, retryable, retry_after)


async def test_refused_fields_and_auth_are_dead_with_jiras_reason(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_jira(aiohttp_server)
    bad = _channel(fake, http, labels=("team {{ status }}",))
    with pytest.raises(DeliveryError) as info:
        await _send(bad, _firing())
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert "labels: The label 'team firing' contains spaces" in info.value.message
    wrong = _channel(fake, http, http_config=HttpConfig(
        basic_auth=BasicAuth(EMAIL, Secret("wrong-token"))))
    with pytest.raises(DeliveryError) as info:
        await _send(wrong, _firing())
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, False)
    assert API_TOKEN not in str(info.value)
    assert "wrong-token" not in str(info.value)


async def test_missing_transition_is_dead(http: HttpClient,
                                          aiohttp_server: AiohttpServer) -> None:
    fake = await start_jira(aiohttp_server)
    channel = _channel(fake, http, resolve_transition="Close Issue")
    await _send(channel, _firing())
    with pytest.raises(DeliveryError) as info:
        await _send(channel, _resolved())
    assert info.value.message == "jira: can't find transition 'Close Issue' for issue OPS-1"
    assert not info.value.retryable


def test_priority_follows_alertmanagers_default() -> None:
    fake_url = "http://jira.invalid/rest/api/2/"
    cfg = JiraConfig(api_url=fake_url, project="OPS", issue_type="Bug")
    channel = JiraChannel(cfg, Renderer([]), HttpClient())
    import json

    def priority(severities: list[str]) -> Any:
        alerts = [dataclasses.replace(a, labels={**a.labels, "severity": s})
                  for a, s in zip(sample_alerts(len(severities)), severities, strict=True)]
        fields = json.loads(channel.render(sample_notification(alerts)))["fields"]
        return fields.get("priority", {}).get("name")

    assert priority(["info", "warning"]) == "Medium"
    assert priority(["warning", "critical", "info"]) == "High"
    assert priority(["info"]) == "Low"
    assert priority(["page"]) is None


CONFIG = """
global:
  jira_api_url: https://example.atlassian.net/rest/api/2/
route: {{receiver: j}}
receivers:
  - name: j
    jira_configs:
      - {entry}
"""


def test_config_defaults_and_forms(tmp_path: Path) -> None:
    cfg = load_config_text(CONFIG.format(entry="""project: OPS
        issue_type: Bug
        summary: {template: '{{ status }}', enable_update: false}
        description: 'seen {{ alerts|length }}'
        labels: [alertmanager, '{{ commonLabels.service }}']
        reopen_duration: 1h
        fields: {customfield_10001: {value: '{{ status }}'}, components: [{name: x}]}
        http_config: {basic_auth: {username: me@example.com, password: t0ken}}"""),
        str(tmp_path / "c.yml"))
    (j,) = cfg.receivers["j"].configs(JiraConfig)
    assert j.api_url == "https://example.atlassian.net/rest/api/2/"  # global.jira_api_url
    assert (j.summary, j.description) == (JiraField("{{ status }}", False),
                                          JiraField("seen {{ alerts|length }}"))
    assert (j.api_type, j.send_resolved, j.reopen_duration) == ("auto", True, 3600.0)
    assert j.priority is None
    assert j.labels == ("alertmanager", "{{ commonLabels.service }}")
    assert j.fields == {"customfield_10001": {"value": "{{ status }}"},
                        "components": [{"name": "x"}]}
    assert "t0ken" not in repr(j)
    # /api/v2/status (amtool config show) shows it in a form that loads back the same.
    view = redacted_yaml(cfg)
    assert "summary: {enable_update: false, template: '{{ status }}'}" in view \
        or "enable_update: false" in view
    again = load_config_text(view.replace("password: <secret>", "password: t0ken"), "c.yml")
    assert again.receivers["j"].configs(JiraConfig) == [j]


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{issue_type: Bug}", "receivers[0].jira_configs[0]", "missing project in jira_config"),
        ("{project: OPS}", "receivers[0].jira_configs[0]", "missing issue_type in jira_config"),
        ("{project: OPS, issue_type: Bug, api_type: server}",
         "receivers[0].jira_configs[0].api_type", "must be auto, cloud or datacenter"),
        ("{project: OPS, issue_type: Bug, summary: '{{ .Status }}'}",
         "receivers[0].jira_configs[0].summary", "looks like a Go template"),
        ("{project: OPS, issue_type: Bug, sumary: x}",
         "receivers[0].jira_configs[0].sumary", 'did you mean "summary"'),
    ],
)
def test_bad_config_names_the_field(entry: str, path: str, message: str) -> None:
    assert_config_problem(CONFIG.format(entry=entry), path, message)


def test_api_url_is_required_without_global() -> None:
    text = CONFIG.replace("  jira_api_url: https://example.atlassian.net/rest/api/2/\n",
                          "  resolve_timeout: 5m\n")
    with pytest.raises(ConfigError, match="no global Jira Cloud URL set"):
        load_config_text(text.format(entry="{project: OPS, issue_type: Bug}"), "x.yml")
