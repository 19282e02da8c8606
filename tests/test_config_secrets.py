"""Config problems never quote a secret (issue 11 item 11): in check-config's output, the
`/-/reload` 400 body and the log, a value at or under a secret key shows as `<secret>`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from router.cli import main

GOOD = """
route:
  receiver: hook
receivers:
  - name: hook
"""

# Every secret key given the wrong shape, so the problem message would quote its value.
BAD = """
global:
  slack_api_url: ftp://s3cr3t-slack-url
  smtp_auth_password: true
  opsgenie_api_key: yes
  http_config:
    authorization: {credentials: true}
route:
  receiver: hook
server:
  auth:
    bearer_tokens: "s3cr3t-token"
    basic_auth:
      username: u
      password: [s3cr3t-password]
receivers:
  - name: hook
    webhook_configs:
      - url: {at: s3cr3t-url}
      - url: http://example.com/
        http_config:
          oauth2: {client_id: x, client_secret: true, token_url: http://t/}
          proxy_url: true
          proxy_connect_header: {X-Key: {k: s3cr3t-header}}
          tls_config: {key: true}
    slack_configs:
      - token: true
    pagerduty_configs:
      - routing_key: 12345678901
    telegram_configs:
      - bot_token: yes
        chat_id: 1
"""
SECRETS = ("s3cr3t", "12345678901", "true", "yes")


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert f'"{secret}' not in text
    assert "s3cr3t" not in text


def test_check_config_shows_secret_values_as_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "router.yml"
    path.write_text(BAD, encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert f"{path}:12:20: server.auth.bearer_tokens: expected a list, got <secret>" in text
    assert "slack_configs[0].token: expected a string, got <secret>" in text
    assert "global.slack_api_url: unsupported scheme or missing host in URL <secret>" in text
    for where in ("global.smtp_auth_password", "global.opsgenie_api_key",
                  "global.http_config.authorization.credentials",
                  "http_config.oauth2.client_secret", "http_config.proxy_url",
                  "http_config.tls_config.key"):
        assert f"{where}: expected a string, got <secret>" in text, where
    _no_secret(text)


async def test_reload_body_and_log_show_secret_values_as_secret(
    make_router: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "router.yml"
    path.write_text(GOOD, encoding="utf-8")
    client, _ = await make_router(GOOD, config_path=str(path),
                                  overrides={"storage": str(tmp_path / "router.db")})
    path.write_text(BAD, encoding="utf-8")
    with caplog.at_level(logging.INFO):
        resp = await client.post("/-/reload")
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert "server.auth.bearer_tokens: expected a list, got <secret>" in detail
    _no_secret(detail)
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "<secret>" in logged
    _no_secret(logged)


def test_durations_are_bounded_so_derived_times_stay_formattable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """now + resolve_timeout (or any interval) must stay inside the accepted timestamps."""
    path = tmp_path / "router.yml"
    path.write_text("global:\n  resolve_timeout: 9000y\n" + GOOD, encoding="utf-8")
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr()
    assert 'global.resolve_timeout: duration "9000y" is longer than 1000y' in out.out + out.err
    path.write_text("global:\n  resolve_timeout: 1000y\n" + GOOD, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0


async def test_reload_that_fails_to_build_quotes_no_secret_of_either_config(
    make_router: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A config that loads but will not build (a channel or template raising with a value
    in its message) is refused without quoting a secret of the new or running config."""
    import router.service

    running = "https://hooks.example.com/services/T0/B0/s3cr3t-running"
    new = "https://hooks.example.com/services/T0/B0/s3cr3t-new"
    cfg = ("route:\n  receiver: hook\nreceivers:\n  - name: hook\n"
           "    slack_configs:\n      - api_url: {url}\n")
    path = tmp_path / "router.yml"
    path.write_text(cfg.format(url=running), encoding="utf-8")
    client, _ = await make_router(cfg.format(url=running), config_path=str(path),
                                  overrides={"storage": str(tmp_path / "router.db")})
    path.write_text(cfg.format(url=new), encoding="utf-8")

    def will_not_build(*args: Any, **kwargs: Any) -> None:
        raise ValueError(f"cannot build channel for {new} (was {running})")

    monkeypatch.setattr(router.service, "compile_runtime", will_not_build)
    with caplog.at_level(logging.INFO):
        resp = await client.post("/-/reload")
    assert resp.status == 400
    detail = (await resp.json())["detail"]
    assert detail == "cannot build channel for <secret> (was <secret>)"
    logged = "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    assert "cannot build channel for <secret>" in logged
    assert "s3cr3t" not in logged
