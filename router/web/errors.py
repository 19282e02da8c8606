"""The one JSON error middleware: every error answer is `{"error", "detail"[, "path"]}`.

Bad input is a specific 4xx; a fault of ours (store unavailable, any unexpected exception)
is a 503 with Retry-After, never a 500 and never a 4xx: Alertmanager drops on 4xx and
retries on 5xx. Writes before the router is ready (restored from its store) are a 503 too.
Error details never carry secrets: they come from our own messages. A fault of ours is
logged once per cause a minute (an outage fails every request), its traceback at debug.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from router.errors import InputError, StoreUnavailable
from router.web.keys import FAILURES, METRICS, SERVICE

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = "5"

_READS = ("GET", "HEAD", "OPTIONS")

_ERRORS = {400: "bad_json", 401: "unauthorized", 403: "forbidden", 404: "not_found",
           413: "too_large", 415: "unsupported_media_type", 422: "invalid"}


class RequestError(InputError):
    """A request the edge refuses before or beside parsing: carries its HTTP status."""

    def __init__(self, message: str, path: str = "", status: int = 400) -> None:
        super().__init__(message, path)
        self.status = status


def error_response(status: int, error: str, detail: str, path: str | None = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, str] = {"error": error, "detail": detail}
    if path:
        body["path"] = path
    return web.json_response(body, status=status, headers=headers)


def unavailable(detail: str) -> web.Response:
    """A 503 with Retry-After: the caller should try again, nothing was wrong with its input."""
    return error_response(503, "unavailable", detail, headers={"Retry-After": RETRY_AFTER})


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in _READS and not request.app[SERVICE].ready:
        # Not restored yet (the store cannot commit: router/service.py) or stopping.
        return unavailable("the router is not ready: its store cannot commit yet")
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc.status, _ERRORS.get(exc.status, "invalid"), exc.message,
                              exc.path)
    except InputError as exc:
        return error_response(422, "invalid", exc.message, exc.path)
    except StoreUnavailable as exc:
        request.app[METRICS].store_errors.inc()
        request.app[FAILURES].failure("store unavailable", exc, path=request.path)
        return unavailable("the alert store cannot take writes now")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() != "content-type"}
        return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                              exc.text or exc.reason, headers=headers)
    except Exception as exc:
        request.app[FAILURES].failure("request failed", exc, path=request.path)
        return error_response(503, "internal", "internal error; retry later",
                              headers={"Retry-After": RETRY_AFTER})
