"""Slack repeats show once: a delivery in doubt finds its earlier message (metadata lookup),
and `update_message` edits the group's message instead of posting another."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.slack import SlackChannel
from router.channels.slack.history import EVENT_TYPE, group_tag
from router.config.types import Secret, SlackConfig
from router.errors import DeliveryError, FailureReason
from router.model import NotifyReason
from router.rendering import Renderer

from .fake_slack import CHANNEL_ID, TOKEN, SlackFake, start_slack
from .fakes import T0, sample_alerts, sample_notification

GROUP = '{}:{alertname="HighErrorRate"}'


@pytest.fixture
async def slack(aiohttp_server: AiohttpServer, clock: FakeClock) -> SlackFake:
    return await start_slack(aiohttp_server, clock.now)


def channel(fake: SlackFake, http: HttpClient, **kw: object) -> SlackChannel:
    cfg = SlackConfig(token=Secret(TOKEN), channel="#ops", app_url=fake.url, **kw)  # type: ignore[arg-type]
    return SlackChannel(cfg, Renderer([]), http)


def ctx(clock: FakeClock, *, delivery: int = 7, in_doubt: bool = False,
        state: dict[str, str] | None = None, all_resolved: bool = False) -> SendContext:
    return SendContext(5.0, state or {}, all_resolved, delivery_id=delivery,
                       created_at=clock.now() - 30, group_key=GROUP, in_doubt=in_doubt)


def firing(ch: SlackChannel, count: int = 1) -> bytes:
    return ch.render(sample_notification(sample_alerts(count)))


async def test_each_message_names_its_delivery_in_metadata(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http)
    await ch.send(firing(ch), ctx(clock))
    [message] = slack.shown()
    assert message.metadata is not None
    assert message.metadata["event_type"] == EVENT_TYPE
    payload = message.metadata["event_payload"]
    assert (payload["delivery_id"], payload["group"]) == (7, group_tag(GROUP))


async def test_a_repeat_in_doubt_adopts_the_message_already_posted(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http)
    payload = firing(ch)
    first = await ch.send(payload, ctx(clock))  # its answer was lost to a crash
    await clock.advance(20)
    again = await ch.send(payload, ctx(clock, in_doubt=True, state={"channel": CHANNEL_ID}))
    assert again == first
    assert len(slack.shown()) == 1  # the channel shows the group once
    assert not slack.calls("chat.update")  # it already shows this payload
    [lookup] = slack.calls("conversations.history")
    assert lookup.headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_a_repeat_in_doubt_edits_a_message_that_shows_an_older_state(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http)
    await ch.send(firing(ch, 1), ctx(clock))
    newer = firing(ch, 3)  # the group changed before the repeat went out
    state = await ch.send(newer, ctx(clock, in_doubt=True, state={"channel": CHANNEL_ID}))
    [message] = slack.shown()
    assert state == {"ts": message.ts, "channel": CHANNEL_ID}
    assert message.text.startswith("[FIRING:3]")
    assert message.edited == 1


async def test_the_lookup_finds_the_message_a_few_pages_back(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    slack.max_limit = 15  # as for apps outside the Slack Marketplace
    ch = channel(slack, http)
    payload = firing(ch)
    first = await ch.send(payload, ctx(clock, delivery=1))
    for n in range(2, 22):  # other groups' messages since
        await ch.send(firing(ch), ctx(clock, delivery=n))
    assert await ch.send(payload, ctx(clock, delivery=1, in_doubt=True)) == first
    assert len(slack.calls("conversations.history")) == 2
    assert len(slack.shown()) == 21


@pytest.mark.parametrize("problem", ["missing_scope", "not_in_channel"])
async def test_when_the_lookup_fails_the_repeat_posts_again_and_logs_once(
    slack: SlackFake, http: HttpClient, clock: FakeClock, caplog: pytest.LogCaptureFixture,
    problem: str,
) -> None:
    if problem == "missing_scope":
        slack.scopes = frozenset({"chat:write"})
    else:
        slack.in_channel = False
    ch = channel(slack, http)
    payload = firing(ch)
    await ch.send(payload, ctx(clock))
    with caplog.at_level(logging.DEBUG, logger="router.channels.slack"):
        for _ in range(2):
            await ch.send(payload, ctx(clock, in_doubt=True))
    assert len(slack.shown()) == 3  # a repeat rather than a loss
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [getattr(r, "error", None) for r in warned] == [problem]
    assert TOKEN not in caplog.text


async def test_without_a_channel_id_there_is_no_lookup(
    slack: SlackFake, http: HttpClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ch = channel(slack, http)  # configured by name, nothing remembered yet
    with caplog.at_level(logging.WARNING, logger="router.channels.slack"):
        await ch.send(firing(ch), ctx(clock, in_doubt=True))
    assert not slack.calls("conversations.history")
    assert len(slack.shown()) == 1
    assert "channel ID" in caplog.text


async def test_a_post_that_timed_out_is_looked_for_before_it_is_retried(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = SlackChannel(SlackConfig(token=Secret(TOKEN), channel=CHANNEL_ID, app_url=slack.url),
                      Renderer([]), http)
    payload = firing(ch)
    slack.gate.clear()  # Slack posts, but its answer comes too late
    with pytest.raises(DeliveryError) as info:
        await ch.send(payload, replace(ctx(clock), timeout=0.2))
    assert info.value.reason == FailureReason.TIMEOUT
    slack.gate.set()
    state = await ch.send(payload, ctx(clock))  # the retry, in the same process
    [message] = slack.shown()
    assert state == {"ts": message.ts, "channel": CHANNEL_ID}
    assert len(slack.calls("chat.postMessage")) == 1
    # Once delivered, the delivery is no longer unsure: a later send does not look.
    await ch.send(payload, ctx(clock))
    assert len(slack.calls("conversations.history")) == 1


async def test_a_send_not_in_doubt_never_reads_the_history(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http)
    for _ in range(2):
        await ch.send(firing(ch), ctx(clock, state={"channel": CHANNEL_ID}))
    assert not slack.calls("conversations.history")
    assert len(slack.shown()) == 2  # an ordinary repeat notification posts anew


async def test_refused_metadata_is_dropped_and_the_message_still_goes_out(
    slack: SlackFake, http: HttpClient, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    slack.refuse_metadata = True  # e.g. a user token: metadata_must_be_sent_from_app
    ch = channel(slack, http)
    with caplog.at_level(logging.WARNING, logger="router.channels.slack"):
        await ch.send(firing(ch), ctx(clock))
        await ch.send(firing(ch), ctx(clock, delivery=8))
    assert [m.metadata for m in slack.shown()] == [None, None]
    assert len(slack.calls("chat.postMessage")) == 3  # refused once, then never sent
    assert caplog.text.count("metadata") == 1


# --- update_message (Alertmanager's key) ----------------------------------------------


async def test_update_message_edits_the_groups_message_on_every_notification(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http, update_message=True)
    state = await ch.send(firing(ch, 1), ctx(clock, delivery=1))
    for n, count in ((2, 2), (3, 2)):  # more alerts, then a repeat of the same
        assert await ch.send(firing(ch, count), ctx(clock, delivery=n, state=state)) == state
    resolved = ch.render(sample_notification(sample_alerts(2, ends=T0 + 30),
                                             NotifyReason.ALL_RESOLVED))
    await ch.send(resolved, ctx(clock, delivery=4, state=state, all_resolved=True))
    [message] = slack.shown()
    assert message.text.startswith("[RESOLVED]")
    assert (message.edited, len(slack.calls("chat.postMessage"))) == (3, 1)
    assert message.metadata is not None
    assert message.metadata["event_payload"]["delivery_id"] == 4


async def test_update_message_posts_anew_when_the_message_is_gone(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http, update_message=True)
    state = await ch.send(firing(ch), ctx(clock, delivery=1))
    slack.messages[CHANNEL_ID].clear()  # someone deleted it
    again = await ch.send(firing(ch), ctx(clock, delivery=2, state=state))
    assert again["ts"] != state["ts"]
    assert len(slack.shown()) == 1


async def test_without_update_message_a_changed_group_posts_a_new_message(
    slack: SlackFake, http: HttpClient, clock: FakeClock
) -> None:
    ch = channel(slack, http)
    state = await ch.send(firing(ch, 1), ctx(clock, delivery=1))
    await ch.send(firing(ch, 2), ctx(clock, delivery=2, state=state))
    assert len(slack.shown()) == 2  # Alertmanager's default: one message a notification
