"""The PagerDuty channel: event bodies, incident lifecycle, severities, errors, config."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.pagerduty import (
    PAGERDUTY_PACING,
    PagerdutyChannel,
    PagerdutyConfig,
    PagerdutyImage,
    PagerdutyLink,
    pagerduty_severity,
)
from router.config.load import load_config_text
from router.config.types import Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Alert, Notification, NotifyReason, make_alert, sort_alerts
from router.rendering import Renderer

from .fake_pagerduty import PagerDutyFake, start_pagerduty
from .fakes import FIXTURE_NAMES, check_golden, fixture_notification

KEY = "0123456789abcdef0123456789abcdef"  # PagerDuty integration keys are 32 characters
GROUP_KEY = '{}/{severity="critical"}:{alertname="HighErrorRate"}'
# sha256 of GROUP_KEY, computed independently (`printf '%s' … | sha256sum`).
GROUP_DEDUP = "558b79073d7341d427c63af07b90f482a501267929ebae0c3c90273093254c92"
T0 = 1_795_560_171.0
SHORT_KEY = "TOO-SHORT-KEY-42"


def _cfg(url: str = "http://127.0.0.1:1/v2/enqueue", **kw: Any) -> PagerdutyConfig:
    return PagerdutyConfig(routing_key=Secret(KEY), url=url, **kw)


def _alert(instance: str, *, severity: str = "critical", ends: float | None = None,
           **annotations: str) -> Alert:
    labels = {"alertname": "HighErrorRate", "instance": instance, "service": "checkout",
              "severity": severity}
    return make_alert(labels, {"summary": "5xx above 5%", **annotations}, T0, ends,
                      "http://prom:9090/graph?g0.expr=up", T0)


def _notification(*alerts: Alert, now: float = T0 + 60) -> Notification:
    return Notification("ops", GROUP_KEY, {"alertname": "HighErrorRate"}, sort_alerts(alerts),
                        NotifyReason.FIRST, now, "http://am:9093")


def _events(channel: PagerdutyChannel, n: Notification) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads(channel.render(n))
    return events


def _ctx(all_resolved: bool = False) -> SendContext:
    return SendContext(5.0, {}, all_resolved)


async def _deliver(fake: PagerDutyFake, channel: PagerdutyChannel,
                   *notifications: Notification) -> list[dict[str, str]]:
    states = []
    for n in notifications:
        states.append(await channel.send(channel.render(n), _ctx(n.all_resolved)))
    return states


# --- exact bodies for the captured Alertmanager requests ---------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
async def test_captured_fixtures_give_the_golden_events(
    http: HttpClient, aiohttp_server: AiohttpServer, name: str
) -> None:
    fake = await start_pagerduty(aiohttp_server)
    n, _, _ = fixture_notification(name)
    channel = PagerdutyChannel(_cfg(fake.url), Renderer([]), http)
    payload = channel.render(n)
    events = json.loads(payload)
    pretty = json.dumps(events, indent=2, ensure_ascii=False) + "\n"
    check_golden(name.replace(".json", ".pagerduty.json"), pretty.encode())
    await _deliver(fake, channel, n)
    # What PagerDuty receives is the stored event plus the routing key, and it accepts it.
    assert fake.events() == [{"routing_key": KEY, **e} for e in events]
    assert fake.pages == (0 if n.all_resolved else 1)


def test_default_event_reads_well() -> None:
    first = _alert("10.0.0.1:8080", runbook_url="https://runbooks/5xx")
    n = _notification(first, _alert("10.0.0.2:8080", severity="warning"))
    (event,) = _events(PagerdutyChannel(_cfg(), Renderer([]), HttpClient()), n)
    payload = event["payload"]
    assert payload["summary"] == "[FIRING:2] HighErrorRate (checkout): 5xx above 5%"
    assert payload["severity"] == "critical"  # the most severe firing alert
    assert payload["source"] == "alert-router"  # no common instance or job
    assert payload["timestamp"] == "2026-11-24T22:42:51Z"
    details = payload["custom_details"]
    assert (details["num_firing"], details["num_resolved"], details["resolved"]) == (2, 0, [])
    assert details["firing"][0]["labels"]["instance"] == "10.0.0.1:8080"
    assert event["client"] == "alert-router"
    assert event["client_url"] == "http://am:9093/#/alerts?receiver=ops"
    texts = [link["text"] for link in event["links"]]
    assert texts == ["Runbook: HighErrorRate", "Source: HighErrorRate", "Silence in Alertmanager"]
    assert event["links"][0]["href"] == "https://runbooks/5xx"
    assert event["links"][2]["href"].startswith("http://am:9093/#/silences/new?filter=%7B")
    assert "images" not in event


# --- the incident lifecycle ----------------------------------------------------------------


async def test_group_fires_then_resolves_one_incident(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_pagerduty(aiohttp_server)
    channel = PagerdutyChannel(_cfg(fake.url), Renderer([]), http)
    firing = _notification(_alert("a:1"), _alert("b:1"))
    resolved = _notification(_alert("a:1", ends=T0 + 100), _alert("b:1", ends=T0 + 120),
                             now=T0 + 200)
    states = await _deliver(fake, channel, firing, resolved)
    actions = [(e["event_action"], e["dedup_key"]) for e in fake.events()]
    assert actions == [("trigger", GROUP_DEDUP), ("resolve", GROUP_DEDUP)]
    assert states == [{"dedup_key": GROUP_DEDUP}] * 2
    assert fake.pages == 1
    assert fake.incidents == {(KEY, GROUP_DEDUP): "resolved"}
    assert fake.events()[1]["payload"]["summary"].startswith("[RESOLVED] HighErrorRate")


async def test_a_new_alert_in_the_group_does_not_page_again(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_pagerduty(aiohttp_server)
    channel = PagerdutyChannel(_cfg(fake.url), Renderer([]), http)
    # One alert resolved, one firing: the group's incident stays open (a trigger).
    await _deliver(fake, channel, _notification(_alert("a:1")),
                   _notification(_alert("a:1", ends=T0 + 10), _alert("b:1")))
    assert [e["event_action"] for e in fake.events()] == ["trigger", "trigger"]
    assert fake.pages == 1


async def test_incident_per_alert_pages_and_resolves_each_alert(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_pagerduty(aiohttp_server)
    channel = PagerdutyChannel(_cfg(fake.url, incident_per_alert=True), Renderer([]), http)
    a, b = _alert("a:1"), _alert("b:1")
    states = await _deliver(
        fake, channel,
        _notification(a, b),
        _notification(_alert("a:1", ends=T0 + 10), b, now=T0 + 20),
        _notification(_alert("b:1", ends=T0 + 30), now=T0 + 40),
    )
    assert states == [{}, {}, {}]
    actions = [(e["event_action"], e["dedup_key"]) for e in fake.events()]
    assert actions == [
        ("trigger", a.fingerprint), ("trigger", b.fingerprint),
        ("resolve", a.fingerprint), ("trigger", b.fingerprint),
        ("resolve", b.fingerprint),
    ]
    assert fake.pages == 2
    assert fake.incidents == {(KEY, a.fingerprint): "resolved", (KEY, b.fingerprint): "resolved"}
    # Each event describes its own alert.
    assert fake.events()[0]["payload"]["summary"] == (
        "[FIRING:1] HighErrorRate (a:1 checkout critical): 5xx above 5%")
    assert fake.events()[0]["payload"]["source"] == "a:1"


async def test_a_failure_mid_way_raises_and_the_retry_sends_everything(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_pagerduty(aiohttp_server, [202, 503])
    channel = PagerdutyChannel(_cfg(fake.url, incident_per_alert=True), Renderer([]), http)
    a, b = _alert("a:1"), _alert("b:1")
    payload = channel.render(_notification(a, b))
    with pytest.raises(DeliveryError) as info:
        await channel.send(payload, _ctx())
    assert info.value.retryable
    assert info.value.message.startswith("event 2 of 2: HTTP 503")
    await channel.send(payload, _ctx())
    keys = [e["dedup_key"] for e in fake.events()]
    assert keys == [a.fingerprint, b.fingerprint, a.fingerprint, b.fingerprint]
    assert fake.pages == 2  # the re-sent trigger was deduplicated


async def test_a_rejected_event_does_not_stop_the_other_pages(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_pagerduty(aiohttp_server, [400])
    channel = PagerdutyChannel(_cfg(fake.url, incident_per_alert=True), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(_notification(_alert("a:1"), _alert("b:1"))),
                           _ctx())
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert len(fake.requests) == 2
    assert fake.pages == 1


# --- severity and summary ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [("critical", "critical"), ("page", "critical"), ("PAGE", "critical"),
     ("error", "error"), ("high", "error"), ("warning", "warning"), ("warn", "warning"),
     ("medium", "warning"), ("info", "info"), ("low", "info"), ("none", "info"),
     ("P1", "error"), ("", "error"), (None, "error")],
)
def test_severity_mapping(label: str | None, expected: str) -> None:
    assert pagerduty_severity(label) == expected
    labels = {"alertname": "X"} if label is None else {"alertname": "X", "severity": label}
    alert = make_alert(labels, {}, T0, None, "", T0)
    (event,) = _events(PagerdutyChannel(_cfg(), Renderer([]), HttpClient()), _notification(alert))
    assert event["payload"]["severity"] == expected


def test_configured_severity_is_mapped_too() -> None:
    channel = PagerdutyChannel(_cfg(severity="{{ commonLabels.service }}"), Renderer([]),
                               HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    assert event["payload"]["severity"] == "error"  # "checkout" is not a PD severity
    channel = PagerdutyChannel(_cfg(severity="warn"), Renderer([]), HttpClient())
    assert _events(channel, _notification(_alert("a:1")))[0]["payload"]["severity"] == "warning"


def test_summary_is_cut_to_1024_characters() -> None:
    channel = PagerdutyChannel(_cfg(description="{{ 'x' * 5000 }}"), Renderer([]), HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    summary = event["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("x…")


def test_an_empty_description_falls_back_to_the_default() -> None:
    channel = PagerdutyChannel(_cfg(description="{{ commonLabels.nope }}"), Renderer([]),
                               HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    assert event["payload"]["summary"].startswith("[FIRING:1] HighErrorRate")


# --- configured fields --------------------------------------------------------------------


def test_links_images_details_and_payload_fields() -> None:
    cfg = _cfg(
        links=(PagerdutyLink("{{ commonAnnotations.dashboard }}", "Dashboard"),
               PagerdutyLink("https://status/{{ commonLabels.service }}", "Status")),
        images=(PagerdutyImage("https://grafana/{{ commonLabels.service }}.png", "", "graph"),
                PagerdutyImage("")),
        details=(("team", "payments"), ("count", "{{ alerts|length }}"),
                 ("labels", "{{ commonLabels|toJson }}")),
        component="{{ commonLabels.service }}", group="eu", class_="http",
        source="{{ commonLabels.service }}", client="Prometheus EU",
        client_url="https://am.example",
    )
    channel = PagerdutyChannel(cfg, Renderer([]), HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    payload = event["payload"]
    assert (payload["component"], payload["group"], payload["class"]) == ("checkout", "eu", "http")
    assert payload["source"] == "checkout"
    details = payload["custom_details"]
    assert list(details) == ["count", "firing", "labels", "num_firing", "num_resolved",
                             "resolved", "team"]
    assert (details["team"], details["count"], details["num_firing"]) == ("payments", 1, 1)
    assert details["labels"] == {"alertname": "HighErrorRate", "instance": "a:1",
                                 "service": "checkout", "severity": "critical"}
    assert (event["client"], event["client_url"]) == ("Prometheus EU", "https://am.example")
    # The empty dashboard href and the empty image src are dropped.
    assert event["links"][-1] == {"href": "https://status/checkout", "text": "Status"}
    assert [link["text"] for link in event["links"]].count("Dashboard") == 0
    assert event["images"] == [{"src": "https://grafana/checkout.png", "alt": "graph"}]


def test_a_template_file_is_merged_over_the_default_event(tmp_path: Path) -> None:
    path = tmp_path / "pd.j2"
    path.write_text('{"payload": {"summary": "{{ commonLabels.alertname }} is on fire",'
                    ' "severity": "page"}, "client": "custom"}', encoding="utf-8")
    channel = PagerdutyChannel(_cfg(template=str(path)), Renderer([]), HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    assert event["payload"]["summary"] == "HighErrorRate is on fire"
    assert event["payload"]["severity"] == "critical"
    assert event["client"] == "custom"
    assert (event["event_action"], event["dedup_key"]) == ("trigger", GROUP_DEDUP)


def test_a_failing_template_still_pages_with_plain_text() -> None:
    failures: list[str] = []
    channel = PagerdutyChannel(_cfg(description="{{ 1 // 0 }}"), Renderer([], failures.append),
                               HttpClient())
    (event,) = _events(channel, _notification(_alert("a:1")))
    assert failures == ["pagerduty"]
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == GROUP_DEDUP
    assert event["payload"]["summary"] == "[FIRING:1] HighErrorRate (receiver ops)"
    assert event["payload"]["severity"] == "critical"
    assert "5xx above 5%" in event["payload"]["custom_details"]["text"]


# --- errors and secrets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [(400, FailureReason.CLIENT_ERROR, False), (429, FailureReason.RATE_LIMITED, True),
     (500, FailureReason.SERVER_ERROR, True), (502, FailureReason.SERVER_ERROR, True)],
)
async def test_pagerduty_answers_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, status: int, reason: FailureReason,
    retryable: bool
) -> None:
    fake = await start_pagerduty(aiohttp_server, [status])
    channel = PagerdutyChannel(_cfg(fake.url), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await _deliver(fake, channel, _notification(_alert("a:1")))
    assert (info.value.reason, info.value.retryable) == (reason, retryable)


async def test_invalid_event_says_why_and_never_shows_the_key(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The fake rejects a routing key of the wrong length, as PagerDuty does; this error
    # body also echoes the key back, which must not reach the message.
    echo = {"status": "invalid event", "message": "Event object is invalid",
            "errors": [f"unknown routing_key {KEY}"]}
    fake = await start_pagerduty(aiohttp_server, [(400, {}, echo)])
    caplog.set_level(logging.DEBUG)
    channel = PagerdutyChannel(_cfg(fake.url), Renderer([]), http)
    payload = channel.render(_notification(_alert("a:1")))
    assert KEY.encode() not in payload
    with pytest.raises(DeliveryError) as info:
        await channel.send(payload, _ctx())
    assert info.value.message == (
        "HTTP 400: Event object is invalid: unknown routing_key <redacted>")
    short = PagerdutyChannel(PagerdutyConfig(Secret(SHORT_KEY), url=fake.url), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await short.send(payload, _ctx())
    assert "Length of 'routing_key' is incorrect" in info.value.message
    texts = [str(info.value), repr(info.value), channel.target, short.target]
    texts += [r.getMessage() + str(r.__dict__) for r in caplog.records]
    assert not [t for t in texts if KEY in t or SHORT_KEY in t]


async def test_routing_key_file_is_read_at_send_time(
    http: HttpClient, aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    fake = await start_pagerduty(aiohttp_server)
    key_file = tmp_path / "pd.key"
    key_file.write_text(KEY + "\n", encoding="utf-8")
    channel = PagerdutyChannel(PagerdutyConfig(Secret(file=str(key_file)), url=fake.url),
                               Renderer([]), http)
    assert channel.target.startswith("pagerduty:")
    await _deliver(fake, channel, _notification(_alert("a:1")))
    assert fake.events()[0]["routing_key"] == KEY
    key_file.unlink()
    with pytest.raises(DeliveryError) as info:
        await _deliver(fake, channel, _notification(_alert("a:1")))
    assert info.value.retryable


def test_pacing_and_target() -> None:
    channel = PagerdutyChannel(_cfg(), Renderer([]), HttpClient())
    # Never more than PagerDuty's 120 events in any minute.
    assert PAGERDUTY_PACING.burst + PAGERDUTY_PACING.rate * 60 <= 120
    assert channel.pacing == PAGERDUTY_PACING
    assert KEY not in channel.target
    other = PagerdutyChannel(PagerdutyConfig(Secret("x" * 32)), Renderer([]), HttpClient())
    assert other.target != channel.target


# --- configuration ------------------------------------------------------------------------

_YAML = """
route: {receiver: pd}
receivers:
  - name: pd
    pagerduty_configs:
      - routing_key: %s
