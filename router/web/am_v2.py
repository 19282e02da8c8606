"""Alertmanager's API v2 for silences, alerts and receivers, so `amtool` works unchanged.

Shapes and status codes follow Alertmanager 0.25 (what amtool's generated client reads);
error answers keep this project's JSON `{"error", "detail", "path"}` body. Status
(`GET /api/v2/status`) lives with the other operations endpoints in router/web/ops.py.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.errors import (
    InputError,
    MatcherError,
    SilenceError,
    SilenceNotFound,
)
from router.events.build import silence_events
from router.events.model import SILENCE_CREATED, SILENCE_EXPIRED, SILENCE_UPDATED
from router.matchers import Matcher, parse_matchers
from router.model import Alert
from router.noise.silence_api import filter_silences, silence_from_api, silence_to_api
from router.noise.silences import expire, update_silence
from router.regex import Regex
from router.timefmt import format_time_ms
from router.web import jsonbody
from router.web.alerts import each_shown
from router.web.errors import RequestError
from router.web.keys import CLOCK, DISPATCHER, INGESTOR, RUNTIME, SILENCES, STORE


def _filters(request: web.Request) -> list[Matcher]:
    out: list[Matcher] = []
    for i, text in enumerate(request.query.getall("filter", [])):
        try:
            found = parse_matchers(text)
            if not found:  # `{}`, `{`: Alertmanager wants a matcher in every filter
                raise MatcherError(f"bad matcher format: {text}")
            out.extend(found)
        except MatcherError as exc:
            raise RequestError(f"bad filter {text!r}: {exc.message}", f"filter[{i}]",
                               400) from None
    return out


def _flag(request: web.Request, name: str, default: bool = True) -> bool:
    value = request.query.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise RequestError(f"{name} must be true or false", name, 400)
    return value.lower() == "true"


# --- silences ---------------------------------------------------------------------------

def am_error(status: int, message: str, path: str = "") -> web.Response:
    """Alertmanager answers silence errors with a JSON string, which is what amtool's client
    decodes and prints (an object would print as a decode error instead)."""
    return web.json_response(f"{path}: {message}" if path else message, status=status)


async def get_silences(request: web.Request) -> web.Response:
    app = request.app
    now = app[CLOCK].now()
    silences = app[SILENCES]
    found = filter_silences(list(silences), _filters(request), now)
    return web.json_response(each_shown(found, lambda s: silence_to_api(s, now)))


async def post_silence(request: web.Request) -> web.Response:
    app = request.app
    now = app[CLOCK].now()
    try:
        body = jsonbody.loads(await request.read())
    except InputError as exc:  # malformed JSON, or a value no silence can hold
        return am_error(400, exc.message, "" if exc.path == "$" else exc.path)
    try:
        new = silence_from_api(body, now)
        existing = app[SILENCES].get(new.id) if new.id else None
        current, old = update_silence(existing, new, now)
    except SilenceNotFound as exc:
        return am_error(404, exc.message, exc.path)
    except SilenceError as exc:
        return am_error(400, exc.message, exc.path)
    # The new silence and the expired old one commit together (one transaction).
    changes = [(SILENCE_UPDATED if existing is not None and old is None else SILENCE_CREATED,
                current)]
    if old is not None:
        changes.insert(0, (SILENCE_EXPIRED, old))
    await app[STORE].upsert_silences([s for s in (current, old) if s is not None],
                                     silence_events(changes, now))
    for silence in (old, current):
        if silence is not None:
            app[SILENCES].add(silence)  # inserts or replaces by id
    return web.json_response({"silenceID": current.id})


async def get_silence(request: web.Request) -> web.Response:
    app = request.app
    silence = app[SILENCES].get(request.match_info["id"])
    if silence is None:
        raise RequestError("silence not found", "silenceID", 404)
    return web.json_response(silence_to_api(silence, app[CLOCK].now()))


async def delete_silence(request: web.Request) -> web.Response:
    app = request.app
    silence = app[SILENCES].get(request.match_info["id"])
    if silence is None:
        raise RequestError("silence not found", "silenceID", 404)
    expired = expire(silence, app[CLOCK].now())
    if expired != silence:
        await app[STORE].upsert_silences(
            [expired], silence_events([(SILENCE_EXPIRED, expired)], app[CLOCK].now()))
        app[SILENCES].replace(expired)
    return web.json_response(None)


# --- alerts -----------------------------------------------------------------------------

def gettable_alert(app: web.Application, alert: Alert, now: float) -> dict[str, Any]:
    routes = app[DISPATCHER].router.match(alert.labels)
    mute = app[RUNTIME].current.muter.alert(alert, now, routes)
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "fingerprint": alert.fingerprint,
        "startsAt": format_time_ms(alert.starts_at),
        "endsAt": format_time_ms(alert.ends_at if alert.ends_at is not None else now),
        "updatedAt": format_time_ms(alert.updated_at),
        "generatorURL": alert.generator_url,
        "receivers": [{"name": r} for r in dict.fromkeys(route.receiver for route in routes)],
        "status": {
            "state": "suppressed" if mute.muted else "active",
            "silencedBy": list(mute.silenced_by),
            "inhibitedBy": list(mute.inhibited_by),
            "mutedBy": list(mute.muted_by),
        },
    }


async def get_alerts(request: web.Request) -> web.Response:
    app = request.app
    now = app[CLOCK].now()
    filters = _filters(request)
    want_active = _flag(request, "active")
    want_silenced = _flag(request, "silenced")
    want_inhibited = _flag(request, "inhibited")
    receiver_re = request.query.get("receiver")
    try:
        # Alertmanager: regexp.Compile("^(?:" + receiver + ")$"), so RE2 and anchored.
        receiver = Regex(receiver_re) if receiver_re else None
    except MatcherError as exc:
        raise RequestError(f"bad receiver regex: {exc.message}", "receiver", 400) from None

    def wanted(item: dict[str, Any]) -> bool:
        st = item["status"]
        if st["state"] == "active" and not want_active:
            return False
        if st["silencedBy"] and not want_silenced:
            return False
        if st["inhibitedBy"] and not want_inhibited:
            return False
        return not receiver or any(receiver.fullmatch(r["name"]) for r in item["receivers"])

    # Like Alertmanager, the API lists alerts that have not resolved.
    held = sorted(app[INGESTOR].alerts.values(), key=lambda a: a.fingerprint)
    live = [a for a in held
            if not a.resolved(now) and all(m.matches(a.labels) for m in filters)]
    items = each_shown(live, lambda a: gettable_alert(app, a, now))
    return web.json_response([item for item in items if wanted(item)])


async def get_receivers(request: web.Request) -> web.Response:
    return web.json_response([{"name": n} for n in request.app[RUNTIME].current.receivers])
