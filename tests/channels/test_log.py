"""The log channel: one readable, bounded line per notification; always succeeds."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from router.channels import build_channel
from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.log import MAX_LINE, LogChannel
from router.config.types import LogConfig
from router.logs import setup_logging
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fakes import fixture_notification

T0 = 1_795_560_171.0


def test_line_for_a_grouped_notification() -> None:
    n, _, _ = fixture_notification("critical-grouped-truncated.json")
    line = LogChannel(LogConfig(), Renderer([])).render(n).decode()
    assert line == (
        '[FIRING:3] receiver=critical group={alertname="HighErrorRate"} '
        'reason="first notification" | '
        'HighErrorRate instance=10.0.0.1:8080 summary="Checkout 5xx rate above 5%" ; '
        'HighErrorRate instance=10.0.0.2:8080 summary="Checkout 5xx rate above 5%" ; '
        'HighErrorRate instance=10.0.0.3:8080 summary="Checkout 5xx rate above 5%"'
    )


def test_line_for_a_resolved_notification() -> None:
    n, _, _ = fixture_notification("default-warning-resolved.json")
    line = LogChannel(LogConfig(), Renderer([])).render(n).decode()
    assert line == (
        '[RESOLVED:1] receiver=default group={alertname="DiskFilling", cluster="prod-us"} '
        'reason="all alerts resolved" | DiskFilling summary="Disk will fill in 4h"'
    )


def test_line_is_capped_and_single() -> None:
    alerts = tuple(make_alert({"alertname": "A", "instance": f"h{i}\nx"}, {"summary": "s" * 50},
                              T0, None, "", T0) for i in range(200))
    n = Notification("r", "{}:{}", {}, alerts, NotifyReason.FIRST, T0, "http://am")
    line = LogChannel(LogConfig(), Renderer([])).render(n).decode()
    assert len(line) == MAX_LINE
    assert "\n" not in line
    assert line.endswith("…")


def test_template_override(tmp_path: Path) -> None:
    tmpl = tmp_path / "line.j2"
    tmpl.write_text("{{ status|upper }} {{ commonLabels.alertname }}\n", encoding="utf-8")
    n, _, _ = fixture_notification("default-warning-firing.json")
    channel = LogChannel(LogConfig(template=str(tmpl)), Renderer([str(tmpl)]))
    assert channel.render(n) == b"FIRING DiskFilling"


async def test_send_writes_and_flushes_to_the_stream() -> None:
    stream = io.StringIO()
    channel = LogChannel(LogConfig(), Renderer([]), stream)
    state = await channel.send(b"hello", SendContext(1.0, {}, False))
    assert state == {}
    assert stream.getvalue() == "hello\n"


async def test_by_default_each_line_is_a_record_of_the_notifications_logger(
    notifications: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    channel = build_channel("log", LogConfig(), Renderer([]), HttpClient())
    await channel.send(b"[FIRING:1] one line", SendContext(1.0, {}, False))
    assert notifications == ["[FIRING:1] one line"]


@pytest.mark.usefixtures("restore_logging")
async def test_the_line_is_written_in_the_process_log_format_on_stdout() -> None:
    out, err = io.StringIO(), io.StringIO()
    setup_logging("error", "logfmt", stream=err, notifications=out)
    channel = build_channel("log", LogConfig(), Renderer([]), HttpClient())
    await channel.send(b'[FIRING:1] receiver=x group={a="b"}', SendContext(1.0, {}, False))
    # At info although --log.level is error: a notification is not a diagnostic.
    line = out.getvalue()
    assert re.fullmatch(r'ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=info '
                        r'logger=router\.notifications msg="\[FIRING:1\] receiver=x '
                        r'group=\{a=\\"b\\"\}"\n', line), line
    assert err.getvalue() == ""
