"""The Jira channel: one issue per alert group, found again by its `ALERT{hash}` label.

Rendering (pure) fills the issue's fields once. Sending does what Alertmanager does:
search the group's issue by JQL; create it (firing only) or update it; then resolve it
(`resolve_transition`) when the group resolved, or reopen it (`reopen_transition`) when it
fires again within `reopen_duration`. A retry repeats the whole sequence, which is safe:
the search finds what an earlier attempt created.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from router.channels.base import SendContext, excerpt, json_object, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.channels.jira.config import JiraConfig
from router.channels.jira.issue import (
    MAX_SUMMARY,
    description_value,
    group_label,
    join,
    render_value,
    search_jql,
    search_url,
)
from router.config.types import Pacing
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# Jira Cloud budgets requests per user; a send takes two to four of them.
JIRA_PACING = Pacing(rate=1.0, burst=5)


class JiraChannel:
    kind = "jira"

    def __init__(self, cfg: JiraConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or JIRA_PACING
        self.target = target_id("jira", cfg.api_url, cfg.project)
        self._renderer = renderer
        self._http = http
        self._user_agent = user_agent()
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        self._project = renderer.compile_string(cfg.project)
        self._issue_type = renderer.compile_string(cfg.issue_type)
        text = renderer.text_or_macro
        self._summary = text(cfg.summary.template, "jira.j2", "summary")
        self._description = text(cfg.description.template, "jira.j2", "description")
        self._priority = text(cfg.priority, "jira.j2", "priority")
        self._labels = [renderer.compile_string(label) for label in cfg.labels]
        for value in cfg.fields.values():
            render_value(value, renderer.compile_string)

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        firing = any(not a.resolved(n.now) for a in n.alerts)
        label = group_label(n.group_key)
        try:
            project, fields = self._fields_for(n, label)
        except Exception:
            self._renderer.failed(self.kind, n.receiver)
            project, fields = self._plain_fields(n, label)
        body = {"label": label, "firing": firing, "project": project, "fields": fields}
        return json.dumps(body, ensure_ascii=False).encode()

    def _fields_for(self, n: Notification, label: str) -> tuple[str, dict[str, Any]]:
        d = template_data(n)
        project = self._project.render(d)
        fields: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": self._issue_type.render(d)},
            "summary": cut(self._summary(d), MAX_SUMMARY),
            # A label template that renders empty adds no label (Jira refuses "").
            "labels": sorted({*(t.render(d).strip() for t in self._labels), label} - {""}),
        }
        description = description_value(self.cfg, self._description(d))
        if description is not None:
            fields["description"] = description
        priority = self._priority(d) if self.cfg.priority != "" else ""
        if priority:
            fields["priority"] = {"name": priority}
        for name, value in self.cfg.fields.items():
            fields[name] = render_value(value, lambda s: self._renderer.compile_string(s)
                                        .render(d))
        return project, fields

    def _plain_fields(self, n: Notification, label: str) -> tuple[str, dict[str, Any]]:
        text = self._renderer.plain_text(n)
        fields: dict[str, Any] = {
            "project": {"key": self.cfg.project},
            "issuetype": {"name": self.cfg.issue_type},
            "summary": cut(text.partition("\n")[0], MAX_SUMMARY),
            "labels": [label],
            "description": description_value(self.cfg, text),
        }
        return self.cfg.project, fields

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        p = json.loads(payload)
        firing = bool(p["firing"])
        jql = search_jql(self.cfg, p["project"], p["label"], firing)
        found = await self._call("POST", search_url(self.cfg), ctx, "search issues",
                                 {"jql": jql, "maxResults": 2, "fields": ["status"]})
        issues = found.get("issues") if isinstance(found, dict) else None
        if not issues:
            if not firing:
                return {}  # nothing to resolve; a resolved group opens no issue
            created = await self._call("POST", join(self.cfg.api_url, "issue"), ctx,
                                       "create issue", {"fields": p["fields"]})
            key = created.get("key") if isinstance(created, dict) else None
            return {"issue": str(key)} if key else {}
        issue = issues[0]  # the open one first, else the most recently resolved
        key = str(issue.get("key", ""))
        fields = dict(p["fields"])
        if not self.cfg.summary.enable_update:
            fields.pop("summary", None)
        if not self.cfg.description.enable_update:
            fields.pop("description", None)
        await self._call("PUT", join(self.cfg.api_url, f"issue/{key}"), ctx,
                         "update issue", {"fields": fields})
        await self._transition(key, _category(issue), firing, ctx)
        return {"issue": key}

    async def _transition(self, key: str, category: str, firing: bool,
                          ctx: SendContext) -> None:
        if firing:
            name = self.cfg.reopen_transition if category == "done" else ""
        else:
            name = self.cfg.resolve_transition if category != "done" else ""
        if not name or not category:
            return
        url = join(self.cfg.api_url, f"issue/{key}/transitions")
        answer = await self._call("GET", url, ctx, "list transitions", None)
        listed = answer.get("transitions") if isinstance(answer, dict) else None
        ids = [t.get("id") for t in listed or [] if isinstance(t, dict) and t.get("name") == name]
        if not ids:
            raise DeliveryError(FailureReason.CLIENT_ERROR,
                                f"jira: can't find transition {name!r} for issue {key}",
                                retryable=False)
        await self._call("POST", url, ctx, "transition issue", {"transition": {"id": ids[0]}})

    async def _call(self, method: str, url: str, ctx: SendContext, what: str,
                    body: Any) -> Any:
        data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Accept-Language": "en", "User-Agent": self._user_agent}
        status, resp_headers, text = await self._http.post(
            url, data, headers=headers, timeout=ctx.timeout, endpoint="jira api",
            http_config=self.cfg.http_config, method=method)
        error = classify_http(status, resp_headers, text)
        if error is not None:
            raise error.with_message(f"jira {what}: HTTP {status}: "
                                     f"{excerpt(jira_errors(text))}")
        try:
            return json.loads(text) if text.strip() else None
        except ValueError:
            return None


def _category(issue: dict[str, Any]) -> str:
    status = (issue.get("fields") or {}).get("status") or {}
    return str((status.get("statusCategory") or {}).get("key", ""))


def jira_errors(text: str) -> str:
    """Jira's `{"errorMessages": [...], "errors": {"field": "message"}}`, in one line."""
    answer = json_object(text)
    if answer is None:
        return text
    parts = [str(m) for m in answer.get("errorMessages") or []]
    errors = answer.get("errors")
    if isinstance(errors, dict):
        parts += [f"{k}: {v}" for k, v in errors.items()]
    return "; ".join(parts) or text


def build(cfg: JiraConfig, renderer: Renderer, http: HttpClient) -> JiraChannel:
    if not isinstance(cfg, JiraConfig):
        raise TypeError(f"jira channel needs a JiraConfig, got {type(cfg).__name__}")
    return JiraChannel(cfg, renderer, http)
