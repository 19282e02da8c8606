"""The webhook channel's part in the channel contract test: bearer and basic auth."""

from __future__ import annotations

import base64

from router.config.types import BasicAuth, HttpConfig, Secret, WebhookConfig

from .contract import Setup
from .fakes import Recorded

BEARER = "SECRET-bearer-5555"
PASSWORD = "SECRET-password-7777"
URL_TOKEN = "SECRETURLTOKEN4242"
SECRETS = (BEARER, PASSWORD, URL_TOKEN)


def _bearer(req: Recorded) -> None:
    assert req.headers["Authorization"] == f"Bearer {BEARER}"


def _basic(req: Recorded) -> None:
    expected = "Basic " + base64.b64encode(f"am:{PASSWORD}".encode()).decode()
    assert req.headers["Authorization"] == expected


SETUPS = {
    "webhook-bearer": Setup(
        "webhook", "webhook", f"/hook/{URL_TOKEN}",
        lambda url: WebhookConfig(url=Secret(url),
                                  http_config=HttpConfig(bearer_token=Secret(BEARER))),
        check_request=_bearer,
    ),
    "webhook-basic": Setup(
        "webhook", "webhook", f"/hook/{URL_TOKEN}",
        lambda url: WebhookConfig(url=Secret(url), http_config=HttpConfig(
            basic_auth=BasicAuth("am", Secret(PASSWORD)))),
        check_request=_basic,
    ),
}
