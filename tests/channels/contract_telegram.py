"""Telegram's part in the channel contract test: the bot token is in the request path."""

from __future__ import annotations

from router.channels.telegram import TelegramConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

BOT_TOKEN = "987654:SECRETTELEGRAMTOKEN"
SECRETS = (BOT_TOKEN,)
PATH = f"/bot{BOT_TOKEN}/sendMessage"


def _message(req: Recorded) -> None:
    assert req.path == PATH
    body = req.json()
    assert (body["chat_id"], body["parse_mode"]) == (-100123, "HTML")
    assert body["text"].startswith("🔥 <b>FIRING</b> · HighErrorRate (1)")


def _config(url: str) -> TelegramConfig:
    # The fake's URL ends with PATH; the channel builds that path from api_url and the token.
    return TelegramConfig(bot_token=Secret(BOT_TOKEN), chat_id=-100123,
                          api_url=url[: url.index("/bot")])


SETUPS = {
    "telegram": Setup("telegram", "webhook", PATH, _config, check_request=_message),
}