%s
"""


def _load(extra: str = "") -> PagerdutyConfig:
    cfg = load_config_text(_YAML % (KEY, extra), "x.yml")
    (pd,) = cfg.receivers["pd"].configs(PagerdutyConfig)
    return pd


def test_config_defaults() -> None:
    pd = _load()
    assert pd.routing_key == Secret(KEY)
    assert (pd.url, pd.client, pd.send_resolved, pd.incident_per_alert) == (
        "https://events.pagerduty.com/v2/enqueue", "alert-router", True, False)
    assert (pd.details, pd.links, pd.pacing, pd.severity) == ((), (), None, None)


def test_config_fields() -> None:
    pd = _load("""        severity: '{{ commonLabels.severity }}'
        description: '{{ commonAnnotations.summary }}'
        class: http
        incident_per_alert: true
        send_resolved: false
        details: {team: payments}
        links: [{href: 'https://x', text: X}]
        images: [{src: 'https://i.png', alt: graph}]
        pacing: {rate: 60, per: 1m, burst: 5}
        timeout: 5s""")
    assert pd.severity == "{{ commonLabels.severity }}"
    assert (pd.class_, pd.incident_per_alert, pd.send_resolved) == ("http", True, False)
    assert pd.details == (("team", "payments"),)
    assert pd.links == (PagerdutyLink("https://x", "X"),)
    assert pd.images == (PagerdutyImage("https://i.png", "", "graph"),)
    assert (pd.pacing.rate if pd.pacing else None, pd.timeout) == (1.0, 5.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [("        severity: P1", '"P1" is not a PagerDuty severity'),
     ("        url: events.pagerduty.com", "must be an http:// or https:// URL"),
     ("        service_key: abc", '"routing_key" (Events API v2) and "service_key" (v1)'),
     ("        details: {x: '{{ .Foo }}'}", "looks like a Go template"),
     ("        images: [{href: 'https://x'}]", 'missing required key "src"')],
)
def test_config_problems(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(extra)
    assert any(message in p.message for p in info.value.problems), info.value
