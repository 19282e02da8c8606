"""Rocket.Chat's part in the channel contract test: token and user id in headers."""

from __future__ import annotations

from router.channels.rocketchat import RocketchatConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

TOKEN = "9HqLlyZOugoStsXCUfD_SECRETROCKETTOKEN"
TOKEN_ID = "aobEdbYhXfu5hkeqG-SECRETUSERID"
SECRETS = (TOKEN, TOKEN_ID)
PATH = "/api/v1/chat.postMessage"


def _message(req: Recorded) -> None:
    assert req.path == PATH
    assert (req.headers["X-Auth-Token"], req.headers["X-User-Id"]) == (TOKEN, TOKEN_ID)
    body = req.json()
    assert body["channel"] == "#ops"
    (attachment,) = body["attachments"]
    assert attachment["title"] == "[FIRING:1]  (HighErrorRate a:1)"
    assert attachment["color"] == "red"


def _config(url: str) -> RocketchatConfig:
    return RocketchatConfig(Secret(TOKEN), Secret(TOKEN_ID), api_url=url[: url.index(PATH)],
                            channel="#ops")


SETUPS = {"rocketchat": Setup("rocketchat", "webhook", PATH, _config,
                              check_request=_message)}
