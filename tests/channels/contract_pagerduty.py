"""PagerDuty's part in the channel contract test: the routing key travels in the body."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from router.channels.pagerduty import PagerdutyConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

ROUTING_KEY = "R0UT1NGKEYSECRET0123456789abcdef"
SECRETS = (ROUTING_KEY,)
# The contract notification's group key is "{}:{}".
DEDUP_KEY = hashlib.sha256(b"{}:{}").hexdigest()


def _body(req: Recorded) -> None:
    assert req.path == "/v2/enqueue"
    body = req.json()
    assert body["routing_key"] == ROUTING_KEY
    assert (body["event_action"], body["dedup_key"]) == ("trigger", DEDUP_KEY)
    assert "Authorization" not in req.headers


def _state(state: Mapping[str, str]) -> None:
    assert state == {"dedup_key": DEDUP_KEY}


SETUPS = {
    "pagerduty": Setup(
        "pagerduty", "webhook", "/v2/enqueue",
        lambda url: PagerdutyConfig(routing_key=Secret(ROUTING_KEY), url=url),
        check_request=_body, check_state=_state,
    ),
}
