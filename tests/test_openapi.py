"""GET /api/v1/openapi.json: one operation per route of the table, each with the security
the running config asks for. schemathesis runs the document against a live router in
tests/e2e/test_openapi_live.py.
"""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from router import __version__
from router.web.routes import ROUTES

TOKEN = "openapi-token-1234"
OPEN = "route: {receiver: default}\nreceivers: [{name: default}]\n"
AUTH = OPEN + f"server:\n  auth:\n    bearer_tokens: [{TOKEN}]\n"
PUBLIC_READ = AUTH + "    public_read: true\n"


async def document(make_router: Any, config: str) -> dict[str, Any]:
    client, _ = await make_router(config)
    resp = await client.get("/api/v1/openapi.json")  # public: no credentials
    assert resp.status == 200
    doc: dict[str, Any] = await resp.json()
    return doc


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(method.upper(), path): op for path, item in doc["paths"].items()
            for method, op in item.items() if method in ("get", "post", "delete", "put")}


async def test_every_route_is_documented_and_nothing_else(make_router: Any) -> None:
    doc = await document(make_router, OPEN)
    assert doc["openapi"].startswith("3.0")
    for config in (OPEN, AUTH):
        validate(await document(make_router, config))  # the OpenAPI 3.0 meta-schema
    assert doc["info"]["version"] == __version__
    assert set(operations(doc)) == {(method, path) for method, path, _h, _p in ROUTES}
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))


async def test_security_is_what_the_running_config_asks_for(make_router: Any) -> None:
    secured: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"basicAuth": []}]
    # No server.auth: nothing asks for credentials.
    for key, op in operations(await document(make_router, OPEN)).items():
        assert op["security"] == []
        # Logging in checks the credentials it is given itself (a wrong password is 401).
        assert "401" not in op["responses"] or key == ("POST", "/api/v1/session"), key
    ops = operations(await document(make_router, AUTH))
    for (method, path, _h, policy) in ROUTES:
        op = ops[(method, path)]
        if policy == "public":
            assert op["security"] == [], path
        else:
            assert op["security"] == secured, path
            assert op["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}
    ops = operations(await document(make_router, PUBLIC_READ))
    assert ops[("GET", "/api/v1/alerts")]["security"] == []
    assert ops[("POST", "/api/v2/alerts")]["security"] == secured
