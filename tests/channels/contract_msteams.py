"""Teams' legacy connector and Workflows (msteamsv2) in the channel contract test: each
webhook URL (its path token, the Workflows `sig`) is the secret."""

from __future__ import annotations

from router.channels.msteams import MSTeamsConfig
from router.channels.teams import TeamsConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

CONNECTOR_TOKEN = "SECRETCONNECTOR7a1c"
WORKFLOW_SIG = "SECRETWORKFLOWSIG42"
SECRETS = (CONNECTOR_TOKEN, WORKFLOW_SIG)


def _message_card(req: Recorded) -> None:
    body = req.json()
    assert (body["@context"], body["type"]) == ("http://schema.org/extensions", "MessageCard")
    assert body["title"] == body["summary"] == "[FIRING:1]  (HighErrorRate a:1)"
    assert body["themeColor"] == "8C1A1A"
    assert "Authorization" not in req.headers


def _adaptive_card(req: Recorded) -> None:
    (attachment,) = req.json()["attachments"]
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.2")
    assert card["body"][0]["text"] == "[FIRING:1]  (HighErrorRate a:1)"
    assert "Authorization" not in req.headers


SETUPS = {
    "msteams": Setup(
        "msteams", "webhook", f"/webhookb2/abc@def/IncomingWebhook/{CONNECTOR_TOKEN}/ghi",
        lambda url: MSTeamsConfig(webhook_url=Secret(url)), check_request=_message_card,
    ),
    "msteamsv2": Setup(
        "msteamsv2", "webhook", f"/workflows/abc/triggers/manual/paths/invoke/{WORKFLOW_SIG}",
        lambda url: TeamsConfig(webhook_url=Secret(url)), check_request=_adaptive_card,
    ),
}
