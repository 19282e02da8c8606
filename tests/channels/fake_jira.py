"""A stateful loopback fake of Jira's REST API (v2 and v3), as Alertmanager's notifier uses it.

It keeps issues; answers JQL searches (tests/channels/fake_jira_jql.py) by project,
label, status category, resolution and resolution date on the test's clock; creates,
updates and transitions issues through a To Do → In Progress → Done workflow with a
Reopen; and validates auth and fields with Jira's error shape (`errorMessages`,
`errors`). Jira Cloud's removed `/rest/api/3/search` answers 410, as on Cloud.
"""

from __future__ import annotations

import base64
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from fakeclock import FakeClock
from pytest_aiohttp import AiohttpServer

from .fake_jira_jql import JqlError, parse_jql
from .fakes import Recorded

EMAIL = "alerts@example.com"
API_TOKEN = "ATATT3xSECRETjiraToken0123456789"
PROJECTS = {"OPS": ("Bug", "Task", "Incident")}
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
CUSTOM_FIELDS = ("customfield_10001", "components")
CATEGORIES = {"To Do": ("new", "To Do"), "In Progress": ("indeterminate", "In Progress"),
              "Done": ("done", "Done")}
# id, name, from statuses, to status, resolution set
TRANSITIONS = (
    ("21", "Start Progress", ("To Do",), "In Progress", None),
    ("31", "Done", ("To Do", "In Progress"), "Done", "Done"),
    ("41", "Won't Do", ("To Do", "In Progress"), "Done", "Won't Fix"),
    ("51", "Reopen", ("Done",), "To Do", None),
)
_JSON = web.RequestKey("json", dict[str, Any])
_STANDARD = ("project", "issuetype", "summary", "description", "labels", "priority")


def _error(status: int, messages: list[str] | None = None,
           errors: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"errorMessages": messages or [], "errors": errors or {}},
                             status=status)


