"""The redacted view of a config (what `GET /api/v2/status` serves) and secret scrubbing.

The view loads back to the same configuration (secrets aside), shows every secret as
`<secret>` and a `_file` secret by its path; scrubbing removes a channel's secrets from a
vendor's echo even when the vendor quoted only a URL's path or cut the secret short.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from router.config.load import load_config, load_config_text
from router.config.redact import format_duration, redacted, redacted_yaml
from router.config.secrets import scrub, secret_values
from router.config.types import BasicAuth, HttpConfig, Secret, WebhookConfig

REPO = Path(__file__).resolve().parent.parent
SHIPPED = [REPO / "rules" / "example.yml", REPO / "rules" / "minimal.yml",
           *sorted((REPO / "tests" / "data" / "config" / "good").glob("*.yml"))]

NO_INLINE_SECRETS = """
global: {{resolve_timeout: 90s}}
route:
  receiver: hook
  group_by: [alertname, cluster]
  group_wait: 1500ms
  routes:
    - receiver: hook
      matchers: ['team=~"db|web"', 'severity!="info"']
      continue: true
      mute_time_intervals: [nights]
      active_time_intervals: [weekdays]
      storm: {{threshold: 20, window: 1m, digest_interval: 5m}}
inhibit_rules:
  - source_matchers: [alertname="DatacenterDown"]
    target_matchers: [alertname="HostDown"]
    equal: [dc]
time_intervals:
  - name: nights
    time_intervals:
      - times: [{{start_time: "00:00", end_time: "06:30"}}]
        location: Europe/Berlin
  - name: weekdays
    time_intervals:
      - weekdays: ["monday:friday", saturday]
        days_of_month: ["1:7", "-1"]
        months: ["january:march"]
        years: ["2026"]
      - weekdays: []
receivers:
  - name: hook
    webhook_configs:
      - url_file: {url}
        max_alerts: 5
        http_config: {{bearer_token_file: {token}}}
server:
  auth:
    bearer_tokens_file: [{token}]
    public_read: true
"""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_view_loads_back_to_the_same_config(path: Path) -> None:
    config = load_config(path)
    text = redacted_yaml(config)
    assert "<secret>" in text or "secret" not in path.read_text(encoding="utf-8")
    again = load_config_text(text, str(path))
    assert redacted(again) == redacted(config)


def test_without_inline_secrets_the_round_trip_is_exact(tmp_path: Path) -> None:
    (tmp_path / "url").write_text("http://127.0.0.1:9/hook/T0KEN123\n", encoding="utf-8")
    (tmp_path / "token").write_text("file-token-4711\n", encoding="utf-8")
    text = NO_INLINE_SECRETS.format(url=tmp_path / "url", token=tmp_path / "token")
    config = load_config_text(text, str(tmp_path / "router.yml"))
    view = redacted_yaml(config)
    again = load_config_text(view, str(tmp_path / "router.yml"))
    assert replace(again, source_file=None) == replace(config, source_file=None)
    data = yaml.safe_load(view)
    # A `_file` secret shows its path (not a secret), never the file's content.
    hook = data["receivers"][0]["webhook_configs"][0]
    assert hook["url_file"] == str(tmp_path / "url")
    # Shown as Prometheus shows it: bearer_token is read as `authorization` (Bearer).
    assert hook["http_config"] == {"authorization": {"credentials_file": str(tmp_path / "token")}}
    assert data["server"]["auth"] == {"bearer_tokens_file": [str(tmp_path / "token")],
                                      "public_read": True}
    assert "T0KEN123" not in view
    assert "file-token-4711" not in view
    assert data["route"]["group_wait"] == "1s500ms"
    assert data["time_intervals"][1]["time_intervals"][0]["weekdays"] == [
        "monday:friday", "saturday"]


def test_inline_secrets_are_redacted_everywhere() -> None:
    config = load_config(REPO / "rules" / "example.yml")
    data = redacted(config)
    slack = data["receivers"][0]["slack_configs"][0]
    assert slack["api_url"] == "<secret>"
    assert data["server"]["auth"]["bearer_tokens"] == ["<secret>"]
    secrets = {s for receiver in config.receivers.values()
               for _kind, _index, cfg in receiver.channels() for s in secret_values(cfg)}
    assert secrets

    def scalars(node: object) -> list[str]:
        if isinstance(node, dict):
            return [s for v in node.values() for s in scalars(v)]
        if isinstance(node, list):
            return [s for v in node for s in scalars(v)]
        return [str(node)]

    shown = scalars(yaml.safe_load(redacted_yaml(config)))
    assert not secrets & set(shown)
    assert shown.count("<secret>") == 27


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.5, "500ms"), (30, "30s"), (90, "1m30s"), (4 * 3600, "4h"), (86400, "1d"),
    (1.25, "1s250ms"),
])
def test_durations_in_prometheus_syntax(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_scrub_removes_echoed_urls_headers_and_cut_secrets() -> None:
    cfg = WebhookConfig(
        url=Secret("https://hooks.example.com/services/T0/B1/abc123XYZ?sig=s1g9secret"),
        http_config=HttpConfig(basic_auth=BasicAuth("user", Secret("pa55word!"))),
    )
    secrets = secret_values(cfg)
    basic = base64.b64encode(b"user:pa55word!").decode()
    assert scrub("Cannot POST /services/T0/B1/abc123XYZ", secrets) == "Cannot POST <secret>"
    assert "s1g9secret" not in scrub("bad sig=s1g9secret", secrets)
    assert scrub(f"got {basic}", secrets) == "got <secret>"
    assert scrub("Authorization: Bearer someone-elses-token", secrets) == (
        "Authorization: Bearer <secret>")
    assert scrub("echo: pa55w…", secrets) == "echo: <secret>…"
    assert scrub("nothing to hide", secrets) == "nothing to hide"


ALERTMANAGER_STYLE = """
global:
  smtp_smarthost: smtp.example.com:587
  smtp_from: am@example.com
  smtp_auth_username: am
  smtp_auth_password: smtp-pa55-4711
  smtp_auth_secret: smtp-cram-4711
  slack_api_url: https://hooks.slack.com/services/T0/B0/slackhook4711
  opsgenie_api_key: opsgenie-4711
  victorops_api_key: victorops-4711
  wechat_api_secret: wechat-4711
  http_config:
    oauth2:
      client_id: router
      client_secret_file: {key}
      token_url: https://idp.example.com/token
      scopes: [alerts]
      endpoint_params: {{audience: hooks}}
    proxy_url: http://user:proxy-pa55-4711@proxy.example.com:3128
    no_proxy: localhost,.internal
    proxy_connect_header: {{X-Proxy-Key: [connect-4711]}}
    tls_config: {{ca_file: {key}, cert_file: {key}, key_file: {key}, server_name: hooks,
                 min_version: TLS12}}
