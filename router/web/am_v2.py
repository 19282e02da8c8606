"""Alertmanager's API v2 for silences and receivers, so `amtool` works unchanged.

Shapes and status codes follow Alertmanager 0.25 (what amtool's generated client reads):
silence refusals are its JSON strings (or go-swagger's 422 object). Alerts live in
router/web/am_alerts.py and am_groups.py; status (`GET /api/v2/status`) with the other
operations endpoints in router/web/ops.py.
"""

from __future__ import annotations

import json

from aiohttp import web

from router.errors import (
    InputError,
    MatcherError,
    SilenceError,
    SilenceNotFound,
    SilenceSchemaError,
)
from router.events.build import silence_events
from router.events.model import SILENCE_CREATED, SILENCE_EXPIRED, SILENCE_UPDATED
from router.matchers import Matcher, parse_classic_matcher
from router.noise.silence_api import filter_silences, silence_from_api, silence_to_api
from router.noise.silences import expire, update_silence
from router.web import jsonbody
from router.web.alerts import each_shown
from router.web.errors import RequestError
from router.web.keys import CLOCK, RUNTIME, SILENCES, STORE


def _filters(request: web.Request) -> list[Matcher]:
    """`filter` parameters as Alertmanager 0.25's parseFilter reads them: one
    `labels.ParseMatcher` matcher each (so `{a="b"}` is refused); MatcherError otherwise."""
    return [parse_classic_matcher(text) for text in request.query.getall("filter", [])]


# --- silences ---------------------------------------------------------------------------

def am_error(status: int, message: str, path: str = "") -> web.Response:
    """Alertmanager answers silence errors with a JSON string, which is what amtool's client
    decodes and prints (an object would print as a decode error instead)."""
    return web.json_response(f"{path}: {message}" if path else message, status=status)


async def get_silences(request: web.Request) -> web.Response:
    app = request.app
    now = app[CLOCK].now()
    silences = app[SILENCES]
    try:
        filters = _filters(request)
    except MatcherError as exc:
        return am_error(400, exc.message)  # a JSON string, as Alertmanager answers
    found = filter_silences(list(silences), filters, now)
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
    except SilenceSchemaError as exc:  # go-swagger's own answer, before Alertmanager's code
        return web.json_response({"code": exc.code, "message": exc.am_message}, status=422)
    except SilenceError as exc:
        if exc.alertmanager:  # Alertmanager's exact words, which amtool prints
            return web.json_response(exc.alertmanager, status=400,  # go-swagger's newline
                                     dumps=lambda o: json.dumps(o) + "\n")
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


# --- receivers ----------------------------------------------------------------------

async def get_receivers(request: web.Request) -> web.Response:
    return web.json_response([{"name": n} for n in request.app[RUNTIME].current.receivers])
