"""Discord's part in the channel contract test: the webhook token is in the URL path."""

from __future__ import annotations

from router.channels.discord import DiscordConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

WEBHOOK_TOKEN = "SECRETDISCORDTOKEN7331"
SECRETS = (WEBHOOK_TOKEN,)


def _message(req: Recorded) -> None:
    assert req.path == f"/api/webhooks/42/{WEBHOOK_TOKEN}"
    body = req.json()
    assert body["embeds"][0]["fields"][0]["name"] == "🔥 5xx above 5%"
    assert body["allowed_mentions"] == {"parse": []}


SETUPS = {
    "discord": Setup(
        "discord", "webhook", f"/api/webhooks/42/{WEBHOOK_TOKEN}",
        lambda url: DiscordConfig(webhook_url=Secret(url)), check_request=_message,
    ),
}
