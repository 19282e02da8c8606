"""incident.io's part in the channel contract test: the alert source token is a bearer
token and the alert source URL is a secret too."""

from __future__ import annotations

from router.channels.incidentio import IncidentioConfig
from router.config.types import Secret

from .contract import Setup
from .fakes import Recorded

SOURCE_TOKEN = "inc_SECRETalertSourceToken99"
SOURCE_ID = "01SECRETSOURCEID55"
SECRETS = (SOURCE_TOKEN, SOURCE_ID)


def _message(req: Recorded) -> None:
    assert req.headers["Authorization"] == f"Bearer {SOURCE_TOKEN}"
    body = req.json()
    assert (body["version"], body["groupKey"], body["status"]) == ("1", "{}:{}", "firing")


SETUPS = {
    "incidentio": Setup(
        "incidentio", "webhook", f"/v2/alert_events/alertmanager/{SOURCE_ID}",
        lambda url: IncidentioConfig(url=Secret(url), alert_source_token=Secret(SOURCE_TOKEN)),
        check_request=_message,
    ),
}
