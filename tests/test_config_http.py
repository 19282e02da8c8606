"""`global:` and `http_config` as read from YAML: Alertmanager's defaults and inheritance,
Prometheus' common HTTP client checks with their texts, and the matcher and label-name
rules Alertmanager applies to routes and receivers.
"""

from __future__ import annotations

import pytest

from router.channels.email import EmailConfig
from router.channels.pagerduty import PagerdutyConfig
from router.channels.pagerduty.events import V1_URL
from router.channels.telegram import TelegramConfig
from router.config.load import load_config_text
from router.config.types import HttpConfig, RouterConfig, SlackConfig, WebhookConfig
from router.errors import ConfigError


def load(text: str) -> RouterConfig:
    return load_config_text(text, "c.yml")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text)
    return [f"{p.path}: {p.message}" for p in info.value.problems]


INHERIT = """
global:
  smtp_smarthost: smtp.example.com:587
  smtp_from: Alertmanager <am@example.com>
  smtp_hello: am.example.com
  smtp_auth_username: am
  smtp_auth_password: global-pw
  smtp_auth_identity: ident
  smtp_require_tls: false
  slack_api_url: https://hooks.slack.com/services/T/B/x
  pagerduty_url: https://pd.example.com/v2/enqueue
  telegram_api_url: https://tg.example.com
  http_config: {bearer_token: global-token}
route: {receiver: r}
receivers:
  - name: r
    email_configs:
      - to: a@example.com
      - to: b@example.com
        from: own@example.com
        auth_username: own
        auth_password: own-pw
        require_tls: true
    slack_configs:
      - channel: '#a'
    webhook_configs:
      - url: https://hooks.example.com/1
      - url: https://hooks.example.com/2
        http_config: {follow_redirects: false}
    pagerduty_configs:
      - routing_key: rk
      - service_key: sk
    telegram_configs:
      - bot_token: t
        chat_id: 1
"""


def test_receivers_inherit_global_as_alertmanager_does() -> None:
    config = load(INHERIT)
    r = config.receivers["r"]
    inherited, own = r.configs(EmailConfig)
    assert (inherited.smarthost, inherited.from_, inherited.hello) == (
        "smtp.example.com:587", "Alertmanager <am@example.com>", "am.example.com")
    assert inherited.auth_username == "am"
    assert inherited.auth_password is not None
    assert inherited.auth_password.reveal() == "global-pw"
    assert (inherited.auth_identity, inherited.require_tls) == ("ident", False)
    assert own.from_ == "own@example.com"
    assert own.auth_password is not None
    assert (own.auth_username, own.auth_password.reveal(), own.require_tls) == (
        "own", "own-pw", True)
    (slack,) = r.configs(SlackConfig)
    assert slack.api_url is not None
    assert slack.api_url.reveal() == "https://hooks.slack.com/services/T/B/x"
    global_http = config.global_.http_config
    assert global_http.authorization is not None
    assert global_http.authorization.type == "Bearer"
    assert global_http.authorization.credentials is not None
    assert global_http.authorization.credentials.reveal() == "global-token"
    assert slack.http_config == global_http
    first, second = r.configs(WebhookConfig)
    assert first.http_config == global_http
    # An entry's own http_config replaces the global one whole: no token, no merge.
    assert second.http_config == HttpConfig(follow_redirects=False)
    v2, v1 = r.configs(PagerdutyConfig)
    assert (v2.url, v1.url) == ("https://pd.example.com/v2/enqueue", V1_URL)
    assert v1.service_key is not None
    assert v1.key.reveal() == "sk"
    assert v2.http_config == global_http
    (telegram,) = r.configs(TelegramConfig)
    assert telegram.api_url == "https://tg.example.com"


@pytest.mark.parametrize(("entry", "message"), [
    ("email_configs: [{to: a@example.com}]",
     'email_configs[0].smarthost: missing required key "smarthost" (and no global '
     "smtp_smarthost set)"),
    ("slack_configs: [{channel: '#a'}]",
     "no global Slack API URL set either inline or in a file"),
    ("pagerduty_configs: [{severity: critical}]",
     'one of "routing_key" or "routing_key_file" is required'),
])
def test_without_global_the_entry_must_say(entry: str, message: str) -> None:
    text = f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    {entry}\n"
    assert any(message in p for p in problems(text)), problems(text)


