"""Structured logging, one format for every line (the log channel's included): logfmt, as
Prometheus components write it, JSON on request, readable text on a terminal; timestamps
carry the date and the zone. `RepeatLog` keeps a failure repeating during an outage to one
line a minute.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

# Attributes every LogRecord has; anything else came from `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# The log channel's lines: on stdout (data, not diagnostics), in the same format, and at
# info whatever --log.level says (a notification is never filtered out as noise).
NOTIFICATIONS = "router.notifications"

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
          "warning": logging.WARNING, "error": logging.ERROR}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def utc_stamp(created: float) -> str:
    """`2026-11-30T08:35:25.123Z`: RFC 3339 in UTC with milliseconds, as Prometheus logs."""
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            + f".{int(created * 1000) % 1000:03d}Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": utc_stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_extras(record),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def logfmt_value(value: Any) -> str:
    """Bare when it is one plain word, else double-quoted with `\\`, `\"` and control
    characters escaped, so that every record stays one parseable line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else str(value)
    if text and text.isprintable() and not any(c in ' "=\\' for c in text):
        return text
    return json.dumps(text, ensure_ascii=False)  # JSON's escapes are logfmt's


class LogfmtFormatter(logging.Formatter):
    """`ts=… level=info logger=router msg="…" key=value …`, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        pairs: list[tuple[str, Any]] = [
            ("ts", utc_stamp(record.created)), ("level", record.levelname.lower()),
            ("logger", record.name), ("msg", record.getMessage()),
            *_extras(record).items()]
        if record.exc_info:
            pairs.append(("exc", self.formatException(record.exc_info)))
        return " ".join(f"{k}={logfmt_value(v)}" for k, v in pairs)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: local time with its offset, level, message, fields."""

    def format(self, record: logging.LogRecord) -> str:
        local = time.localtime(record.created)
        stamp = (time.strftime("%Y-%m-%d %H:%M:%S", local)
                 + f".{int(record.msecs):03d} " + time.strftime("%z", local))
        fields = " ".join(f"{k}={logfmt_value(v)}" for k, v in _extras(record).items())
        line = f"{stamp} {record.levelname:<7} {record.getMessage()}"
        if fields:
            line += "  " + fields
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def formatter(fmt: str, stream: TextIO) -> logging.Formatter:
    """`logfmt`, `json` or `text`; `auto`: text on a terminal, logfmt otherwise."""
    if fmt == "auto":
        fmt = "text" if stream.isatty() else "logfmt"
    if fmt == "json":
        return JsonFormatter()
    return TextFormatter() if fmt == "text" else LogfmtFormatter()


def setup_logging(level: str = "info", fmt: str = "auto", stream: TextIO | None = None,
                  notifications: TextIO | None = None) -> None:
    """Diagnostics on `stream` (stderr) at `level`; the log channel's lines on
    `notifications` (stdout), in the same format."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter(fmt, stream))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level.lower(), logging.INFO))
    out = notifications or sys.stdout
    note = logging.StreamHandler(out)
    note.setFormatter(formatter(fmt, out))
    notes = logging.getLogger(NOTIFICATIONS)
    notes.handlers[:] = [note]
    notes.setLevel(logging.INFO)
    notes.propagate = False
    logging.captureWarnings(True)  # a library's warning is a log line like any other
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
