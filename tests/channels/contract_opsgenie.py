"""OpsGenie's part in the channel contract test: the API key goes in a `GenieKey` header."""

from __future__ import annotations

from router.channels.opsgenie import OpsgenieConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

API_KEY = "0c8f3a52-SECRET-OPSGENIE-KEY"
SECRETS = (API_KEY,)
PATH = "/v2/alerts"


def _create(req: Recorded) -> None:
    assert req.path == PATH
    assert req.headers["Authorization"] == f"GenieKey {API_KEY}"
    body = req.json()
    assert body["message"] == "[FIRING:1]  (HighErrorRate a:1)"
    assert len(body["alias"]) == 64


def _config(url: str) -> OpsgenieConfig:
    # The channel appends "v2/alerts" to api_url, as Alertmanager does.
    return OpsgenieConfig(api_key=Secret(API_KEY), api_url=url[: -len("v2/alerts")])


SETUPS = {"opsgenie": Setup("opsgenie", "webhook", PATH, _config, check_request=_create)}
