"""Bad input is a 4xx with a JSON body, on every endpoint; never a 5xx (issue 11 item 2).

Senders retry 5xx forever, so a request the router cannot accept must say so with a 4xx
and, where there is one, the path of the bad field. One table row per kind of malformed
input and endpoint; the classes the issue names have their own tests with exact paths.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakeclock import FakeClock

from router.config.load import load_config_text
from router.errors import ConfigError

START = 1_800_000_000.0
CONFIG = """
route:
  receiver: hook
receivers:
  - name: hook
sources:
  ev:
    labels:
      alertname: "{{ event.name }}"
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


def silence(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "matchers": [{"name": "a", "value": "1", "isRegex": False}],
        "startsAt": "2027-01-15T08:00:00Z", "endsAt": "2027-01-15T09:00:00Z",
        "createdBy": "me", "comment": "c",
    }
    return body | overrides


# --- the classes named in the issue -------------------------------------------------------


async def test_a_silence_ending_after_year_9999_is_400_with_the_field(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    for ends in ("9999-12-31T23:59:59.999Z", "9999-12-31T23:00:00-01:00"):
        resp = await client.post("/api/v2/silences", json=silence(endsAt=ends))
        assert resp.status == 400
        assert (await resp.json()).startswith("endsAt: ")
    resp = await client.post("/api/v2/silences", json=silence(endsAt="9999-12-31T23:59:59Z"))
    assert resp.status == 200, await resp.text()
    listed = await (await client.get("/api/v2/silences")).json()
    assert listed[0]["endsAt"] == "9999-12-31T23:59:59.000Z"


async def test_a_lone_surrogate_in_a_silence_is_400_with_the_field(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    body = json.dumps(silence(comment="x")).replace('"comment": "x"', '"comment": "\\udc00"')
    resp = await client.post("/api/v2/silences", data=body,
                             headers={"Content-Type": "application/json"})
    assert resp.status == 400
    assert (await resp.json()).startswith("comment: ")


@pytest.mark.parametrize("pattern", ["a{4294967296}", "a{99999999999999999999}"])
async def test_a_regex_repetition_too_large_is_400_with_the_field(
    make_router: Any, pattern: str
) -> None:
    client, _ = await make_router(CONFIG)
    m = {"name": "a", "value": pattern, "isRegex": True}
    resp = await client.post("/api/v2/silences", json=silence(matchers=[m]))
    assert resp.status == 400
    assert (await resp.json()).startswith("matchers[0].value: ")
    # The reads answer as Alertmanager: a JSON string naming what it could not parse.
    for query, prefix in ((f'filter=a=~"{pattern}"', "error parsing regexp: "),
                          (f"receiver={pattern}", "failed to parse receiver param: ")):
        for endpoint in ("/api/v2/alerts", "/api/v2/silences"):
            if query.startswith("receiver") and endpoint.endswith("silences"):
                continue
            resp = await client.get(f"{endpoint}?{query}")
            assert resp.status == 400, endpoint
            answer = await resp.json()
            assert answer.startswith(prefix), answer
            assert "invalid repeat count" in answer, answer


def test_a_regex_repetition_too_large_is_a_config_error(tmp_path: Any) -> None:
    text = CONFIG.replace("  receiver: hook\n", "  receiver: hook\n  routes:\n"
                          "    - matchers: ['a=~\"x{4294967296}\"']\n      receiver: hook\n", 1)
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, str(tmp_path / "c.yml"))
    assert "route.routes[0].matchers[0]: invalid matcher" in str(caught.value)


async def test_a_delivery_id_beyond_sqlite_integers_is_404(make_router: Any) -> None:
    client, _ = await make_router(CONFIG)
    for row in ("99999999999999999999", "-1", "0", "9" * 5000):
        resp = await client.post(f"/api/v1/deliveries/{row}/retry")
        assert resp.status == 404, row
        assert (await resp.json())["path"] == "id"


# --- every endpoint, every kind of malformed input --------------------------------------

JSON_BODIES: list[bytes] = [
    b"\xff\xfe\x00",  # not UTF-8
    b'{"a": "\xed\xa0\x80"}',  # an encoded surrogate
    b"[" * 100_000 + b"]" * 100_000,  # nested too deeply
    b"{",
    b"",
    b"[1e999999]",
    b"[" + b"7" * 5000 + b"]",
    b'["\\ud800"]',
    b"[NaN, -Infinity]",
    b'{"alerts": [{"labels": {"a": "\\udfff"}}]}',
]
POSTS = ["/api/v1/alertmanager", "/api/v2/alerts", "/api/v1/events/ev", "/api/v2/silences"]

REQUESTS: list[tuple[str, str, bytes | None]] = [
    *[("POST", path, body) for path in POSTS for body in JSON_BODIES],
    ("POST", "/api/v1/events/nosuch", b"{}"),
    ("GET", "/api/v2/alerts?filter=%7B", None),
    ("GET", "/api/v2/alerts?filter=a%3D~%22(%22", None),
    ("GET", "/api/v2/alerts?filter=%7Ba%3D%22b%22%7D", None),  # `{a="b"}`: one matcher each
    ("GET", "/api/v2/alerts?receiver=(", None),
    ("GET", "/api/v2/silence/%ED%A0%80", None),
    ("GET", "/api/v2/silence/" + "x" * 4000, None),
    ("DELETE", "/api/v2/silence/nosuch", None),
    ("GET", "/api/v1/alerts/%ED%A0%80/trace", None),
    ("GET", "/api/v1/deliveries?state=gone", None),
    ("GET", "/api/v1/deliveries?limit=" + "9" * 5000, None),
    ("GET", "/api/v1/deliveries?limit=1e3", None),
    ("POST", "/api/v1/deliveries/abc/retry", None),
    ("POST", "/api/v1/deliveries/%ED%A0%80/retry", None),
]


@pytest.mark.parametrize(("method", "path", "body"), REQUESTS,
                         ids=[f"{m} {p[:40]} {str(b)[:24]}" for m, p, b in REQUESTS])
async def test_malformed_input_is_a_4xx_with_a_json_body(
    make_router: Any, method: str, path: str, body: bytes | None
) -> None:
    client, state = await make_router(CONFIG)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    resp = await client.request(method, path, data=body, headers=headers)
    text = await resp.text()
    assert 400 <= resp.status < 500, text
    json.loads(text)  # every error is a JSON body
    assert state.ingestor.alerts == {}
    assert (await client.get("/-/healthy")).status == 200


@pytest.mark.parametrize(("template", "event"), [
    # a macro recursing as deep as the event says (RecursionError)
    ("{% macro m(n) %}{% if n > 0 %}{{ m(n - 1) }}{% endif %}{% endmacro %}X{{ m(event.depth) }}",
     {"depth": 100_000}),
    # a filter meeting a value of the wrong type (AttributeError)
    ("X{{ event.depth | xmlattr }}", {"depth": "a string"}),
])
async def test_an_event_a_source_template_cannot_render_is_422(
    make_router: Any, template: str, event: dict[str, Any]
) -> None:
    """Found by tests/fuzz: these errors escaped the mapper and answered 503, which a
    sender retries forever; the same template renders a well-formed event."""
    client, state = await make_router(CONFIG.replace('"{{ event.name }}"', json.dumps(template)))
    resp = await client.post("/api/v1/events/ev", json=event)
    assert resp.status == 422, await resp.text()
    answer = await resp.json()
    assert answer["path"] == "$"
    assert answer["detail"].startswith("source 'ev' could not map the event")
    resp = await client.post("/api/v1/events/ev", json={"depth": 3} if "m(" in template
                             else {"depth": {"a": "b"}})
    assert resp.status == 202, await resp.text()
    assert len(state.ingestor.alerts) == 1
