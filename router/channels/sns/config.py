"""The `sns_configs` entries: SnsConfig, its `sigv4` block and the parser.

Alertmanager's names and checks: exactly one of `topic_arn`, `target_arn`, `phone_number`
("must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"), and an
access key only with its secret key (prometheus/sigv4's message). Templates compile here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node

CONFIG_KEY = "sns_configs"
SIGV4_KEYS = ("region", "access_key", "secret_key", "secret_key_file", "profile", "role_arn",
              "external_id")
_TEMPLATES = ("topic_arn", "target_arn", "phone_number", "subject", "message")
KEYS = (
    "api_url", "sigv4", *_TEMPLATES, "attributes", "send_resolved", "template",
    "http_config", "timeout", "pacing",
    # Alertmanager 0.29's switch to the AWS SDK's own HTTP client: requests here always
    # go through the router's client, which applies `http_config` (TLS, proxy) itself.
    "use_aws_http_client",
)


@dataclass(frozen=True, slots=True)
class SigV4:
    """prometheus/sigv4's block: static keys, a shared-config profile, or the default
    chain (environment, shared files, instance role); `role_arn` is assumed on top."""

    region: str = ""  # "": from the profile or the environment (AWS_REGION)
    access_key: str = ""
    secret_key: Secret | None = None
    profile: str = ""
    role_arn: str = ""
    external_id: str = ""


@dataclass(frozen=True, slots=True)
class SnsConfig:
    """One entry. Strings but `api_url` are Jinja source, rendered once per notification."""

    sigv4: SigV4 = field(default_factory=SigV4)
    api_url: str = ""  # "": https://sns.<region>.amazonaws.com/
    topic_arn: str | None = None
    target_arn: str | None = None
    phone_number: str | None = None
    subject: str | None = None  # None: Alertmanager's __subject
    message: str | None = None  # None: Alertmanager's sns.default.message
    attributes: tuple[tuple[str, str], ...] = ()  # name → value template
    send_resolved: bool = True
    template: str | None = None  # a Jinja file rendering the message
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced (SNS takes thousands a second)


def parse(fields: FieldReader, node: Node) -> SnsConfig | None:
    sigv4 = _sigv4(fields, node.get_map("sigv4"))
    text = {key: fields.template_string(node.get(key)) for key in _TEMPLATES}
    chosen = [k for k in ("topic_arn", "target_arn", "phone_number") if text[k]]
    if len(chosen) != 1:
        where = node.get(chosen[-1]) if len(chosen) > 1 else None
        (where or node).error("must provide either a Target ARN, Topic ARN, or Phone Number "
                              "for SNS config" + (" (only one)" if chosen else ""))
    api_url = node.get_str("api_url", "") or ""
    if api_url:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            (node.get("api_url") or node).error("must be an http(s) URL")
    attributes = _attributes(fields, node)
    node.get_bool("use_aws_http_client", False)
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    http_config = fields.http_config(node)
    timeout = fields.timeout(node)
    pacing = fields.pacing(node)
    if sigv4 is None or len(chosen) != 1:
        return None
    return SnsConfig(sigv4, api_url, text["topic_arn"], text["target_arn"],
                     text["phone_number"], text["subject"], text["message"], attributes,
                     send_resolved, template, http_config, timeout, pacing)


def _sigv4(fields: FieldReader, node: Node | None) -> SigV4 | None:
    if node is None:
        return SigV4()
    node.expect_keys(SIGV4_KEYS)
    access_key = node.get_str("access_key", "") or ""
    secret = fields.secret(node, "secret_key")
    if bool(access_key) != (secret is not None):
        node.error("must provide a AWS SigV4 Access key and Secret Key if credentials are "
                   "specified in the SigV4 config")
        return None
    role_arn = node.get_str("role_arn", "") or ""
    if role_arn and not role_arn.startswith("arn:"):
        (node.get("role_arn") or node).error('must be an ARN ("arn:aws:iam::<account>:role/…")')
    return SigV4(node.get_str("region", "") or "", access_key, secret,
                 node.get_str("profile", "") or "", role_arn,
                 node.get_str("external_id", "") or "")


def _attributes(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("attributes")
    if child is None:
        return ()
    out: list[tuple[str, str]] = []
    for name, value in child.entries():
        text = fields.template_string(value)
        if text is not None:
            out.append((name, text))
    return tuple(out)