route:
  receiver: team
  routes:
    - match_re: {{service: 'chk|pay'}}
      receiver: team
receivers:
  - name: team
    slack_configs:
      - channel: '#ops'
        title_link: https://example.com
        color: '{{{{ "danger" if status == "firing" else "good" }}}}'
        fields: [{{title: Severity, value: '{{{{ commonLabels.severity }}}}', short: true}}]
        actions: [{{type: button, text: Runbook, url: https://runbooks.example.com}}]
    email_configs:
      - to: team@example.com
    webhook_configs:
      - url: https://hooks.example.com/x
        http_config:
          authorization: {{type: Token, credentials: authz-4711}}
          tls_config: {{key: tls-key-4711, cert: not-checked-at-load, ca: pem}}
    pagerduty_configs:
      - service_key: pd-v1-4711
"""


def test_alertmanager_style_config_is_redacted_and_loads_back(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("file-4711\n", encoding="utf-8")
    config = load_config_text(ALERTMANAGER_STYLE.format(key=tmp_path / "k"),
                              str(tmp_path / "r.yml"))
    view = redacted_yaml(config)
    assert "4711" not in view
    # Secrets aside: a placeholder URL where `<secret>` stands (Alertmanager checks URLs).
    again = load_config_text(view.replace("<secret>", "https://secret.example/"),
                             str(tmp_path / "r.yml"))
    assert redacted(again) == redacted(config)
    data = yaml.safe_load(view)
    http = data["global"]["http_config"]
    assert http["oauth2"]["client_secret_file"] == str(tmp_path / "k")
    assert http["tls_config"]["key_file"] == str(tmp_path / "k")
    assert http["proxy_url"] == "<secret>"
    assert http["proxy_connect_header"] == {"X-Proxy-Key": ["<secret>"]}
    assert data["global"]["slack_api_url"] == "<secret>"
    # What receivers inherited is shown where it applies.
    email = data["receivers"][0]["email_configs"][0]
    assert (email["smarthost"], email["auth_password"]) == ("smtp.example.com:587", "<secret>")
    assert data["receivers"][0]["pagerduty_configs"][0]["service_key"] == "<secret>"


def test_scrub_knows_proxy_passwords_and_basic_auth_from_a_username_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "user").write_text("file-user\n", encoding="utf-8")
    cfg = WebhookConfig(url=Secret("https://hooks.example.com/x"), http_config=HttpConfig(
        proxy_url=Secret("http://u:pr0xy-pa55@proxy:3128"),
        basic_auth=BasicAuth("", Secret("pw-4711"), str(tmp_path / "user"))))
    secrets = secret_values(cfg)
    basic = base64.b64encode(b"file-user:pw-4711").decode()
    assert scrub(f"proxy said pr0xy-pa55, echoed {basic}", secrets) == (
        "proxy said <secret>, echoed <secret>")
