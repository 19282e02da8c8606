"""WeChat's part in the channel contract test: `message/send` with a cached access token.

The channel is given a token as if `gettoken` had answered (tests/channels/test_wechat.py
covers `gettoken` itself), so the scripted answers apply to the message itself.
"""

from __future__ import annotations

from typing import Any

from router.channels import build_channel
from router.channels.http import HttpClient
from router.channels.wechat import WechatChannel, WechatConfig
from router.config.types import Secret
from router.rendering import Renderer

from .contract import Setup
from .fakes import Recorded

API_SECRET = "dTa7Fh-SECRETWECHATCORPSECRET"
ACCESS_TOKEN = "accesstoken-SECRET-WECHAT-0123456789"
SECRETS = (API_SECRET, ACCESS_TOKEN)
PATH = "/cgi-bin/message/send"


def _message(req: Recorded) -> None:
    assert req.path == PATH
    assert req.query == {"access_token": ACCESS_TOKEN}
    body = req.json()
    assert (body["msgtype"], body["agentid"], body["touser"]) == ("text", "1000002", "@all")
    assert body["text"]["content"].startswith("[FIRING:1]  (HighErrorRate a:1)\n")


def _config(url: str) -> WechatConfig:
    return WechatConfig(Secret(API_SECRET), "ww0123456789abcdef",
                        api_url=url[: url.index("message/send")], to_user="@all",
                        agent_id="1000002")


async def _make(url: str, http: HttpClient) -> Any:
    channel = build_channel("wechat", _config(url), Renderer([]), http)
    assert isinstance(channel, WechatChannel)
    channel._token = (ACCESS_TOKEN, float("inf"))  # as if gettoken had answered
    return channel


SETUPS = {"wechat": Setup("wechat", "webhook", PATH, _config, check_request=_message,
                          make=_make)}
