"""The SNS channel against a real SNS on loopback (moto's server mode, signatures checked):
what arrives in a subscribed queue, refused credentials, limits, FIFO topics, profiles and
assumed roles, error classification and configuration."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import assert_config_problem
from pytest_aiohttp import AiohttpServer

from router.channels.http import HttpClient
from router.channels.sns import SigV4, SnsChannel, SnsConfig, clean_subject
from router.config.load import load_config_text
from router.config.redact import redacted_yaml
from router.config.types import Secret
from router.errors import DeliveryError, FailureReason
from router.model import NotifyReason
from router.rendering import Renderer

from .fakes import T0, closed_port_url, sample_alerts, sample_notification, start_fake
from .moto_sns import REGION, MotoSns, run_moto
from .sending import CTX, failure


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoSns]:
    yield from run_moto()


@pytest.fixture(autouse=True)
def _empty_queue(request: pytest.FixtureRequest) -> None:
    if "moto" in request.fixturenames:
        request.getfixturevalue("moto").received()


def _channel(moto: MotoSns, http: HttpClient, sigv4: SigV4 | None = None,
             **kw: Any) -> SnsChannel:
    kw.setdefault("topic_arn", moto.topic_arn)
    cfg = SnsConfig(sigv4 or SigV4(REGION, moto.access_key, Secret(moto.secret_key)),
                    api_url=moto.url, **kw)
    return SnsChannel(cfg, Renderer([]), http)


async def test_firing_then_resolved_arrive_as_alertmanager_writes_them(
    moto: MotoSns, http: HttpClient
) -> None:
    channel = _channel(moto, http, attributes=(("severity", "{{ commonLabels.severity }}"),))
    firing = sample_notification(sample_alerts(2))
    state = await channel.send(channel.render(firing), CTX)
    resolved = sample_notification(sample_alerts(2, ends=T0 + 30), NotifyReason.ALL_RESOLVED)
    await channel.send(channel.render(resolved), CTX)
    first, second = moto.received()
    assert state == {"message_id": first["MessageId"]}
    assert first["Subject"] == "[FIRING:2] HighErrorRate (checkout critical)"
    assert first["MessageAttributes"] == {"severity": {"Type": "String", "Value": "critical"}}
    alert = ("Labels:\n - alertname = HighErrorRate\n - instance = 10.0.0.{i}:8080\n"
             " - service = checkout\n - severity = critical\nAnnotations:\n"
             " - summary = 5xx above 5% on 10.0.0.{i}\nSource: \n")
    # Alertmanager's sns.default.message, to the character.
    both = alert.format(i=0) + alert.format(i=1)
    assert first["Message"] == f"\n\nAlerts Firing:\n{both}\n\n\n"
    assert second["Subject"] == "[RESOLVED] HighErrorRate (checkout critical)"
    assert second["Message"] == f"\n\n\nAlerts Resolved:\n{both}\n\n"


async def test_wrong_secret_or_unknown_key_is_refused_as_auth(
    moto: MotoSns, http: HttpClient
) -> None:
    n = sample_notification(sample_alerts(1))
    for sigv4, code in [(SigV4(REGION, moto.access_key, Secret("not-the-secret-key")),
                         "SignatureDoesNotMatch"),
                        (SigV4(REGION, "AKIAUNKNOWNKEY000000", Secret(moto.secret_key)),
                         "InvalidClientTokenId")]:
        channel = _channel(moto, http, sigv4)
        with pytest.raises(DeliveryError) as info:
            await channel.send(channel.render(n), CTX)
        err = info.value
        assert (err.reason, err.retryable) == (FailureReason.AUTH, False)
        assert f"HTTP 403 {code}" in err.message
        assert moto.secret_key not in err.message
    assert moto.received() == []


async def test_long_messages_and_subjects_are_cut_as_sns_requires(
    moto: MotoSns, http: HttpClient
) -> None:
    channel = _channel(moto, http, subject="{{ 'ünïcode ' * 40 }}\nsecond line",
                       message="{{ 'é' * 300000 }}")
    await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    (got,) = moto.received()
    assert len(got["Message"].encode()) <= 256 * 1024 - 32
    assert set(got["Message"]) == {"é"}  # cut between characters, never inside one
    assert got["MessageAttributes"]["truncated"] == {"Type": "String", "Value": "true"}
    assert got["Subject"] == ("?n?code " * 40)[:100].rstrip()
    assert clean_subject("a\tb\nc") == "a b c"


async def test_sms_is_cut_to_1600_characters(moto: MotoSns, http: HttpClient) -> None:
    channel = _channel(moto, http, topic_arn=None, phone_number="+15551230000",
                       message="{{ 'x' * 2000 }}")
    payload = channel.render(sample_notification(sample_alerts(1)))
    form = dict(urllib.parse.parse_qsl(payload.decode()))
    assert (form["PhoneNumber"], len(form["Message"])) == ("+15551230000", 1600)
    assert "Subject" not in form
    assert await channel.send(payload, CTX)  # SNS accepted it (a message id)


async def test_fifo_topics_get_group_and_deduplication_ids(
    moto: MotoSns, http: HttpClient
) -> None:
    channel = _channel(moto, http, topic_arn=moto.fifo_arn)
    firing = channel.render(sample_notification(sample_alerts(1)))
    resolved = channel.render(sample_notification(sample_alerts(1, ends=T0 + 5)))
    f, r = (dict(urllib.parse.parse_qsl(p.decode())) for p in (firing, resolved))
    assert f["MessageGroupId"] == r["MessageGroupId"]  # one ordered stream per group
    assert f["MessageDeduplicationId"] != r["MessageDeduplicationId"]
    assert await channel.send(firing, CTX)
    # Without the ids a FIFO topic refuses the message: SNS's check, made by moto.
    plain = _channel(moto, http, topic_arn=moto.fifo_arn.replace(".fifo", "")).render(
        sample_notification(sample_alerts(1))).decode().replace("oncall", "oncall.fifo")
    with pytest.raises(DeliveryError) as info:
        await channel.send(plain.encode(), CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.CLIENT_ERROR, False)


async def test_credentials_from_a_profile_and_an_assumed_role(
    moto: MotoSns, http: HttpClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[oncall]\naws_access_key_id = {moto.access_key}\n"
                           f"aws_secret_access_key = {moto.secret_key}\n", encoding="utf-8")
    config = tmp_path / "config"
    config.write_text(f"[profile oncall]\nregion = {REGION}\n", encoding="utf-8")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto.url)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    n = sample_notification(sample_alerts(1))
    by_profile = _channel(moto, http, SigV4(profile="oncall"))
    await by_profile.send(by_profile.render(n), CTX)
    role = moto.create_role("alert-router-publisher")
    assumed = _channel(moto, http, SigV4(REGION, profile="oncall", role_arn=role))
    await assumed.send(assumed.render(n), CTX)
    assert len(moto.received()) == 2
    # The role really is assumed through STS: with STS unreachable, nothing is sent.
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", closed_port_url())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    unreachable = _channel(moto, http, SigV4(REGION, profile="oncall", role_arn=role))
    with pytest.raises(DeliveryError) as info:
        await unreachable.send(unreachable.render(n), CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, True)
    assert info.value.message == "cannot get AWS credentials: EndpointConnectionError"
    assert moto.received() == []
    stranger = _channel(moto, http, SigV4(REGION, profile="nobody"))
    with pytest.raises(DeliveryError) as info:
        await stranger.send(stranger.render(n), CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.AUTH, True)
    assert "nobody" in info.value.message


_XML = ('<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error>'
        "<Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>9b8f</RequestId></ErrorResponse>")


@pytest.mark.parametrize(
    ("status", "code", "reason", "retryable"),
    [
        (400, "Throttling", FailureReason.RATE_LIMITED, True),
        (400, "InvalidParameter", FailureReason.CLIENT_ERROR, False),
        (404, "NotFound", FailureReason.CLIENT_ERROR, False),
        (403, "AuthorizationError", FailureReason.AUTH, False),
        (500, "InternalError", FailureReason.SERVER_ERROR, True),
        (503, "ServiceUnavailable", FailureReason.SERVER_ERROR, True),
    ],
)
async def test_sns_error_answers_are_classified(
    http: HttpClient, aiohttp_server: AiohttpServer, status: int, code: str,
    reason: FailureReason, retryable: bool,
) -> None:
    body = _XML.format(kind="Sender", code=code, message="Topic &quot;x&quot; broke")
    fake = await start_fake(aiohttp_server, "webhook", [(status, {}, body)], path="/")
    channel = SnsChannel(SnsConfig(SigV4("eu-west-1", "AKIA0", Secret("s3cr3t-key")),
                                   api_url=fake.url, topic_arn="arn:aws:sns:eu-west-1:1:t"),
                         Renderer([]), http)
    err = await failure(channel)
    assert (err.reason, err.retryable) == (reason, retryable)
    assert err.message == f'sns Publish failed: HTTP {status} {code}: Topic "x" broke'


CONFIG = """
global:
  http_config: {{follow_redirects: false}}
