"""Mattermost's part in the channel contract test: the hook id in the URL is the secret."""

from __future__ import annotations

from router.channels.mattermost import MattermostConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

HOOK = "SECRETmattermosthook4kbmuzwy"
SECRETS = (HOOK,)
PATH = f"/hooks/{HOOK}"


def _post(req: Recorded) -> None:
    assert req.path == PATH
    (attachment,) = req.json()["attachments"]
    assert (attachment["color"], attachment["title"]) == ("danger",
                                                         "[FIRING:1]  (HighErrorRate a:1)")


def _config(url: str) -> MattermostConfig:
    return MattermostConfig(webhook_url=Secret(url))


SETUPS = {"mattermost": Setup("mattermost", "webhook", PATH, _config, check_request=_post)}