@dataclass
class JiraFake:
    server: TestServer
    clock: FakeClock
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # Scripted answers to the next requests: (status, headers); status 0 passes one through.
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/rest/api/2/"))

    def url_v3(self) -> str:
        return str(self.server.make_url("/rest/api/3/"))

    def issue(self, key: str) -> dict[str, Any]:
        return self.issues[key]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(Recorded(request.method, request.path, dict(request.query),
                                      dict(request.headers), body))
        if not self._authorized(request.headers.get("Authorization", "")):
            return _error(401, ["You are not authenticated. Authentication required to "
                                "perform this operation."])
        status, headers = self.script.pop(0) if self.script else (0, {})
        if status:  # a scripted answer; 0 lets the request through
            return web.json_response({"errorMessages": [f"scripted {status}"], "errors": {}},
                                     status=status, headers=headers)
        if request.method in ("POST", "PUT"):
            try:
                sent = json.loads(body)
            except ValueError:
                return _error(400, ["Unexpected character in the request body."])
            if not isinstance(sent, dict):
                return _error(400, ["Can not deserialize the request body as an object."])
            request[_JSON] = sent
        resp: web.StreamResponse = await handler(request)
        return resp

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            return base64.b64decode(value).decode() == f"{EMAIL}:{API_TOKEN}"
        except ValueError:
            return False

    # --- search ---------------------------------------------------------------------

    async def search(self, request: web.Request) -> web.Response:
        version = request.match_info["v"]
        if version == "3" and not request.path.endswith("/jql"):
            return _error(410, ["The requested API has been removed. Please migrate to the "
                                "/rest/api/3/search/jql API."])
        q = request[_JSON]
        if not isinstance(q.get("jql"), str):
            return _error(400, ["The JQL query is required."])
        try:
            query = parse_jql(q["jql"], set(PROJECTS))
        except JqlError as exc:
            return _error(400, [str(exc)])
        now = self.clock.now()
        hits = [i for i in self.issues.values() if query.where(i, now)]
        for name, direction in reversed(query.order):
            hits.sort(key=functools.partial(_sort_key, name=name),
                      reverse=direction == "desc")
        limit = int(q.get("maxResults", 50))
        shown = [self._view(i, request) for i in hits[:limit]]
        if version == "3":
            return web.json_response({"issues": shown, "isLast": len(hits) <= limit})
        return web.json_response({"startAt": 0, "maxResults": limit, "total": len(hits),
                                  "issues": shown})

    def _view(self, issue: dict[str, Any], request: web.Request) -> dict[str, Any]:
        key, name = CATEGORIES[issue["status"]]
        return {"id": issue["id"], "key": issue["key"],
                "self": str(request.url.with_path(f"/rest/api/2/issue/{issue['id']}")),
                "fields": {"status": {"name": issue["status"],
                                      "statusCategory": {"key": key, "name": name}}}}

    # --- create and update ----------------------------------------------------------

    async def create(self, request: web.Request) -> web.Response:
        fields = request[_JSON].get("fields")
        if not isinstance(fields, dict):
            return _error(400, ["Issue must have fields."])
        errors = self._validate(fields, request.match_info["v"], None)
        if errors:
            return _error(400, errors=errors)
        number = len(self.issues) + 1
        key = f"{fields['project']['key']}-{number}"
        issue = {"id": str(10000 + number), "key": key, "status": "To Do",
                 "statuscategory": "To Do", "resolution": None, "resolutiondate": None,
                 "project": fields["project"]["key"], "issuetype": fields["issuetype"]["name"],
                 "labels": [], "updates": 0, "fields": {}}
        self._apply(issue, fields)
        self.issues[key] = issue
        return web.json_response({"id": issue["id"], "key": key,
                                  "self": str(request.url.with_path(
                                      f"/rest/api/2/issue/{issue['id']}"))}, status=201)

    async def update(self, request: web.Request) -> web.Response:
        issue = self.issues.get(request.match_info["key"])
        if issue is None:
            return _error(404, ["Issue does not exist or you do not have permission to see it."])
        fields = request[_JSON].get("fields") or {}
        errors = self._validate(fields, request.match_info["v"], issue)
        if errors:
            return _error(400, errors=errors)
        self._apply(issue, fields)
        issue["updates"] += 1
        return web.Response(status=204)

    def _apply(self, issue: dict[str, Any], fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            if name == "labels":
                issue["labels"] = list(value)
            elif name == "priority":
                issue["priority"] = value["name"]
            elif name not in ("project", "issuetype"):
                issue["fields"][name] = value

    def _validate(self, fields: dict[str, Any], version: str,
                  issue: dict[str, Any] | None) -> dict[str, str]:
        errors: dict[str, str] = {}
        project = (fields.get("project") or {}).get("key")
        changed = issue is not None and project != issue["project"]
        if (issue is None or "project" in fields) and (project not in PROJECTS or changed):
            errors["project"] = "Specify a valid project ID or key"
        issuetype = (fields.get("issuetype") or {}).get("name")
        if issue is None or "issuetype" in fields:
            types = PROJECTS.get(project or (issue or {}).get("project", ""), ())
            if issuetype not in types:
                errors["issuetype"] = "Specify a valid issue type"
        if issue is None or "summary" in fields:
            errors.update(_summary_errors(fields.get("summary")))
        if "description" in fields:
            errors.update(_description_errors(fields["description"], version))
        for label in fields.get("labels", []):
            if not isinstance(label, str) or " " in label or not label or len(label) > 255:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        if "priority" in fields and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = "The priority selected is invalid."
        for name in fields:
            if name not in _STANDARD and name not in CUSTOM_FIELDS:
                errors[name] = (f"Field '{name}' cannot be set. It is not on the appropriate "
                                "screen, or unknown.")
        return errors

    # --- transitions ----------------------------------------------------------------

    async def transitions(self, request: web.Request) -> web.Response:
        issue = self.issues.get(request.match_info["key"])
        if issue is None:
            return _error(404, ["Issue does not exist or you do not have permission to see it."])
        listed = [{"id": tid, "name": name, "to": {"name": to, "statusCategory": {
                   "key": CATEGORIES[to][0]}}}
                  for tid, name, sources, to, _ in TRANSITIONS if issue["status"] in sources]
        return web.json_response({"expand": "transitions", "transitions": listed})

    async def transition(self, request: web.Request) -> web.Response:
        issue = self.issues.get(request.match_info["key"])
        if issue is None:
            return _error(404, ["Issue does not exist or you do not have permission to see it."])
        wanted = (request[_JSON].get("transition") or {}).get("id")
        for tid, _, sources, to, resolution in TRANSITIONS:
            if tid == wanted and issue["status"] in sources:
                issue["status"] = issue["statuscategory"] = to
                done = CATEGORIES[to][0] == "done"
                issue["resolution"] = resolution if done else None
                issue["resolutiondate"] = self.clock.now() if done else None
                return web.Response(status=204)
        return _error(400, [f"Transition id '{wanted}' is not valid for this issue."])


def _summary_errors(summary: Any) -> dict[str, str]:
    if not isinstance(summary, str) or not summary.strip():
        return {"summary": "You must specify a summary of the issue."}
    if len(summary) > 255:
        return {"summary": "Summary must be less than 255 characters."}
    if "\n" in summary or "\r" in summary:
        return {"summary": "The summary is invalid because it contains newline characters."}
    return {}


def _description_errors(value: Any, version: str) -> dict[str, str]:
    if version == "2" and not isinstance(value, str):
        return {"description": "Operation value must be a string"}
    if version == "3" and not (isinstance(value, dict) and value.get("type") == "doc"
                               and value.get("version") == 1
                               and isinstance(value.get("content"), list)):
        return {"description": "Operation value must be an Atlassian Document (see the "
                               "Atlassian Document Format)"}
    return {}


def _sort_key(issue: dict[str, Any], *, name: str) -> Any:
    if name == "status":
        return list(CATEGORIES).index(issue["status"])
    if name == "resolutiondate":
        return issue["resolutiondate"] or 0.0
    return str(issue.get(name, ""))


async def start_jira(aiohttp_server: AiohttpServer, clock: FakeClock | None = None) -> JiraFake:
    fake = JiraFake(server=None, clock=clock or FakeClock())  # type: ignore[arg-type]
    app = web.Application(middlewares=[fake.middleware])
    base = "/rest/api/{v:[23]}"
    app.router.add_post(f"{base}/search", fake.search)
    app.router.add_post(f"{base}/search/jql", fake.search)
    app.router.add_post(f"{base}/issue", fake.create)
    app.router.add_put(f"{base}/issue/{{key}}", fake.update)
    app.router.add_get(f"{base}/issue/{{key}}/transitions", fake.transitions)
    app.router.add_post(f"{base}/issue/{{key}}/transitions", fake.transition)
    fake.server = await aiohttp_server(app, access_log=None)
    return fake
