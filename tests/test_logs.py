"""The log formats: logfmt (the default off a terminal, as Prometheus), JSON on request,
text on a terminal; each record one line with a dated, zoned timestamp."""

from __future__ import annotations

import io
import json
import logging
import re

import logfmt
import pytest

from router.logs import NOTIFICATIONS, setup_logging

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture
def streams(restore_logging: None) -> tuple[io.StringIO, io.StringIO]:
    return io.StringIO(), io.StringIO()


def emit() -> None:
    log = logging.getLogger("router.test")
    log.info("store cannot commit", extra={
        "cause": 'OperationalError: disk "full"\nsecond line', "count": 3, "ok": False,
        "empty": "", "path": "/api/v2/alerts"})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("request failed")
    log.debug("hidden at info")


def test_logfmt_is_one_parseable_line_per_record(
    streams: tuple[io.StringIO, io.StringIO]
) -> None:
    err, out = streams
    setup_logging("info", "auto", stream=err, notifications=out)  # not a terminal: logfmt
    emit()
    lines = err.getvalue().splitlines()
    assert len(lines) == 2
    first = logfmt.parse(lines[0])
    assert re.fullmatch(STAMP, first["ts"])
    assert first == {"ts": first["ts"], "level": "info", "logger": "router.test",
                     "msg": "store cannot commit",
                     "cause": 'OperationalError: disk "full"\nsecond line', "count": "3",
                     "ok": "false", "empty": "", "path": "/api/v2/alerts"}
    assert lines[0].endswith(' count=3 ok=false empty="" path=/api/v2/alerts')
    second = logfmt.parse(lines[1])
    assert second["level"] == "error"
    assert second["exc"].startswith("Traceback (most recent call last):\n")
    assert second["exc"].endswith("ValueError: boom")


def test_json_on_request(streams: tuple[io.StringIO, io.StringIO]) -> None:
    err, out = streams
    setup_logging("debug", "json", stream=err, notifications=out)
    emit()
    records = [json.loads(line) for line in err.getvalue().splitlines()]
    assert [r["msg"] for r in records] == ["store cannot commit", "request failed",
                                           "hidden at info"]
    assert re.fullmatch(STAMP, records[0]["ts"])
    assert records[0]["count"] == 3
    assert records[0]["ok"] is False


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_on_a_terminal_with_date_and_zone(
    streams: tuple[io.StringIO, io.StringIO]
) -> None:
    _, out = streams
    term = Terminal()
    setup_logging("warn", "auto", stream=term, notifications=out)
    emit()
    (line, *rest) = term.getvalue().splitlines()
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4} ERROR   request failed$",
                    line), line
    assert rest[0] == "Traceback (most recent call last):"


def test_the_default_stream_is_stderr(streams: tuple[io.StringIO, io.StringIO],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("info", "logfmt")
    logging.getLogger("router.test").warning("to stderr")
    logging.getLogger(NOTIFICATIONS).info("[FIRING:1] to stdout")
    captured = capsys.readouterr()
    assert 'msg="to stderr"' in captured.err
    assert 'logger=router.notifications msg="[FIRING:1] to stdout"' in captured.out
