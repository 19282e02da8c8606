"""Teams' part in the channel contract test: the Workflows URL (its `sig`) is the secret."""

from __future__ import annotations

from router.channels.teams import TeamsConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

SIG_PATH_TOKEN = "SECRETTEAMSSIG5150"
SECRETS = (SIG_PATH_TOKEN,)


def _card(req: Recorded) -> None:
    body = req.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert "Authorization" not in req.headers


SETUPS = {
    "teams": Setup(
        "teams", "webhook", f"/workflows/abc/triggers/manual/paths/invoke/{SIG_PATH_TOKEN}",
        lambda url: TeamsConfig(webhook_url=Secret(url)), check_request=_card,
    ),
}
