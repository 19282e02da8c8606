"""Webex's part in the channel contract test: the bot token in `http_config.authorization`."""

from __future__ import annotations

from router.channels.webex import WebexConfig
from router.config.types import Authorization, HttpConfig, Secret

from .contract import Setup
from .fakes import Recorded

TOKEN = "NjQ5ZWViODQtSECRETWEBEXBOTTOKEN"
SECRETS = (TOKEN,)
ROOM = "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0"


def _message(req: Recorded) -> None:
    assert req.path == "/v1/messages"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    body = req.json()
    assert body["roomId"] == ROOM
    assert "Alerts Firing:" in body["markdown"]


def _config(url: str) -> WebexConfig:
    return WebexConfig(ROOM, HttpConfig(authorization=Authorization("Bearer", Secret(TOKEN))),
                       api_url=url)


SETUPS = {"webex": Setup("webex", "webhook", "/v1/messages", _config, check_request=_message)}
