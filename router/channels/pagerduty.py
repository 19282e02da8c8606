"""PagerDuty Events API v2: trigger/resolve events keyed like Alertmanager's integration.

The rendered payload is a JSON list of events without the routing key (payloads are stored);
`send` posts them one by one and inserts the key at send time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jinja2

from router.channels.base import DeliveryError, FailureReason, SendContext, excerpt, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.config.fields import FieldReader
from router.config.types import Pacing, Secret
from router.config.yaml_source import Node
from router.model import Notification, format_time
from router.rendering import Renderer, label_matchers, template_data

log = logging.getLogger(__name__)

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
DEFAULT_CLIENT = "alert-router"
MAX_SUMMARY = 1024  # PagerDuty's limit for payload.summary
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty drops larger events
MAX_DEFAULT_LINKS = 10  # runbook/source links gathered from the alerts
# PagerDuty counts about 120 events per minute per routing key. A bucket of 15 refilled at
# 1.75/s never lets more than 15 + 1.75 × 60 = 120 through in any 60-second window, so a
# burst cannot push the following minute over the limit.
PAGERDUTY_PACING = Pacing(rate=1.75, burst=15)

SEVERITIES = ("info", "warning", "error", "critical")  # ascending
_SEVERITY_ALIASES = {
    "critical": "critical", "page": "critical",
    "error": "error", "high": "error",
    "warning": "warning", "warn": "warning", "medium": "warning",
    "info": "info", "low": "info", "none": "info",
}
_V4_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
            "fingerprint")


def pagerduty_severity(value: str | None) -> str:
    """A `severity` label (or rendered template) as one of PagerDuty's four values.

    PagerDuty rejects the whole event over an unknown severity: paging with "error" (as
    Alertmanager defaults) beats not paging at all.
    """
    return _SEVERITY_ALIASES.get((value or "").strip().lower(), "error")


def dedup_key(group_key: str) -> str:
    """Alertmanager's `Key.Hash()`: a migrated team keeps its open incidents."""
    return hashlib.sha256(group_key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PagerdutyLink:
    href: str  # Jinja source; an empty rendering drops the link
    text: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyImage:
    src: str  # Jinja source; an empty rendering drops the image
    href: str = ""
    alt: str = ""


@dataclass(frozen=True, slots=True)
class PagerdutyConfig:
    routing_key: Secret
    url: str = DEFAULT_URL
    client: str = DEFAULT_CLIENT  # Jinja source, like every string below
    client_url: str | None = None  # None: the Alertmanager view of the receiver
    description: str | None = None  # payload.summary; None: templates/pagerduty.j2
    severity: str | None = None  # None: from the alerts' `severity` label
    # Added to the default firing/resolved/num_firing/num_resolved (as Alertmanager does).
    details: tuple[tuple[str, str], ...] = ()
    links: tuple[PagerdutyLink, ...] = ()
    images: tuple[PagerdutyImage, ...] = ()
    source: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None  # `class` in YAML
    # One incident per alert (dedup_key = fingerprint) instead of one per group.
    incident_per_alert: bool = False
    send_resolved: bool = True
    template: str | None = None
    timeout: float | None = None
    pacing: Pacing | None = None  # None: PAGERDUTY_PACING


Template = jinja2.Template | None


class PagerdutyChannel:
    kind = "pagerduty"

    def __init__(self, cfg: PagerdutyConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or PAGERDUTY_PACING
        key = cfg.routing_key
        self.target = target_id("pagerduty", key.file or key.reveal(), cfg.url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        compile_ = renderer.compile_string

        def opt(src: str | None) -> Template:
            return compile_(src) if src else None

        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._client = compile_(cfg.client)
        self._client_url, self._description = opt(cfg.client_url), opt(cfg.description)
        self._severity, self._source = opt(cfg.severity), opt(cfg.source)
        self._payload_extra = [(name, t) for name, src in (
            ("component", cfg.component), ("group", cfg.group), ("class", cfg.class_))
            if (t := opt(src)) is not None]
        self._details = [(k, compile_(v)) for k, v in cfg.details]
        self._links = [(compile_(x.href), compile_(x.text)) for x in cfg.links]
        self._images = [(compile_(x.src), compile_(x.href), compile_(x.alt))
                        for x in cfg.images]
        self._default_description: Callable[..., str] = renderer.macro("pagerduty.j2",
                                                                       "description")
        self._default_source: Callable[..., str] = renderer.macro("pagerduty.j2", "source")
        self._default_client_url: Callable[..., str] = renderer.macro("pagerduty.j2",
                                                                      "client_url")

    # --- rendering ----------------------------------------------------------------

    def units(self, n: Notification) -> list[tuple[str, Notification]]:
        """(dedup_key, notification) per event: the group, or each alert on its own."""
        if not self.cfg.incident_per_alert:
            return [(dedup_key(n.group_key), n)]
        return [(a.fingerprint, Notification(n.receiver, n.group_key, n.group_labels, (a,),
                                             n.reason, n.now, n.external_url))
                for a in n.alerts]

    def render(self, n: Notification) -> bytes:
        units = self.units(n)
        try:
            events = [self._event(key, unit) for key, unit in units]
        except Exception:
            self._renderer.failed(self.kind, n.receiver, fallback="a plain event")
            events = [self._plain_event(key, unit) for key, unit in units]
        return json.dumps(events, ensure_ascii=False).encode()

    def _event(self, key: str, n: Notification) -> dict[str, Any]:
        d = template_data(n)
        event = self._default_event(key, n, d)
        if self._body_tmpl is not None:
            custom = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom, dict):
                raise ValueError("pagerduty template must render a JSON object")
            payload = {**event["payload"], **(custom.pop("payload", None) or {})}
            event = {**event, **custom, "payload": payload}
        return _finish(event)

    def _default_event(self, key: str, n: Notification, d: dict[str, Any]) -> dict[str, Any]:
        def text(tmpl: Template) -> str:
            return tmpl.render(d).strip() if tmpl is not None else ""

        client = text(self._client) or DEFAULT_CLIENT
        payload: dict[str, Any] = {
            # An empty summary or source is an invalid event: fall back to the defaults.
            "summary": text(self._description) or self._default_description(d).strip(),
            "source": text(self._source) or self._default_source(d, client).strip(),
            "severity": (pagerduty_severity(text(self._severity)) if self._severity
                         else severity_of(n)),
            "timestamp": event_time(n),
        }
        payload.update((name, value) for name, t in self._payload_extra if (value := text(t)))
        payload["custom_details"] = self._custom_details(d)
        links = default_links(d) + [{"href": text(h), "text": text(t)} for h, t in self._links]
        images = [{"src": text(s), "href": text(h), "alt": text(a)} for s, h, a in self._images]
        return {
            "event_action": "resolve" if n.all_resolved else "trigger",
            "dedup_key": key,
            "payload": payload,
            "client": client,
            "client_url": text(self._client_url) or self._default_client_url(d).strip(),
            "links": links,
            "images": images,
        }

    def _custom_details(self, d: dict[str, Any]) -> dict[str, Any]:
        # Alertmanager's default details, structured as its 0.30+ toJson renders them;
        # configured `details` are added to them (replacing a default of the same name).
        firing = [{k: a[k] for k in _V4_KEYS} for a in d["alerts"].firing]
        resolved = [{k: a[k] for k in _V4_KEYS} for a in d["alerts"].resolved]
        details: dict[str, Any] = {"firing": firing, "resolved": resolved,
                                   "num_firing": len(firing), "num_resolved": len(resolved)}
        details.update((k, structured(t.render(d))) for k, t in self._details)
        return dict(sorted(details.items()))  # Go encodes a map with sorted keys

    def _plain_event(self, key: str, n: Notification) -> dict[str, Any]:
        """Template-free and unable to fail: still pages, with the plain text as details."""
        text = self._renderer.plain_text(n)
        return _finish({
            "event_action": "resolve" if n.all_resolved else "trigger",
            "dedup_key": key,
            "payload": {"summary": text.splitlines()[0], "source": DEFAULT_CLIENT,
                        "severity": severity_of(n), "timestamp": event_time(n),
                        "custom_details": {"text": text}},
            "client": DEFAULT_CLIENT,
            "client_url": n.external_url,
        })

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        events: list[dict[str, Any]] = json.loads(payload)
        key = self._routing_key()
        state: dict[str, str] = {}
        permanent: DeliveryError | None = None
        for index, event in enumerate(events, 1):
            try:
                answered = await self._post(key, event, ctx)
            except DeliveryError as exc:
                if len(events) == 1:
                    raise
                err = DeliveryError(exc.reason, f"event {index} of {len(events)}: {exc.message}",
                                    retryable=exc.retryable, retry_after=exc.retry_after)
                # A retry re-sends every event of the payload, the delivered ones too:
                # PagerDuty dedups triggers by dedup_key and a repeated resolve is a no-op.
                if err.retryable:
                    raise err from None
                # A rejected event must not keep the other alerts from paging.
                permanent = permanent or err
                continue
            state = {"dedup_key": answered or str(event.get("dedup_key", ""))}
        if permanent is not None:
            raise permanent
        return {} if self.cfg.incident_per_alert else state

    def _routing_key(self) -> str:
        try:
            return self.cfg.routing_key.reveal()
        except OSError:
            # The message names no path: an operator finds it in the config.
            raise DeliveryError(FailureReason.OTHER, "cannot read pagerduty routing_key_file",
                                retryable=True) from None

    async def _post(self, key: str, event: dict[str, Any], ctx: SendContext) -> str | None:
        """POST one event; return the dedup_key PagerDuty answered, if any."""
        body = json.dumps({"routing_key": key, **event}, ensure_ascii=False).encode()
        status, headers, text = await self._http.post(
            self.cfg.url, body,
            headers={"Content-Type": "application/json", "User-Agent": user_agent()},
            timeout=ctx.timeout, endpoint="pagerduty events endpoint",
        )
        if key:
            text = text.replace(key, "<redacted>")  # in case an error body echoes it
        error = classify_http(status, headers, text)
        if error is not None:
            if error.reason is FailureReason.CLIENT_ERROR:
                # PagerDuty says which field is invalid: keep that, not the JSON around it.
                error = DeliveryError(error.reason, f"HTTP {status}: {pagerduty_reason(text)}",
                                      retryable=False)
            raise error
        try:
            answer = json.loads(text)
        except ValueError:
            return None
        found = answer.get("dedup_key") if isinstance(answer, dict) else None
        return found if isinstance(found, str) and found else None


def pagerduty_reason(text: str) -> str:
    """PagerDuty's 400 body `{"message": ..., "errors": [...]}` as a short line."""
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return excerpt(text) or "rejected"
    message = str(answer.get("message") or answer.get("status") or "rejected")
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        message += ": " + "; ".join(str(e) for e in errors)
    return excerpt(message)


def severity_of(n: Notification) -> str:
    """The most severe `severity` label among the firing alerts (all when none fire)."""
    alerts = [a for a in n.alerts if not a.resolved(n.now)] or list(n.alerts)
    found = [pagerduty_severity(a.labels.get("severity")) for a in alerts]
    return max(found, key=SEVERITIES.index, default="error")


def event_time(n: Notification) -> str:
    """When it started (trigger) or ended (resolve): the incident's own timeline."""
    if n.all_resolved:
        return format_time(max((a.ends_at or n.now for a in n.alerts), default=n.now))
    return format_time(min(a.starts_at for a in n.alerts if not a.resolved(n.now)))


def structured(text: str) -> Any:
    """A rendered detail that is a JSON object, list or number is embedded as such."""
    stripped = text.strip()
    try:
        value = json.loads(stripped)
    except ValueError:
        return stripped
    if isinstance(value, dict | list | int | float) and not isinstance(value, bool):
        return value
    return stripped


def default_links(d: dict[str, Any]) -> list[dict[str, str]]:
    """Runbook and source of the alerts (deduplicated), then a silence link while firing."""
    links: list[dict[str, str]] = []
    seen: set[str] = set()
    for a in d["alerts"].firing or d["alerts"]:
        name = a["labels"].get("alertname") or "alert"
        for href, text in ((a["annotations"].get("runbook_url", ""), f"Runbook: {name}"),
                           (a["generatorURL"], f"Source: {name}")):
            if href and href not in seen:
                seen.add(href)
                links.append({"href": href, "text": text})
    links = links[:MAX_DEFAULT_LINKS]
    # The labels every alert shares: never an empty filter that would match everything.
    if d["status"] == "firing" and d["commonLabels"]:
        links.append({"href": silence_url(d["externalURL"], d["commonLabels"]),
                      "text": "Silence in Alertmanager"})
    return links


def silence_url(external_url: str, labels: dict[str, str]) -> str:
    return external_url.rstrip("/") + "/#/silences/new?filter=" + urllib.parse.quote(
        label_matchers(labels), safe="")


def _finish(event: dict[str, Any]) -> dict[str, Any]:
    """Enforce PagerDuty's rules on any event, default or user-templated."""
    payload = event["payload"]
    payload["summary"] = cut(str(payload.get("summary") or "alert"), MAX_SUMMARY)
    payload["severity"] = pagerduty_severity(str(payload.get("severity")))
    for key, required in (("links", "href"), ("images", "src")):
        kept = [x for x in event.get(key) or () if isinstance(x, dict) and x.get(required)]
        event.pop(key, None)
        if kept:
            event[key] = [{k: v for k, v in x.items() if v} for x in kept]
    if len(json.dumps(event, ensure_ascii=False).encode()) > MAX_EVENT_BYTES:
        # As Alertmanager does: page with a note rather than have the event dropped.
        payload["custom_details"] = {
            "error": "custom_details removed: the event exceeded PagerDuty's 512 KB limit"}
    return event


def build(cfg: PagerdutyConfig, renderer: Renderer, http: HttpClient) -> PagerdutyChannel:
    if not isinstance(cfg, PagerdutyConfig):
        raise TypeError(f"pagerduty channel needs a PagerdutyConfig, got {type(cfg).__name__}")
    return PagerdutyChannel(cfg, renderer, http)


# --- configuration: the `pagerduty_configs` entries -----------------------------------

CONFIG_KEY = "pagerduty_configs"
_TEMPLATE_KEYS = ("client", "client_url", "description", "severity", "source", "component",
                  "group", "class")
KEYS = (
    "routing_key", "routing_key_file", "url", *_TEMPLATE_KEYS, "details", "links", "images",
    "incident_per_alert", "send_resolved", "template", "timeout", "pacing",
    # Events API v1: recognised only to say that it is not supported.
    "service_key", "service_key_file",
)


def parse(fields: FieldReader, node: Node) -> PagerdutyConfig | None:
    legacy = [child for name in ("service_key", "service_key_file")
              if (child := node.key_node(name)) is not None]
    for child in legacy:
        child.error('Events API v1 is not supported: use "routing_key" '
                    "(an Events API v2 integration key)")
    # One problem is enough for a v1 entry: no "routing_key is required" on top.
    routing_key = fields.secret(node, "routing_key", required=not legacy)
    text = {key: fields.template_string(node.get(key)) for key in _TEMPLATE_KEYS}
    _check_severity(node)
    url = _url(node)
    details = _details(fields, node)
    links = tuple(PagerdutyLink(h, t) for h, t in
                  _items(fields, node, "links", ("href", "text")))
    images = tuple(PagerdutyImage(s, h, a) for s, h, a in
                   _items(fields, node, "images", ("src", "href", "alt")))
    per_alert = node.get_bool("incident_per_alert", False)
    send_resolved = node.get_bool("send_resolved", True)
    template = fields.template_key(node, "template")
    timeout, pacing = fields.timeout(node), fields.pacing(node)
    if routing_key is None:
        return None
    return PagerdutyConfig(
        routing_key, url, text["client"] or DEFAULT_CLIENT, text["client_url"],
        text["description"], text["severity"], details, links, images, text["source"],
        text["component"], text["group"], text["class"], per_alert, send_resolved,
        template, timeout, pacing,
    )


def _url(node: Node) -> str:
    url = node.get_str("url", DEFAULT_URL) or DEFAULT_URL
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        child = node.get("url")
        assert child is not None
        child.error("must be an http:// or https:// URL")
    return url


def _check_severity(node: Node) -> None:
    """A literal severity PagerDuty would reject is a typo better caught at load."""
    value = node.get_str("severity")
    if value is None or "{" in value or value.strip().lower() in _SEVERITY_ALIASES:
        return
    child = node.get("severity")
    assert child is not None
    child.error(f'"{value}" is not a PagerDuty severity: use critical, error, warning or '
                "info (or a template)")


def _details(fields: FieldReader, node: Node) -> tuple[tuple[str, str], ...]:
    child = node.get_map("details")
    if child is None:
        return ()
    out = []
    for key, value in child.entries():
        text = fields.template_string(value)
        if text is not None:
            out.append((key, text))
    return tuple(out)


def _items(
    fields: FieldReader, node: Node, key: str, names: tuple[str, ...]
) -> Iterable[tuple[str, ...]]:
    """Entries of a list of maps (`links`, `images`): each field a template, first required."""
    out: list[tuple[str, ...]] = []
    for item in node.get_list(key) or []:
        if not item.expect_map():
            continue
        item.expect_keys(names)
        item.require(names[0])
        values = tuple(fields.template_string(item.get(name)) or "" for name in names)
        if values[0]:
            out.append(values)
    return out
