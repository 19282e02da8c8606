"""The `sms_configs` entries: SmsConfig and its parser (provider twilio or webhook).

Numbers must be E.164, Twilio SIDs and sender ids are checked by shape and keys of the other
provider are refused, all at load; the senders only read the parsed dataclass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from router.channels.sms import text as sms_text
from router.config.fields import FieldReader
from router.config.types import HttpConfig, Pacing, Secret
from router.config.yaml_source import Node

TWILIO_API = "https://api.twilio.com"
PROVIDERS = ("twilio", "webhook")
CONTENT_TYPES = {"json": "application/json", "form": "application/x-www-form-urlencoded"}
MAX_SEGMENTS = 10  # Twilio concatenates at most 10 segments (1,600 characters)

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_SENDER_ID = re.compile(r"\d{3,8}|(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")  # short code, alphanumeric


@dataclass(frozen=True, slots=True)
class SmsConfig:
    provider: str  # "twilio" | "webhook"
    to: tuple[str, ...]  # E.164 numbers; one message each
    # provider: twilio
    account_sid: str | None = None
    auth_token: Secret | None = None
    from_: str | None = None  # YAML `from`; exclusive with messaging_service_sid
    messaging_service_sid: str | None = None
    api_url: str = TWILIO_API  # /2010-04-01/Accounts/{sid}/Messages.json is appended
    status_callback: str | None = None
    # provider: webhook
    url: Secret | None = None
    http_config: HttpConfig = field(default_factory=HttpConfig)
    # Jinja: a string (the whole body) or (key, template) pairs; data adds `text` and `to`.
    body: str | tuple[tuple[str, str], ...] | None = None
    content_type: str = "json"
    # both
    max_segments: int = 1
    # A recovery SMS wakes the on-call a second time for nothing to do: opt in.
    send_resolved: bool = False
    template: str | None = None  # Jinja file rendering the whole text
    timeout: float | None = None
    pacing: Pacing | None = None


CONFIG_KEY = "sms_configs"
_TWILIO_KEYS = ("account_sid", "auth_token", "auth_token_file", "from",
                "messaging_service_sid", "api_url", "status_callback")
_WEBHOOK_KEYS = ("url", "url_file", "http_config", "body", "content_type")
KEYS = ("provider", "to", *_TWILIO_KEYS, *_WEBHOOK_KEYS, "max_segments", "send_resolved",
        "template", "timeout", "pacing")


def parse(fields: FieldReader, node: Node) -> SmsConfig | None:
    provider_node = node.require("provider")
    provider = node.get_str("provider")
    if provider_node is not None and provider is not None and provider not in PROVIDERS:
        provider_node.error(f'unknown provider "{provider}": use "twilio" or "webhook"')
        provider = None
    to = _recipients(node)
    max_segments = node.get_int("max_segments", 1, minimum=1)
    if max_segments > MAX_SEGMENTS:
        _error_at(node, "max_segments",
                  f"must be <= {MAX_SEGMENTS} (1,600 characters), got {max_segments}")
        max_segments = MAX_SEGMENTS
    common: dict[str, Any] = {
        "max_segments": max_segments,
        "send_resolved": node.get_bool("send_resolved", False),
        "template": fields.template_key(node, "template"),
        "timeout": fields.timeout(node),
        "pacing": fields.pacing(node),
    }
    if provider is None:
        return None
    _only(node, _WEBHOOK_KEYS if provider == "twilio" else _TWILIO_KEYS, provider)
    if provider == "twilio":
        return _twilio(fields, node, to, common)
    return _gateway(fields, node, to, common)


def _error_at(node: Node, key: str, message: str) -> None:
    (node.get(key) or node).error(message)


def _only(node: Node, keys: tuple[str, ...], provider: str) -> None:
    for key in keys:
        key_node = node.key_node(key)
        if key_node is not None:
            key_node.error(f'"{key}" does not apply to provider "{provider}"')


def _recipients(node: Node) -> tuple[str, ...] | None:
    if node.require("to") is None:
        return None
    items = node.get_list("to")
    if items is None:
        return None
    if not items:
        _error_at(node, "to", "needs at least one phone number")
        return None
    out: list[str] = []
    for item in items:
        number = item.as_str()
        if number is None:
            continue
        if not sms_text.is_e164(number):
            item.error(f'"{number}" is not an E.164 phone number: "+", the country code and '
                       "the number, at most 15 digits, no spaces (e.g. +15551230000)")
        elif number in out:
            item.error(f'"{number}" is listed twice')
        else:
            out.append(number)
    return tuple(out) if len(out) == len(items) else None


def _checked(node: Node, key: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = node.get_str(key)
    if value is not None and pattern.fullmatch(value) is None:
        _error_at(node, key, f'"{value}" is not {what}')
        return None
    return value


def _twilio(fields: FieldReader, node: Node, to: tuple[str, ...] | None,
            common: dict[str, Any]) -> SmsConfig | None:
    sid_ok = node.require("account_sid") is not None
    sid = _checked(node, "account_sid", _ACCOUNT_SID, 'a Twilio account SID ("AC" and 32 hex)')
    token = fields.secret(node, "auth_token", required=True)
    sender = node.get_str("from")
    if sender is not None and not (sms_text.is_e164(sender) or _SENDER_ID.fullmatch(sender)):
        _error_at(node, "from",
                  f'"{sender}" is not an E.164 number, short code or alphanumeric sender ID')
        sender = None
    service = _checked(node, "messaging_service_sid", _SERVICE_SID,
                       'a messaging service SID ("MG" and 32 hex)')
    if node.has("from") and node.has("messaging_service_sid"):
        _error_at(node, "messaging_service_sid",
                  '"from" and "messaging_service_sid" are mutually exclusive')
    elif not node.has("from") and not node.has("messaging_service_sid"):
        node.error('one of "from" or "messaging_service_sid" is required')
    api_url = node.get_str("api_url", TWILIO_API) or TWILIO_API
    if not api_url.startswith(("http://", "https://")):
        _error_at(node, "api_url", "must be an http:// or https:// URL")
    if not (sid_ok and sid and token and to) or (sender is None) == (service is None):
        return None
    return SmsConfig("twilio", to, account_sid=sid, auth_token=token, from_=sender,
                     messaging_service_sid=service, api_url=api_url,
                     status_callback=node.get_str("status_callback"), **common)


def _gateway(fields: FieldReader, node: Node, to: tuple[str, ...] | None,
             common: dict[str, Any]) -> SmsConfig | None:
    url = fields.secret(node, "url", required=True)
    content_type = node.get_str("content_type", "json") or "json"
    if content_type not in CONTENT_TYPES:
        _error_at(node, "content_type",
                  f'unknown content_type "{content_type}": use "json" or "form"')
        content_type = "json"
    body: str | tuple[tuple[str, str], ...] | None = None
    body_node = node.get("body")
    if body_node is not None and body_node.is_map:
        body = tuple((key, fields.template_string(value) or "")
                     for key, value in body_node.entries())
    elif body_node is not None and not body_node.is_null:
        body = fields.template_string(body_node)
    http_config = fields.http_config(node)
    if url is None or to is None:
        return None
    return SmsConfig("webhook", to, url=url, http_config=http_config, body=body,
                     content_type=content_type, **common)
