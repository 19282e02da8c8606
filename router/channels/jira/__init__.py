"""Jira (REST API v2/v3): the channel's registry face and public names.

Split by concern so each module stays small: `config` (JiraConfig and the parser of
`jira_configs`), `issue` (Alertmanager's fields, label, JQL and endpoints, pure) and
`channel` (rendering and the search → create/update → transition sequence).
"""

from __future__ import annotations

from router.channels.jira.channel import JIRA_PACING, JiraChannel, build
from router.channels.jira.config import CONFIG_KEY, KEYS, JiraConfig, JiraField, parse
from router.channels.jira.issue import group_label, search_jql

__all__ = ["CONFIG_KEY", "JIRA_PACING", "KEYS", "JiraChannel", "JiraConfig", "JiraField",
           "build", "group_label", "parse", "search_jql"]
