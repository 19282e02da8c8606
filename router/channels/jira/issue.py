"""What Alertmanager's Jira notifier asks of Jira, as pure functions: the issue fields
rendered from a notification, the group label, the JQL that finds the group's issue and
the search endpoint for the API type.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from router.channels.base import key_hash
from router.channels.http import cut
from router.channels.jira.config import JiraConfig

MAX_SUMMARY = 255  # runes, as Alertmanager cuts it
MAX_DESCRIPTION = 32_767


def group_label(group_key: str) -> str:
    """The label that ties a group to its issue: `ALERT{<hash>}`."""
    return f"ALERT{{{key_hash(group_key)}}}"


def go_quote(text: str) -> str:
    """Go's `%q` for the printable strings JQL carries."""
    return json.dumps(text, ensure_ascii=False)


def search_jql(cfg: JiraConfig, project: str, label: str, firing: bool) -> str:
    """Alertmanager's JQL, clause for clause: open issues (or, with a reopen transition,
    issues resolved within `reopen_duration`), not won't-fix, of the project and group."""
    jql = ""
    if cfg.wont_fix_resolution:
        # `resolution != X` alone drops unresolved issues (alertmanager#4295).
        jql += f"(resolution is EMPTY or resolution != {go_quote(cfg.wont_fix_resolution)}) and "
    minutes = int(cfg.reopen_duration // 60)
    if firing and cfg.reopen_transition and minutes > 0:
        jql += f"(resolutiondate is EMPTY OR resolutiondate >= -{minutes}m) and "
    else:
        jql += "statusCategory != Done and "
    jql += (f"project={go_quote(project)} and labels={go_quote(label)} "
            "order by status ASC,resolutiondate DESC")
    return jql


def join(api_url: str, path: str) -> str:
    """Go's `URL.JoinPath` for the simple paths used here."""
    return api_url.rstrip("/") + "/" + path.lstrip("/")


def search_url(cfg: JiraConfig) -> str:
    """Jira Cloud removed `/search` for `/rest/api/3/search/jql`, which Data Center lacks:
    `cloud` (or `auto` on an atlassian.net host) takes the new one."""
    host = urlsplit(cfg.api_url).hostname or ""
    if cfg.api_type == "cloud" or (cfg.api_type == "auto" and host.endswith("atlassian.net")):
        parts = urlsplit(join(cfg.api_url, "search/jql"))
        return urlunsplit(parts._replace(path=parts.path.replace("/rest/api/2/",
                                                                 "/rest/api/3/", 1)))
    return join(cfg.api_url, "search")


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document (API v3 refuses a string description): one
    paragraph per line."""
    paragraphs = [{"type": "paragraph", "content": [{"type": "text", "text": line}]}
                  if line else {"type": "paragraph", "content": []}
                  for line in text.strip("\n").split("\n")]
    return {"type": "doc", "version": 1, "content": paragraphs}


def description_value(cfg: JiraConfig, text: str) -> Any:
    """The `description` field: wiki text for API v2; for v3 the rendered JSON document,
    or the text wrapped in one when the template renders plain text (Alertmanager's
    default description does; Alertmanager then fails, alert-router still files it)."""
    text = cut(text, MAX_DESCRIPTION)  # Alertmanager's TruncateInRunes
    if not cfg.api_v3:
        return text or None
    stripped = text.strip()
    if not stripped:
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return adf_document(text)
    return value if isinstance(value, dict) else adf_document(text)


def render_value(value: Any, render: Any) -> Any:
    """A custom field value with every string rendered as a template (DeepCopyWithTemplate)."""
    if isinstance(value, str):
        return render(value)
    if isinstance(value, list):
        return [render_value(v, render) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, render) for k, v in value.items()}
    return value
