"""The default SNS, Webex and WeChat messages are a real Alertmanager 0.25's, to the
character: the same alert goes through both, their requests are compared.

Alertmanager's default templates (`sns.default.*`, `webex.default.message`,
`wechat.default.message`) are written in Jinja here (templates/*.j2); this is the test
that they read the same. Rocket.Chat arrived in Alertmanager 0.28, after the 0.25 that
Debian ships, so it is checked against its source in tests/channels/test_rocketchat.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from channels.moto_sns import REGION, MotoSns, run_moto

from .conftest import AlertmanagerFactory, FakeFactory, RouterFactory, rfc3339, wait_until

pytestmark = pytest.mark.timeout(120)

ALERT = {"labels": {"alertname": "DiskFull", "instance": "db-1:9100", "severity": "critical"},
         "annotations": {"summary": "Disk /var is 97% full", "description": "db-1 \"var\""},
         "generatorURL": "http://prometheus:9090/graph?g0.expr=disk"}


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoSns]:
    yield from run_moto()


def config(fake: str, tag: str, moto: MotoSns) -> dict[str, Any]:
    return {
        "route": {"receiver": "all", "group_by": ["alertname"], "group_wait": "1s",
                  "group_interval": "1m", "repeat_interval": "1h"},
        "receivers": [{
            "name": "all",
            "webex_configs": [{"room_id": "room-1", "api_url": f"{fake}/{tag}/webex",
                               "http_config": {"authorization": {"credentials": "t"}}}],
            "wechat_configs": [{"api_url": f"{fake}/{tag}/wechat/", "api_secret": "s",
                                "corp_id": "c", "to_user": "@all", "agent_id": "1"}],
            "sns_configs": [{"api_url": moto.url, "topic_arn": moto.topic_arn,
                             "sigv4": {"region": REGION, "access_key": moto.access_key,
                                       "secret_key": moto.secret_key},
                             "attributes": {"tag": tag}}],
        }],
    }


def _without_link(text: str) -> str:
    """The message with the link to each one's own UI (its external URL) taken out."""
    return re.sub(r"AlertmanagerUrl:\n\S+", "AlertmanagerUrl:\n<url>", text)


async def test_default_messages_equal_alertmanagers(
    fake_receiver: FakeFactory, start_router: RouterFactory,
    start_alertmanager: AlertmanagerFactory, http: aiohttp.ClientSession, moto: MotoSns,
) -> None:
    answers = {f"/{tag}/wechat/{call}": body for tag in ("am", "router") for call, body in (
        ("gettoken", {"errcode": 0, "access_token": "token", "expires_in": 7200}),
        ("message/send", {"errcode": 0, "errmsg": "ok"}))}
    fake = await fake_receiver(json_by_path=answers)
    base = fake.url("").rstrip("/")
    am_url = await start_alertmanager(config(base, "am", moto))
    router = await start_router(config(base, "router", moto))
    alert = {**ALERT, "startsAt": rfc3339(offset=-60)}
    for url in (am_url, router.url):
        async with http.post(f"{url}/api/v2/alerts", json=[alert]) as resp:
            assert resp.status in (200, 202), await resp.text()
    queue: list[dict[str, Any]] = []
    poll: asyncio.Task[list[dict[str, Any]]] | None = None

    def arrived() -> bool:
        # The queue is read in a thread: boto3 blocks, and the fake serves on this loop.
        nonlocal poll
        if poll is None or poll.done():
            if poll is not None:
                queue.extend(poll.result())
            poll = asyncio.ensure_future(asyncio.to_thread(moto.received))
        return all(fake.at(f"/{t}/{p}") for t in ("am", "router")
                   for p in ("webex", "wechat/message/send")) and len(queue) >= 2

    await wait_until(arrived, within=60, what=f"every message of both: "
                     f"{[r.path for r in fake.requests]} {queue}\n{router.logs()}")
    assert poll is not None
    await poll
    for path in ("webex", "wechat/message/send"):
        (am,), (ours,) = fake.at(f"/am/{path}"), fake.at(f"/router/{path}")
        if path == "webex":
            assert ours.body == am.body
        else:
            # Alertmanager also sends an empty `markdown` object with a text message.
            assert am.body.pop("markdown") == {"content": ""}
            assert {k: v for k, v in ours.body.items() if k != "text"} == {
                k: v for k, v in am.body.items() if k != "text"}
            assert _without_link(ours.body["text"]["content"]) == _without_link(
                am.body["text"]["content"])
    by_tag = {m["MessageAttributes"]["tag"]["Value"]: m for m in queue}
    for key in ("Subject", "Message"):
        assert by_tag["router"][key] == by_tag["am"][key]
    assert by_tag["am"]["Subject"] == "[FIRING:1] DiskFull (db-1:9100 critical)"
