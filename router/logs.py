"""Structured logging: JSON lines in production, readable `key=value` lines on a terminal,
and `RepeatLog`, which keeps a failure repeating during an outage to one line a minute."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = " ".join(f"{k}={v!r}" if isinstance(v, str) and " " in v else f"{k}={v}"
                          for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line += "  " + fields
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log line per request would swamp the output at alert rates.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class RepeatLog:
    """A failure that repeats (every group, every group_interval, during an outage) is
    logged once per cause per `window` seconds at `level` (error unless told), with
    `count`: how many times it happened since its last line, this one included. The
    occurrences the window holds back, and the traceback of each, go to debug level only.

    A cause is the message, the exception's type and text (or the caller's `cause`), and
    the `per` extra fields named at the call (`per=("receiver",)`: one line per receiver).
    A caller whose exception may quote a secret passes only a `cause`: no traceback then.
    `now` is the caller's clock.
    """

    _MAX_CAUSES = 1000

    def __init__(self, logger: logging.Logger, now: Callable[[], float],
                 window: float = 60.0) -> None:
        self._log = logger
        self._now = now
        self._window = window
        # cause -> [time of the last line, occurrences held back since]
        self._seen: dict[tuple[str, ...], list[float]] = {}

    def failure(self, message: str, exc: BaseException | None = None, *,
                cause: str | None = None, per: Sequence[str] = (),
                level: int = logging.ERROR, **extra: Any) -> bool:
        """Note one occurrence; True if it was logged at `level`."""
        if cause is None:
            cause = describe(exc) if exc is not None else ""
        now = self._now()
        key = (message, cause, *(str(extra.get(name, "")) for name in per))
        if cause:
            extra["cause"] = cause
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self._window:
            entry[1] += 1
            logged = False
        else:
            count = 1 + (int(entry[1]) if entry is not None else 0)
            self._forget_old(now)
            self._seen[key] = [now, 0]
            self._log.log(level, message, extra={**extra, "count": count},
                          stacklevel=2)
            logged = True
        if (exc is not None or not logged) and self._log.isEnabledFor(logging.DEBUG):
            self._log.debug(message, exc_info=exc, extra=extra, stacklevel=2)
        return logged

    def _forget_old(self, now: float) -> None:
        if len(self._seen) < self._MAX_CAUSES:
            return
        for key, (at, _) in list(self._seen.items()):
            if now - at >= self._window:
                del self._seen[key]
        if len(self._seen) >= self._MAX_CAUSES:
            self._seen.clear()


def describe(exc: BaseException) -> str:
    """An exception as a log's `cause`: its type and text, bounded."""
    return f"{type(exc).__name__}: {exc}"[:300]
