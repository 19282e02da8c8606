"""`GET /api/v1/openapi.json`: the OpenAPI description of this router's HTTP API.

The paths and schemas are written by hand in openapi.yml (shipped in the wheel); what can
drift is filled in from the running router at each request: the version, and per
operation its `security` and 401 answer, from the route table's policies and the running
config's `server.auth` (so the document says exactly what this router asks of a caller).
tests/test_openapi.py checks that the document and the route table list the same
operations, and runs schemathesis against a live router.
"""

from __future__ import annotations

import copy
import functools
from importlib import resources
from typing import Any

import yaml
from aiohttp import web

from router import __version__
from router.web.auth import required
from router.web.keys import ROUTE_POLICIES, RUNTIME
from router.web.webconfig import WEB

SECURED: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]
UNAUTHORIZED = {"$ref": "#/components/responses/Unauthorized"}


@functools.cache
def _document() -> dict[str, Any]:
    """The packaged description (a constant of the installed version), read once."""
    text = (resources.files("router.web") / "openapi.yml").read_text(encoding="utf-8")
    doc: dict[str, Any] = yaml.safe_load(text)
    doc["info"]["version"] = __version__
    return doc


def describe(app: web.Application) -> dict[str, Any]:
    """The document for this app: each registered operation's security as configured."""
    doc = copy.deepcopy(_document())
    auth = app[RUNTIME].current.config.server.auth
    users = app[WEB].has_users()  # the web config's basic_auth_users
    for route, policy in app[ROUTE_POLICIES].items():
        path = route.resource.canonical if route.resource is not None else ""
        operation = doc["paths"].get(path, {}).get(route.method.lower())
        if operation is None:
            continue  # HEAD of a GET: implied
        if required(policy, auth, users):
            operation["security"] = SECURED
            operation["responses"]["401"] = UNAUTHORIZED
        else:
            operation["security"] = []
    return doc


async def get_openapi(request: web.Request) -> web.Response:
    return web.json_response(describe(request.app))
