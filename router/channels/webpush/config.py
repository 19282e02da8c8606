"""Web Push configuration: the `webpush_configs` entries, the top-level `webpush` section,
and the endpoint allowlist that keeps subscriptions on the push services (SSRF guard).

An allowlist entry is a host pattern (`*.googleapis.com`, `push.example.org`: https on
port 443 only) or an origin pattern `scheme://host[:port]` whose port may be `*` (tests
allow `http://127.0.0.1:*`). A subscription endpoint must be a plain http(s) URL (no
credentials, no fragment) whose origin one entry matches.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from router.config.fields import FieldReader
from router.config.types import DEFAULT_PUSH_TTL, Pacing, WebPushSettings
from router.config.yaml_source import Node

CONFIG_KEY = "webpush_configs"
KEYS = ("send_resolved", "ttl", "timeout", "pacing")
SECTION_KEYS = ("subject", "allowed_endpoints", "ttl")
# RFC 8030 leaves the TTL ceiling to the push service; FCM keeps a message 4 weeks at most.
MAX_TTL = 28 * 24 * 3600.0

_HOST = re.compile(r"(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")
_PORT = re.compile(r"\*|[0-9]{1,5}")
_MAILTO = re.compile(r"mailto:[^@\s]+@([a-z0-9-]+\.)+[a-z]{2,}", re.IGNORECASE)
# Apple answers 403 BadJwtToken for a contact it cannot resolve (human-loop.md §3.3).
_UNRESOLVABLE = (".local", ".localhost", ".invalid", ".test", ".example", ".internal")


@dataclass(frozen=True, slots=True)
class WebPushConfig:
    """One `webpush_configs` entry: every browser subscribed to the receiver gets it."""

    send_resolved: bool = True
    ttl: float | None = None  # seconds; None: by severity (`webpush.ttl`)
    timeout: float | None = None
    pacing: Pacing | None = None  # per subscription; None: unpaced


@dataclass(frozen=True, slots=True)
class EndpointPattern:
    scheme: str
    host: str  # "*.example.com" matches any subdomain (not the bare domain)
    port: str  # digits or "*"

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port != "*" and int(self.port) != port):
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and len(host) > len(self.host) - 1
        return host == self.host


def compile_pattern(text: str) -> EndpointPattern | None:
    """An allowlist entry, or None if it is not one."""
    text = text.strip().lower()
    if "://" not in text:
        return EndpointPattern("https", text, "443") if _HOST.fullmatch(text) else None
    scheme, _, rest = text.partition("://")
    host, _, port = rest.partition(":") if not rest.startswith("[") else (rest, "", "")
    if scheme not in ("http", "https") or not _HOST.fullmatch(host):
        return None
    if port and not _PORT.fullmatch(port):
        return None
    return EndpointPattern(scheme, host, port or ("443" if scheme == "https" else "80"))


def endpoint_allowed(endpoint: str, patterns: tuple[str, ...]) -> bool:
    """Whether a subscription endpoint may be pushed to (an http(s) URL on an allowed
    origin, without credentials or fragment)."""
    try:
        url = urllib.parse.urlsplit(endpoint)
        port = url.port
    except ValueError:
        return False
    if url.scheme not in ("http", "https") or not url.hostname or url.username is not None \
            or url.password is not None or url.fragment:
        return False
    port = port or (443 if url.scheme == "https" else 80)
    compiled = (compile_pattern(p) for p in patterns)
    return any(p is not None and p.matches(url.scheme, url.hostname, port) for p in compiled)


def origin(endpoint: str) -> str:
    """`scheme://host[:port]`: the VAPID `aud` claim for an endpoint."""
    url = urllib.parse.urlsplit(endpoint)
    return f"{url.scheme}://{url.netloc.rpartition('@')[2]}"


def subject_problem(subject: str) -> str | None:
    """Why `subject` cannot be the VAPID contact, or None."""
    if subject.lower().startswith("https://"):
        host = urllib.parse.urlsplit(subject).hostname or ""
        if "." in host and not host.endswith(_UNRESOLVABLE):
            return None
    elif _MAILTO.fullmatch(subject) and not subject.lower().endswith(_UNRESOLVABLE):
        return None
    return ("must be a mailto: address or an https: URL on a public domain "
            "(Apple's push service refuses any other contact with 403)")


# --- parsing --------------------------------------------------------------------------


def parse(fields: FieldReader, node: Node) -> WebPushConfig:
    ttl = node.get_duration("ttl", None, allow_zero=False)
    if ttl is not None and ttl > MAX_TTL:
        (node.get("ttl") or node).error("must be at most 28d (push services keep no longer)")
        ttl = None
    return WebPushConfig(send_resolved=node.get_bool("send_resolved", True), ttl=ttl,
                         timeout=fields.timeout(node), pacing=fields.pacing(node))


def parse_settings(node: Node) -> WebPushSettings:
    """The top-level `webpush` section."""
    node.expect_keys(SECTION_KEYS)
    subject_node = node.require("subject")
    subject = node.get_str("subject")
    if subject is not None and subject_node is not None:
        problem = subject_problem(subject)
        if problem:
            subject_node.error(problem)
    allowed = WebPushSettings().allowed_endpoints
    items = node.get_list("allowed_endpoints")
    if items is not None:
        allowed = tuple(_patterns(node.get("allowed_endpoints") or node, items))
    ttl = dict(DEFAULT_PUSH_TTL)
    ttl_node = node.get_map("ttl")
    for severity, item in ttl_node.entries() if ttl_node is not None else ():
        seconds = item.as_duration()
        if seconds is None:
            continue
        if not 0 < seconds <= MAX_TTL:
            item.error("must be greater than zero and at most 28d")
            continue
        ttl[severity] = seconds
    return WebPushSettings(subject=subject, allowed_endpoints=allowed,
                           ttl=tuple(ttl.items()))


def _patterns(node: Node, items: list[Node]) -> list[str]:
    out: list[str] = []
    for item in items:
        text = item.as_str()
        if text is None:
            continue
        if compile_pattern(text) is None:
            item.error('not a host pattern ("*.push.example.com") or an origin '
                       '("https://host:port", port "*" for any)')
            continue
        out.append(text.strip().lower())
    if not out:
        node.error("must list at least one host pattern (no push service is reachable)")
    return out
