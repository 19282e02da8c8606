"""VictorOps' part in the channel contract test: the API key is in the request path."""

from __future__ import annotations

from router.channels.victorops import VictoropsConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

API_KEY = "7d1b6a0e-SECRET-VICTOROPS-KEY"
SECRETS = (API_KEY,)
PATH = f"/integrations/generic/20131114/alert/{API_KEY}/team-db"


def _event(req: Recorded) -> None:
    assert req.path == PATH
    body = req.json()
    assert (body["message_type"], len(body["entity_id"])) == ("CRITICAL", 64)


def _config(url: str) -> VictoropsConfig:
    # The channel appends "<api_key>/<routing_key>" to api_url, as Alertmanager does.
    return VictoropsConfig(api_key=Secret(API_KEY), routing_key="team-db",
                           api_url=url[: url.index(API_KEY)])


SETUPS = {"victorops": Setup("victorops", "webhook", PATH, _config, check_request=_event)}