route: {{receiver: aws}}
receivers:
  - name: aws
    sns_configs:
      - {entry}
"""


def test_config_reads_alertmanagers_keys_and_hides_the_secret(tmp_path: Path) -> None:
    secret_file = tmp_path / "sk"
    secret_file.write_text("from-a-file\n", encoding="utf-8")
    cfg = load_config_text(CONFIG.format(entry=f"""topic_arn: arn:aws:sns:us-east-2:1:t
        api_url: https://sns.us-east-2.amazonaws.com
        sigv4: {{region: us-east-2, access_key: AKIA1, secret_key: top-secret-value}}
        subject: '{{{{ status }}}}'
        attributes: {{severity: '{{{{ commonLabels.severity }}}}'}}
        send_resolved: false
      - phone_number: '+15551230000'
        sigv4:
          access_key: AKIA2
          secret_key_file: {secret_file}
          role_arn: 'arn:aws:iam::1:role/r'
          external_id: x"""), "c.yml")
    first, second = cfg.receivers["aws"].configs(SnsConfig)
    assert (first.topic_arn, first.sigv4.region, first.subject) == (
        "arn:aws:sns:us-east-2:1:t", "us-east-2", "{{ status }}")
    assert first.attributes == (("severity", "{{ commonLabels.severity }}"),)
    assert (first.send_resolved, second.send_resolved) == (False, True)
    assert first.http_config.follow_redirects is False  # global http_config inherited
    assert second.sigv4.secret_key is not None
    assert second.sigv4.secret_key.reveal() == "from-a-file"
    assert (second.sigv4.role_arn, second.sigv4.external_id) == ("arn:aws:iam::1:role/r", "x")
    assert "top-secret-value" not in repr(cfg)
    assert "top-secret-value" not in redacted_yaml(cfg)


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        ("{sigv4: {region: x}}", "receivers[0].sns_configs[0]",
         "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"),
        ("{topic_arn: a, phone_number: '+1555'}", "receivers[0].sns_configs[0].phone_number",
         "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config "
         "(only one)"),
        ("{topic_arn: a, sigv4: {access_key: AKIA}}", "receivers[0].sns_configs[0].sigv4",
         "must provide a AWS SigV4 Access key and Secret Key"),
        ("{topic_arn: a, api_url: 'sns.amazonaws.com'}", "receivers[0].sns_configs[0].api_url",
         "must be an http(s) URL"),
        ("{topic_arn: a, sigv4: {regoin: x}}", "receivers[0].sns_configs[0].sigv4.regoin",
         'unknown key "regoin" (did you mean "region"?)'),
        ("{topic_arn: a, message: '{{ .Status }}'}", "receivers[0].sns_configs[0].message",
         "looks like a Go template"),
        ("{topic_arn: a, sigv4: {secret_key: hush-hush, access_key: 1, oops: hush-hush}}",
         "receivers[0].sns_configs[0].sigv4.oops", 'unknown key "oops"'),
    ],
)
def test_bad_config_names_the_path(entry: str, path: str, message: str) -> None:
    assert_config_problem(CONFIG.format(entry=entry), path, message)


async def test_region_missing_everywhere_is_a_permanent_failure(
    http: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    channel = SnsChannel(SnsConfig(SigV4(access_key="AKIA0", secret_key=Secret("k")),
                                   topic_arn="arn:aws:sns:eu-west-1:1:t"), Renderer([]), http)
    with pytest.raises(DeliveryError) as info:
        await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert (info.value.reason, info.value.retryable) == (FailureReason.OTHER, False)
    assert "region not configured" in info.value.message


def test_template_failure_still_sends_the_plain_text() -> None:
    failures: list[str] = []
    channel = SnsChannel(SnsConfig(topic_arn="arn:aws:sns:eu-west-1:1:t",
                                   message="{{ alerts|map('nosuchfilter')|list }}"),
                         Renderer([], on_failure=failures.append), HttpClient())
    form = dict(urllib.parse.parse_qsl(channel.render(
        sample_notification(sample_alerts(1))).decode()))
    assert form["Message"].startswith("[FIRING:1] HighErrorRate")
    assert form["TopicArn"] == "arn:aws:sns:eu-west-1:1:t"
    assert failures == ["sns"]
    assert json.dumps(form)  # the fallback is a complete Publish


async def test_static_keys_take_the_region_from_the_environment(
    moto: MotoSns, http: HttpClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_REGION", REGION)
    channel = _channel(moto, http, SigV4("", moto.access_key, Secret(moto.secret_key)))
    await channel.send(channel.render(sample_notification(sample_alerts(1))), CTX)
    assert len(moto.received()) == 1