@pytest.mark.parametrize(("http_config", "message"), [
    ("{bearer_token: a, bearer_token_file: /f}",
     '"bearer_token" and "bearer_token_file" are mutually exclusive'),
    ("{bearer_token: a, basic_auth: {username: u}}",
     "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"),
    ("{authorization: {credentials: a}, bearer_token: b}",
     "authorization is not compatible with bearer_token & bearer_token_file"),
    ("{authorization: {type: Basic, credentials: a}}",
     'authorization type cannot be set to "basic", use "basic_auth" instead'),
    ("{authorization: {credentials: a}, basic_auth: {username: u}}",
     "at most one of basic_auth, oauth2 & authorization must be configured"),
    ("{oauth2: {client_secret: s, token_url: 'http://t/'}}",
     "oauth2 client_id must be configured"),
    ("{oauth2: {client_id: c, token_url: 'http://t/'}}",
     "either oauth2 client_secret or client_secret_file must be configured"),
    ("{oauth2: {client_id: c, client_secret: s}}", "oauth2 token_url must be configured"),
    ("{no_proxy: example.com}", "if no_proxy is configured, proxy_url must also be configured"),
    ("{proxy_from_environment: true, proxy_url: 'http://p:1'}",
     "if proxy_from_environment is configured, proxy_url must not be configured"),
    ("{proxy_from_environment: true, no_proxy: x}",
     "if proxy_from_environment is configured, no_proxy must not be configured"),
    ("{proxy_connect_header: {X: [a]}}",
     "if proxy_connect_header is configured, proxy_url or proxy_from_environment must"),
    ("{tls_config: {min_version: TLS14}}", "unknown TLS version: TLS14"),
    ("{tls_config: {min_version: TLS13, max_version: TLS12}}",
     "max_version must be greater than or equal to min_version"),
    ("{tls_config: {cert: pem}}", "exactly one of key or key_file must be configured"),
    ("{tls_config: {ca: a, ca_file: /x}}", "at most one of ca and ca_file must be configured"),
    ("{tls_config: {ca_file: /does/not/exist}}", "file not found: /does/not/exist"),
    ("{proxy_ur: x}", 'unknown key "proxy_ur" (did you mean "proxy_url"?)'),
])
def test_http_config_checks_are_prometheus(http_config: str, message: str) -> None:
    text = (f"route: {{receiver: r}}\nreceivers:\n  - name: r\n    webhook_configs:\n"
            f"      - url: http://h/\n        http_config: {http_config}\n")
    found = problems(text)
    assert any(message in p for p in found), found


def test_http_config_every_key() -> None:
    text = """
route: {receiver: r}
receivers:
  - name: r
    webhook_configs:
      - url: http://h/
        http_config:
          oauth2:
            client_id: c
            client_secret: s
            token_url: https://idp/token
            scopes: [a, b]
            endpoint_params: {audience: x}
          proxy_url: http://proxy:3128
          no_proxy: .internal,10.0.0.0/8
          proxy_connect_header: {X-A: [one, two]}
          tls_config: {server_name: h, insecure_skip_verify: true, min_version: TLS12,
                       max_version: TLS13}
          follow_redirects: false
          enable_http2: false
"""
    (hook,) = load(text).receivers["r"].configs(WebhookConfig)
    http = hook.http_config
    assert http.oauth2 is not None
    assert (http.oauth2.client_id, http.oauth2.scopes, http.oauth2.endpoint_params) == (
        "c", ("a", "b"), (("audience", "x"),))
    assert http.no_proxy == ".internal,10.0.0.0/8"
    assert [(n, [v.reveal() for v in vs]) for n, vs in http.proxy_connect_header] == [
        ("X-A", ["one", "two"])]
    assert (http.tls_config.server_name, http.tls_config.insecure_skip_verify) == ("h", True)
    assert (http.tls_config.min_version, http.tls_config.max_version) == ("TLS12", "TLS13")
    assert (http.follow_redirects, http.enable_http2) == (False, False)


@pytest.mark.parametrize(("snippet", "message"), [
    ("route: {receiver: r, group_by: ['-invalid-']}",
     'route.group_by[0]: invalid label name "-invalid-" in group_by list'),
    ("route: {receiver: r, routes: [{match: {'a-b': x}}]}", 'invalid label name "a-b"'),
    ("route: {receiver: r, routes: [{match_re: {'a b': x}}]}", 'invalid label name "a b"'),
    ("route: {receiver: r, routes: [{match_re: {a: }}]}", 'invalid regexp value for "a"'),
])
def test_label_names_are_checked_as_alertmanager_does(snippet: str, message: str) -> None:
    found = problems(f"{snippet}\nreceivers: [{{name: r}}]\n")
    assert any(message in p for p in found), found


def test_a_receiver_without_a_name_is_refused() -> None:
    found = problems("route: {receiver: r}\nreceivers: [{name: r}, {name: ''}]\n")
    assert found == ["receivers[1].name: missing name in receiver"]


@pytest.mark.parametrize(("global_", "message"), [
    ("{slack_api_url: x, slack_api_url_file: /f}",
     "at most one of slack_api_url & slack_api_url_file must be configured"),
    ("{smtp_smarthost: nohost}", 'smarthost "nohost" must be host:port'),
    ("{pagerduty_url: 'ftp://x'}", "unsupported scheme or missing host in URL"),
    ("{resolve_timeout: 0s}", "must be greater than zero"),
    ("{smtp_helo: x}", 'unknown key "smtp_helo" (did you mean "smtp_hello"?)'),
])
def test_global_checks(global_: str, message: str) -> None:
    found = problems(f"global: {global_}\nroute: {{receiver: r}}\nreceivers: [{{name: r}}]\n")
    assert any(message in p for p in found), found
