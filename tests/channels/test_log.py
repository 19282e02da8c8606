"""The log channel: one readable, bounded line per notification; always succeeds."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from router.channels import build_channel
from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.log import MAX_LINE, LogChannel
from router.config.types import LogConfig
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


async def test_default_stream_is_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    channel = build_channel("log", LogConfig(), Renderer([]), HttpClient())
    await channel.send(b"to stdout", SendContext(1.0, {}, False))
    assert capsys.readouterr().out == "to stdout\n"
