"""Slack's part in the channel contract test: incoming webhook and Web API modes."""

from __future__ import annotations

from collections.abc import Mapping

from router.config.types import Secret, SlackConfig

from .contract import Setup
from .fakes import Recorded

SLACK_TOKEN = "xoxb-SECRET-slack-token-1234"
HOOK_PATH_TOKEN = "SECRETPATHTOKEN9876"
SECRETS = (SLACK_TOKEN, HOOK_PATH_TOKEN)


def _no_auth(req: Recorded) -> None:
    assert req.headers.get("Authorization", "") == ""


def _bearer(req: Recorded) -> None:
    assert req.headers["Authorization"] == f"Bearer {SLACK_TOKEN}"
    assert req.path == "/api/chat.postMessage"


def _ts(state: Mapping[str, str]) -> None:
    assert state["channel"] == "C0123ABCD"
    assert state["ts"]


SETUPS = {
    "slack-webhook": Setup(
        "slack", "slack-webhook", f"/services/T0/B0/{HOOK_PATH_TOKEN}",
        lambda url: SlackConfig(api_url=Secret(url)), check_request=_no_auth,
    ),
    "slack-api": Setup(
        "slack", "slack-api", "/api/",
        lambda url: SlackConfig(token=Secret(SLACK_TOKEN), channel="#ops", app_url=url),
        check_request=_bearer, check_state=_ts,
    ),
}
