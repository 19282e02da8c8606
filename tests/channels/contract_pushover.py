"""Pushover's part in the channel contract test: token and user key are form fields."""

from __future__ import annotations

import urllib.parse

from router.channels.pushover import PushoverConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

TOKEN = "aSECRETpushoverAPPtoken0000000"
USER = "uSECRETpushoverUSERkey00000000"
SECRETS = (TOKEN, USER)
PATH = "/1/messages.json"


def _message(req: Recorded) -> None:
    assert req.path == PATH
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(req.text))
    assert (form["token"], form["user"], form["priority"]) == (TOKEN, USER, "2")
    assert form["title"] == "[FIRING:1]  (HighErrorRate a:1)"


def _config(url: str) -> PushoverConfig:
    return PushoverConfig(user_key=Secret(USER), token=Secret(TOKEN), api_url=url)


SETUPS = {"pushover": Setup("pushover", "webhook", PATH, _config, check_request=_message)}
