"""A Jira receiver through the whole router on the fake clock: ingest → group → notify
chain → durable outbox → the stateful Jira fake. One group, one issue: filed when the
group fires, resolved when it resolves, reopened when it fires again within
`reopen_duration`; a Jira outage is retried by the outbox without a second issue."""

from __future__ import annotations

from pathlib import Path

from channels.fake_jira import API_TOKEN, EMAIL, start_jira
from conftest import push_timeline, settle_deliveries
from fakeclock import FakeClock
from harness import ServiceFactory
from pytest_aiohttp import AiohttpServer

from router.storage.sqlite import SqliteStore

CONFIG = """
route:
  receiver: tickets
  group_by: [alertname]
  group_wait: 10s
  group_interval: 10s
  repeat_interval: 1h
receivers:
  - name: tickets
    jira_configs:
      - api_url: {url}
        project: OPS
        issue_type: Incident
        resolve_transition: Done
        reopen_transition: Reopen
        reopen_duration: 1h
        http_config: {{basic_auth: {{username: {email}, password: {token}}}}}
"""


async def test_group_lifecycle_is_one_jira_issue(
    aiohttp_server: AiohttpServer, tmp_path: Path, store: SqliteStore, clock: FakeClock
) -> None:
    jira = await start_jira(aiohttp_server, clock)
    async with ServiceFactory.open(aiohttp_server, tmp_path, store, clock) as factory:
        built = await factory(CONFIG.format(url=jira.url, email=EMAIL, token=API_TOKEN))
        s = built.service
        base = clock.now()

        async def step(until: int, pushes: dict[int, list[tuple[dict[str, str], float,
                                                               float | None]]]) -> None:
            for t in range(round(clock.now() - base), until + 1):
                await clock.advance(base + t - clock.now())
                if t in pushes:
                    await push_timeline(s.ingestor, clock, base, pushes[t])
                await s.dispatcher.run_due()
                await settle_deliveries(s.delivery, clock)

        disk = {"alertname": "DiskFull", "instance": "db-1", "severity": "warning"}
        await step(15, {0: [(disk, 0, None)]})
        assert list(jira.issues) == ["OPS-1"]
        issue = jira.issue("OPS-1")
        assert (issue["status"], issue["priority"]) == ("To Do", "Medium")
        assert issue["fields"]["summary"] == "[FIRING:1] DiskFull (db-1 warning)"

        await step(45, {30: [(disk, 0, 30)]})
        assert (issue["status"], issue["resolution"]) == ("Done", "Done")

        # Jira is down when the alert fires again: the outbox retries, still one issue.
        jira.script = [(503, {})] * 3
        await step(400, {100: [(disk, 100, None)]})
        assert list(jira.issues) == ["OPS-1"]
        assert (issue["status"], issue["resolution"]) == ("To Do", None)
        assert jira.script == []  # the three 503s were answered, then retried past
