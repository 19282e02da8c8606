"""Jira's part in the channel contract test: the API token travels in basic auth; a
successful send searches for the group's issue, then creates it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from router.channels.jira import JiraConfig
from router.config.types import BasicAuth, HttpConfig, Secret

from .contract import Setup
from .fakes import Recorded

API_TOKEN = "ATATT3xSECRETcontractJira77"
SECRETS = (API_TOKEN,)


def _create(req: Recorded) -> None:
    assert req.path == "/rest/api/2/issue"
    assert req.headers["Authorization"].startswith("Basic ")
    fields = req.json()["fields"]
    assert fields["project"] == {"key": "OPS"}
    assert fields["labels"] == ["ALERT{" + hashlib.sha256(b"{}:{}").hexdigest() + "}"]


def _state(state: Mapping[str, str]) -> None:
    assert state == {"issue": "OPS-1"}


SETUPS = {
    "jira": Setup(
        "jira", "jira", "/rest/api/2/",
        lambda url: JiraConfig(api_url=url, project="OPS", issue_type="Bug", http_config=(
            HttpConfig(basic_auth=BasicAuth("me@example.com", Secret(API_TOKEN))))),
        check_request=_create, check_state=_state, requests=2,
    ),
}
