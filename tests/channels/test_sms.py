"""The SMS channel: one-segment text, Twilio form posts per recipient, gateway bodies, config."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_aiohttp import AiohttpServer

from router.channels.base import SendContext
from router.channels.http import HttpClient
from router.channels.sms import SmsChannel, SmsConfig, scrub, twilio_error
from router.channels.sms.text import fits
from router.config.load import load_config_text
from router.config.types import HttpConfig, Pacing, Secret
from router.errors import ConfigError, DeliveryError, FailureReason
from router.model import Notification, NotifyReason, make_alert
from router.rendering import Renderer

from .fake_sms import ACCOUNT_SID, AUTH_TOKEN, MESSAGES_PATH, fault, start_twilio
from .fakes import FIXTURE_NAMES as FIXTURES
from .fakes import check_golden, fixture_notification, start_fake

T0 = 1_795_560_171.0
TO = ("+15551230000", "+447700900123")
REJECTED = "+15550001111"  # E.164, but the fake Twilio rejects it (code 21211)


def _twilio(api_url: str = "http://127.0.0.1:1", to: tuple[str, ...] = TO,
            http: HttpClient | None = None, **kw: Any) -> SmsChannel:
    cfg = SmsConfig("twilio", to, account_sid=ACCOUNT_SID, auth_token=Secret(AUTH_TOKEN),
                    from_="+15557650000", api_url=api_url, **kw)
    return SmsChannel(cfg, Renderer([]), http or HttpClient())


def _gateway(url: str = "http://127.0.0.1:1/send", http: HttpClient | None = None,
             **kw: Any) -> SmsChannel:
    return SmsChannel(SmsConfig("webhook", TO, url=Secret(url), **kw), Renderer([]),
                      http or HttpClient())


def _notification(summary: str = "Checkout 5xx rate above 5%", count: int = 1,
                  severity: str = "critical", ends: float | None = None) -> Notification:
    alerts = tuple(
        make_alert({"alertname": "HighErrorRate", "severity": severity, "instance": f"a:{i}"},
                   {"summary": summary, "runbook_url": "https://rb.example/5xx"},
                   T0, ends, "http://prom:9090/graph", T0)
        for i in range(count))
    reason = NotifyReason.ALL_RESOLVED if ends else NotifyReason.FIRST
    return Notification("ops", "{}:{}", {"alertname": "HighErrorRate"}, alerts, reason,
                        T0 + 60, "http://am:9093")


def _text(channel: SmsChannel, n: Notification) -> str:
    return str(json.loads(channel.render(n))["text"])


def _ctx() -> SendContext:
    return SendContext(5.0, {}, False)


# --- text -------------------------------------------------------------------------


def test_text_is_severity_name_summary_count_and_runbook() -> None:
    text = _text(_twilio(), _notification(count=2))
    assert text == "[CRIT] HighErrorRate: Checkout 5xx rate above 5% (+1) https://rb.example/5xx"


def test_resolved_text_and_send_resolved_is_opt_in() -> None:
    channel = _twilio()
    assert channel.send_resolved is False
    text = _text(channel, _notification(severity="warning", ends=T0 + 30))
    assert text.startswith("[RESOLVED] HighErrorRate: Checkout 5xx")


def test_long_summary_is_cut_to_one_segment_keeping_the_link() -> None:
    text = _text(_twilio(), _notification(summary="Checkout 5xx rate above 5% " * 10, count=3))
    assert fits(text)
    assert text.endswith("... (+2) https://rb.example/5xx")
    # An emoji in the summary switches to UCS-2: 70 characters.
    text = _text(_twilio(), _notification(summary="🔥 Checkout 5xx rate above 5% " * 5))
    assert fits(text)
    assert len(text.encode("utf-16-le")) // 2 <= 70
    assert text.endswith("… https://rb.example/5xx")


def test_max_segments_two_allows_a_longer_text() -> None:
    summary = "Checkout 5xx rate above 5% " * 10
    one = _text(_twilio(), _notification(summary=summary))
    two = _text(_twilio(max_segments=2), _notification(summary=summary))
    assert len(one) <= 160 < len(two) <= 306
    assert fits(two, 2)


def test_custom_template_and_fallback_on_runtime_error(tmp_path: Path) -> None:
    good = tmp_path / "sms.j2"
    good.write_text("{{ status|upper }} {{ alerts|length }} {{ 'word ' * 50 }}"
                    "https://rb.example/x\n", encoding="utf-8")
    text = _text(_twilio(template=str(good)), _notification())
    assert text.startswith("FIRING 1 word word")
    assert text.endswith("... https://rb.example/x")
    assert fits(text)
    bad = tmp_path / "bad.j2"
    bad.write_text("{{ alerts[0].labels.items() | map('nope') | list }}", encoding="utf-8")
    failures: list[str] = []
    channel = SmsChannel(SmsConfig("twilio", TO, account_sid=ACCOUNT_SID,
                                   auth_token=Secret(AUTH_TOKEN), from_="+15557650000",
                                   template=str(bad)),
                         Renderer([], on_failure=failures.append), HttpClient())
    text = _text(channel, _notification())
    assert failures == ["sms"]
    assert text.startswith("[FIRING:1] HighErrorRate (receiver ops) - [firing] HighErrorRate")
    assert fits(text)


def test_pacing_and_target() -> None:
    channel = _twilio()
    # ~1 segment per second per sender; each recipient is a message of its own.
    assert channel.pacing == Pacing(rate=0.5, burst=1)
    assert _twilio(max_segments=2, to=TO[:1]).pacing == Pacing(rate=0.5, burst=1)
    assert _twilio(pacing=Pacing(rate=5.0, burst=2)).pacing == Pacing(rate=5.0, burst=2)
    assert channel.target.startswith("sms:")
    assert ACCOUNT_SID not in channel.target
    assert _gateway().pacing is None


# --- Twilio -----------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
async def test_golden_twilio_requests(
    http: HttpClient, aiohttp_server: AiohttpServer, name: str
) -> None:
    fake = await start_twilio(aiohttp_server)
    n, _, _ = fixture_notification(name)
    channel = _twilio(fake.api_url, http=http)
    payload = channel.render(n)
    state = await channel.send(payload, _ctx())
    assert state == {"sids": f"SM{1:032x},SM{2:032x}"}
    assert [r.path for r in fake.requests] == [MESSAGES_PATH] * 2  # one request per recipient
    assert [f["To"] for f in fake.forms()] == list(TO)
    pair = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    for req in fake.requests:
        assert req.headers["Authorization"] == f"Basic {pair}"
        assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
        assert AUTH_TOKEN not in req.text
    assert AUTH_TOKEN.encode() not in payload
    check_golden(name.replace(".json", ".sms-twilio.txt"),
                 b"\n".join(r.body for r in fake.requests) + b"\n")


async def test_messaging_service_and_status_callback(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_twilio(aiohttp_server)
    service = "MG" + "ab" * 16
    cfg = SmsConfig("twilio", TO[:1], account_sid=ACCOUNT_SID, auth_token=Secret(AUTH_TOKEN),
                    messaging_service_sid=service, api_url=fake.api_url + "/",
                    status_callback="https://router.example/sms-status")
    channel = SmsChannel(cfg, Renderer([]), http)
    await channel.send(channel.render(_notification()), _ctx())
    (form,) = fake.forms()
    assert list(form) == ["To", "MessagingServiceSid", "Body", "StatusCallback"]
    assert form["MessagingServiceSid"] == service


async def _fail(channel: SmsChannel, caplog: pytest.LogCaptureFixture) -> DeliveryError:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(_notification()), _ctx())
    err = info.value
    texts = [str(err), repr(err)] + [str(r.__dict__) for r in caplog.records]
    for text in texts:
        assert AUTH_TOKEN not in text
        for number in (*TO, REJECTED):
            assert number not in text  # phone numbers are personal data
    return err


async def test_invalid_number_21211_is_permanent_and_others_still_get_it(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await start_twilio(aiohttp_server)
    err = await _fail(_twilio(fake.api_url, http=http, to=(TO[0], REJECTED, TO[1])), caplog)
    assert [f["To"] for f in fake.forms()] == [TO[0], REJECTED, TO[1]]
    assert (err.reason, err.retryable) == (FailureReason.CLIENT_ERROR, False)
    assert err.message == ("recipient 2 of 3: twilio answered HTTP 400, error 21211: "
                           "The 'To' number <number> is not a valid phone number. "
                           "(2 of 3 delivered)")


async def test_queue_full_21611_is_retryable(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    queue_full = fault(400, 21611, "This 'From' number has exceeded the maximum number "
                                   "of queued messages")
    fake = await start_twilio(aiohttp_server, [(400, {}, queue_full)])
    err = await _fail(_twilio(fake.api_url, http=http), caplog)
    assert (err.reason, err.retryable) == (FailureReason.RATE_LIMITED, True)
    assert "21611" in err.message
    assert len(fake.requests) == 1  # no point hammering a full queue with the rest


async def test_429_after_a_success_notes_the_duplicate_on_retry(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    too_many = fault(429, 20429, "Too Many Requests")
    fake = await start_twilio(aiohttp_server, [
        (201, {}, {"sid": "SM1"}), (429, {"Retry-After": "4"}, too_many)])
    err = await _fail(_twilio(fake.api_url, http=http), caplog)
    assert (err.reason, err.retryable, err.retry_after) == (FailureReason.RATE_LIMITED, True, 4.0)
    assert err.message == ("recipient 2 of 2: twilio answered HTTP 429, error 20429: "
                           "Too Many Requests (1 already sent: a retry sends to them again)")


async def test_bad_credentials_are_auth_and_stop(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await start_twilio(aiohttp_server)
    cfg = SmsConfig("twilio", TO, account_sid=ACCOUNT_SID, auth_token=Secret("wrong-token"),
                    from_="+15557650000", api_url=fake.api_url)
    err = await _fail(SmsChannel(cfg, Renderer([]), http), caplog)
    assert (err.reason, err.retryable) == (FailureReason.AUTH, False)
    assert "error 20003" in err.message
    assert len(fake.requests) == 1


def test_twilio_error_scrubs_numbers_and_secrets() -> None:
    body = json.dumps(fault(400, 21211, "The 'To' number +15551230000 with token tok123 ..."))
    err = twilio_error(400, {}, body, ("tok123",))
    assert err is not None
    assert err.message == ("twilio answered HTTP 400, error 21211: The 'To' number <number> "
                           "with token <redacted> ...")
    assert twilio_error(201, {}, "{}") is None
    assert scrub("call 447700900123 or +15551230000") == "call <number> or <number>"


# --- webhook gateway --------------------------------------------------------------


async def test_gateway_default_json_body_one_request_per_recipient(
    http: HttpClient, aiohttp_server: AiohttpServer,
) -> None:
    fake = await start_fake(aiohttp_server, "webhook", path="/send")
    channel = _gateway(fake.url, http=http, http_config=HttpConfig(bearer_token=Secret("gw-token")))
    payload = channel.render(_notification())
    assert b"gw-token" not in payload
    assert await channel.send(payload, _ctx()) == {}
    text = "[CRIT] HighErrorRate: Checkout 5xx rate above 5% https://rb.example/5xx"
    assert [r.json() for r in fake.requests] == [{"to": to, "text": text} for to in TO]
    assert {r.headers["Authorization"] for r in fake.requests} == {"Bearer gw-token"}
    assert {r.headers["Content-Type"] for r in fake.requests} == {"application/json"}


async def test_gateway_form_body_map(http: HttpClient, aiohttp_server: AiohttpServer) -> None:
    fake = await start_fake(aiohttp_server, "webhook", path="/send")
    body = (("phone", "{{ to }}"), ("msg", "{{ text }}"), ("sender", "ALERTS"),
            ("group", "{{ groupLabels.alertname }}"))
    channel = _gateway(fake.url, http=http, body=body, content_type="form")
    await channel.send(channel.render(_notification()), _ctx())
    assert fake.requests[0].headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert fake.requests[1].text == (
        "phone=%2B447700900123&msg=%5BCRIT%5D+HighErrorRate%3A+Checkout+5xx+rate+above+5%25+"
        "https%3A%2F%2Frb.example%2F5xx&sender=ALERTS&group=HighErrorRate")


async def test_gateway_json_string_template(
    http: HttpClient, aiohttp_server: AiohttpServer
) -> None:
    fake = await start_fake(aiohttp_server, "webhook", path="/send")
    template = '{"messages": [{"to": {{ to|toJson }}, "body": {{ text|toJson }}}], "n": 1}'
    channel = _gateway(fake.url, http=http, body=template)
    await channel.send(channel.render(_notification()), _ctx())
    assert fake.requests[0].json() == {"messages": [{"to": TO[0], "body": (
        "[CRIT] HighErrorRate: Checkout 5xx rate above 5% https://rb.example/5xx")}], "n": 1}


def test_gateway_body_that_is_not_json_falls_back_to_the_default() -> None:
    failures: list[str] = []
    cfg = SmsConfig("webhook", TO[:1], url=Secret("http://x/"), body="to={{ to }}")
    payload = json.loads(SmsChannel(cfg, Renderer([], on_failure=failures.append), HttpClient())
                         .render(_notification()))
    assert json.loads(payload["bodies"][0])["to"] == TO[0]
    assert failures == ["sms"]


async def test_gateway_errors_hide_numbers(
    http: HttpClient, aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    fake = await start_fake(aiohttp_server, "webhook",
                            [(422, {}, {"error": f"bad number {TO[0]}"}), 200], path="/send")
    err = await _fail(_gateway(fake.url, http=http), caplog)
    assert err.message.startswith('recipient 1 of 2: sms gateway answered HTTP 422: '
                                  '{"error": "bad number <number>"}')
    assert err.message.endswith("(1 of 2 delivered)")


# --- configuration ----------------------------------------------------------------

CONFIG = """
route: {receiver: pager}
receivers:
  - name: pager
    sms_configs:
%s
"""


def _load(entry: str) -> SmsConfig:
    config = load_config_text(CONFIG % entry, "x.yml")
    (cfg,) = config.receivers["pager"].configs(SmsConfig)
    return cfg


def _problems(entry: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(CONFIG % entry, "x.yml")
    return [str(p) for p in info.value.problems]


def test_config_twilio(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n", encoding="utf-8")
    cfg = _load(f"""
      - provider: twilio
        account_sid: {ACCOUNT_SID}
        auth_token_file: {token}
        from: "+15557650000"
        to: ["+15551230000", +447700900123]
        max_segments: 2
        send_resolved: true
        pacing: {{rate: 2}}""")
    assert cfg.to == TO
    assert cfg.auth_token is not None
    assert cfg.auth_token.reveal() == "s3cret"
    assert (cfg.from_, cfg.api_url, cfg.max_segments) == (
        "+15557650000", "https://api.twilio.com", 2)
    assert cfg.send_resolved
    assert cfg.pacing == Pacing(rate=2.0, burst=1)


def test_config_webhook_gateway() -> None:
    cfg = _load("""
      - provider: webhook
        url: https://gw.example/send
        content_type: form
        body: {phone: "{{ to }}", text: "{{ text }}"}
        http_config: {basic_auth: {username: u, password: p}}
        to: ["+15551230000"]""")
    assert cfg.body == (("phone", "{{ to }}"), ("text", "{{ text }}"))
    assert cfg.content_type == "form"
    assert cfg.http_config.basic_auth is not None
    assert cfg.pacing is None


def test_config_problems_point_at_the_bad_value() -> None:
    found = _problems("""
      - provider: twilio
        account_sid: AC123
        auth_token: t
        to:
          - "+15551230000"
          - "+1 555 123 0001"
          - 5551230002
        max_segments: 11""")
    assert found == [
        'x.yml:7:9: receivers[0].sms_configs[0]: one of "from" or "messaging_service_sid" is '
        "required",
        'x.yml:8:22: receivers[0].sms_configs[0].account_sid: "AC123" is not a Twilio account '
        'SID ("AC" and 32 hex)',
        'x.yml:12:13: receivers[0].sms_configs[0].to[1]: "+1 555 123 0001" is not an E.164 '
        'phone number: "+", the country code and the number, at most 15 digits, no spaces '
        "(e.g. +15551230000)",
        'x.yml:13:13: receivers[0].sms_configs[0].to[2]: "5551230002" is not an E.164 phone '
        'number: "+", the country code and the number, at most 15 digits, no spaces '
        "(e.g. +15551230000)",
        "x.yml:14:23: receivers[0].sms_configs[0].max_segments: must be <= 10 (1,600 "
        "characters), got 11",
    ]


def test_config_provider_and_recipients_are_required() -> None:
    found = _problems("""
      - provider: sns
        to: []""")
    assert any('unknown provider "sns"' in p for p in found)
    assert any("to: needs at least one phone number" in p for p in found)
    found = _problems("""
      - url: https://gw.example/send""")
    assert any('missing required key "provider"' in p for p in found)
    assert any('missing required key "to"' in p for p in found)
