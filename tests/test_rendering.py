"""Template data names, filters, compile-at-load and the plain-text fallback."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jinja2
import pytest

from router.channels.http import HttpClient
from router.channels.log import LogChannel
from router.channels.slack import SlackChannel
from router.config.types import LogConfig, Secret, SlackConfig
from router.model import Alert, Notification, NotifyReason, make_alert
from router.rendering import Renderer, default_templates_dir, quote_meta, template_data
from router.template_filters import go_title, humanize_duration, match, re_replace_all

T0 = 1_795_560_171.0  # 2026-11-24 22:42:51 UTC


def _alert(name: str, instance: str, *, ends: float | None = None, **annotations: str) -> Alert:
    labels = {"alertname": name, "instance": instance, "severity": "critical", "job": "api"}
    return make_alert(labels, annotations, T0, ends, "http://prom/graph", T0)


def _notification(*alerts: Alert, receiver: str = "team.a") -> Notification:
    return Notification(
        receiver=receiver,
        group_key='{}:{alertname="HighErrorRate"}',
        group_labels={"alertname": "HighErrorRate"},
        alerts=tuple(alerts),
        reason=NotifyReason.FIRST,
        now=T0 + 60,
        external_url="http://am:9093",
    )


@pytest.fixture
def renderer() -> Renderer:
    return Renderer([], now=lambda: T0 + 3723)


def render(renderer: Renderer, src: str, **data: Any) -> str:
    return renderer.compile_string(src).render(**data)


def test_template_data_uses_alertmanager_names() -> None:
    n = _notification(
        _alert("HighErrorRate", "a:1", summary="boom"),
        _alert("HighErrorRate", "b:1", ends=T0 + 30, summary="boom"),
    )
    d = template_data(n)
    assert list(d) == [
        "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "groupKey", "notificationReason", "truncatedAlerts", "data",
    ]
    assert d["data"]["commonLabels"] == d["commonLabels"]
    assert "data" not in d["data"]
    assert d["receiver"] == "team\\.a"  # regexp.QuoteMeta, as Alertmanager
    assert d["status"] == "firing"
    assert [a["labels"]["instance"] for a in d["alerts"].firing] == ["a:1"]
    assert [a["labels"]["instance"] for a in d["alerts"].resolved] == ["b:1"]
    first, second = d["alerts"]
    assert first["startsAt"] == "2026-11-24T22:42:51Z"
    assert first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["starts_at"] == T0
    assert second["endsAt"] == "2026-11-24T22:43:21Z"
    assert first["generatorURL"] == "http://prom/graph"
    assert len(first["fingerprint"]) == 16
    assert d["commonLabels"] == {"alertname": "HighErrorRate", "job": "api",
                                 "severity": "critical"}
    assert d["commonAnnotations"] == {"summary": "boom"}
    assert d["notificationReason"] == "first notification"
    assert d["truncatedAlerts"] == 0


def test_templates_see_data_and_missing_labels_render_empty(renderer: Renderer) -> None:
    n = _notification(_alert("HighErrorRate", "a:1", summary="boom"))
    src = ("{{ status }} {{ alerts.firing|length }} {{ commonLabels.alertname }}"
           "[{{ commonLabels.nosuch }}][{{ alerts[0].labels.nosuch.deeper }}]")
    assert render(renderer, src, **template_data(n)) == "firing 1 HighErrorRate[][]"


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("{{ 'hello wORLD-x_y'|title }}", "Hello WORLD-X_y"),
        ("{{ 'a'|upper }}{{ 'B'|lower }}{{ 'c'|toUpper }}", "AbC"),
        ("{{ ['a', 'b']|join(', ') }}", "a, b"),
        ("{{ 'host-01.example'|reReplaceAll('(\\\\w+)-(\\\\d+)', '$2-${1}') }}",
         "01-host.example"),
        ("{% for p in labels|sortedPairs %}{{ p.name }}={{ p.value }};{% endfor %}",
         "alertname=X;a=1;z=2;"),
        ("{{ 3723|humanizeDuration }}|{{ 0.25|humanizeDuration }}|{{ 90061|humanizeDuration }}",
         "1h 2m 3s|250ms|1d 1h 1m 1s"),
        ("{{ 1795560171|humanizeTimestamp }}", "2026-11-24 22:42:51 UTC"),
        ("{{ '2026-11-24T22:42:51.5Z'|humanizeTimestamp }}", "2026-11-24 22:42:51 UTC"),
        ("{{ 1795560171|since|humanizeDuration }}", "1h 2m 3s"),
        ("{{ labels|toJson }}", '{"z": "2", "alertname": "X", "a": "1"}'),
        ("{{ '<b>'|safeHtml }}", "<b>"),
        ("{{ stringSlice('a', 'b')|join('+') }}|{{ 'a'|stringSlice('c')|length }}", "a+b|2"),
        ("[{{ '  x \n'|trimSpace }}]", "[x]"),
        ("{{ 'db-01'|match('^db-') }} {{ 'web'|match('^db-') }}", "True False"),
        ("{{ labels|labelsWithout('z', 'a')|toJson }}", '{"alertname": "X"}'),
    ],
)
def test_filters(renderer: Renderer, src: str, expected: str) -> None:
    assert render(renderer, src, labels={"z": "2", "alertname": "X", "a": "1"}) == expected


def test_filter_helpers_match_go_semantics() -> None:
    assert go_title("ünïcode wörds") == "Ünïcode Wörds"
    assert re_replace_all("a.b", r"\.", "$$") == "a$b"
    assert re_replace_all("ab", "(a)", "$9") == "b"  # unknown group expands to ""
    assert humanize_duration(-61) == "-1m 1s"
    assert humanize_duration(0) == "0s"
    assert quote_meta("a.b+c[d]") == "a\\.b\\+c\\[d\\]"


def test_every_template_compiles_at_construction(tmp_path: Path) -> None:
    bad = tmp_path / "bad.j2"
    bad.write_text("line one\n{% if %}\n", encoding="utf-8")
    with pytest.raises(jinja2.TemplateSyntaxError) as info:
        Renderer([str(bad)])
    assert info.value.lineno == 2
    assert info.value.filename == str(bad)


def test_user_templates_by_name_and_path_can_import_defaults(tmp_path: Path) -> None:
    mine = tmp_path / "mine.j2"
    mine.write_text('{% from "default.j2" import subject %}<{{ subject(d) }}>', encoding="utf-8")
    r = Renderer([str(mine)])
    d = template_data(_notification(_alert("HighErrorRate", "a:1")))
    expected = "<[FIRING:1] HighErrorRate (a:1 api critical)>"
    assert r.template("mine.j2").render(d=d) == expected
    assert r.template(str(mine)).render(d=d) == expected


def test_default_templates_dir_holds_the_defaults() -> None:
    names = {p.name for p in default_templates_dir().glob("*.j2")}
    assert {"default.j2", "slack.j2"} <= names


def test_compile_string_caches(renderer: Renderer) -> None:
    assert renderer.compile_string("{{ x }}") is renderer.compile_string("{{ x }}")


def test_sandbox_blocks_unsafe_attribute_access(renderer: Renderer) -> None:
    # The sandbox hides private attributes: nothing leaks into the message.
    assert render(renderer, "[{{ x.__class__.__mro__ }}]", x=1) == "[]"
    with pytest.raises(jinja2.exceptions.SecurityError):
        render(renderer, "{{ x.__class__() }}", x=1)


def test_runtime_failure_falls_back_to_plain_text_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[str] = []
    r = Renderer([], on_failure=failures.append)
    # Division by zero only happens at render time: the template compiles fine.
    slack = SlackChannel(SlackConfig(api_url=Secret("http://127.0.0.1:1/x"),
                                     title="{{ 1 // 0 }}", username="am"), r, HttpClient())
    n = _notification(_alert("HighErrorRate", "a:1", summary="5xx above 5%"))
    with caplog.at_level(logging.WARNING):
        body = json.loads(slack.render(n))
    assert failures == ["slack"]
    assert body == {
        "username": "am",
        "text": "[FIRING:1] HighErrorRate (receiver team.a)\n"
                '- [firing] HighErrorRate: 5xx above 5% {alertname="HighErrorRate", '
                'instance="a:1", job="api", severity="critical"}',
    }
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage() == "template rendering failed; sending a fallback"
    assert record.__dict__["fallback"] == "plain text"
    assert getattr(record, "channel", None) == "slack"


def test_log_channel_template_failure_falls_back(tmp_path: Path) -> None:
    tmpl = tmp_path / "line.j2"
    tmpl.write_text("{{ alerts[0].labels.alertname|reReplaceAll('(', 'x') }}", encoding="utf-8")
    failures: list[str] = []
    r = Renderer([str(tmpl)], on_failure=failures.append)
    ch = LogChannel(LogConfig(template="line.j2"), r)
    line = ch.render(_notification(_alert("HighErrorRate", "a:1"))).decode()
    assert failures == ["log"]
    assert line.startswith("[FIRING:1] HighErrorRate (receiver team.a) | - [firing] HighErrorRate")


def test_plain_text_cannot_fail_and_is_bounded() -> None:
    r = Renderer([])
    alerts = [_alert("A", f"h{i}") for i in range(25)]
    text = r.plain_text(_notification(*alerts))
    assert text.splitlines()[0] == "[FIRING:25] A (receiver team.a)"
    assert text.splitlines()[-1] == "+5 more"


def test_template_regexes_are_re2() -> None:
    # Go's templates use Go's regexp: RE2 syntax, and linear time on any label value.
    assert match("a{,2}", "a{,2}")
    assert not match("aa", "^a{,2}$")
    assert match("Grüße", "^\\pL+$")
    assert not match("a" * 30, "^(.*.*.*)*z$")
    assert re_replace_all("x-α-y", "\\p{Greek}", "?") == "x-?-y"
    with pytest.raises(ValueError, match="invalid nested repetition operator"):
        match("a", "a++")


def test_silence_links_open_the_configured_ui_else_this_routers_own() -> None:
    alert = _alert("HighErrorRate", "a:1")
    filt = "%7Balertname%3D%22HighErrorRate%22%2C%20instance%3D%22a%3A1%22%2C%20job%3D%22api%22" \
        "%2C%20severity%3D%22critical%22%7D"
    own = template_data(_notification(alert))["alerts"][0]["silenceURL"]
    assert own == f"http://am:9093/#/silences/new?filter={filt}"
    from dataclasses import replace

    upstream = replace(_notification(alert), silence_url="http://alertmanager:9093/")
    assert template_data(upstream)["alerts"][0]["silenceURL"] == (
        f"http://alertmanager:9093/#/silences/new?filter={filt}")


def test_a_user_file_replacing_part_of_a_default_keeps_the_rest(tmp_path: Path) -> None:
    """A team's `slack.j2` with only a `header` macro: Slack's header is theirs, every
    other piece (context, alert sections) stays the default's, and the channel builds."""
    own = tmp_path / "slack.j2"
    own.write_text("{% macro header(d) %}OURS {{ d.status }}{% endmacro %}", encoding="utf-8")
    renderer = Renderer((str(own),))
    n = _notification(_alert("HighErrorRate", "a:1", summary="boom"))
    data = template_data(n)
    assert renderer.macro("slack.j2", "header")(data) == "OURS firing"
    default = Renderer(()).macro("slack.j2", "context")(data)
    assert default  # the default's context line, which the team did not replace
    assert renderer.macro("slack.j2", "context")(data) == default
    channel = SlackChannel(SlackConfig(api_url=Secret("http://slack.test/hook")), renderer,
                           HttpClient())
    assert "OURS firing" in channel.render(n).decode()
