"""PagerDuty Events API v2: trigger/resolve events keyed like Alertmanager's integration.

The rendered payload is a JSON list of events without the routing key (payloads are stored);
`send` posts them one by one through the shared HttpClient and inserts the key at send time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import jinja2

from router.channels.base import SendContext, excerpt, json_object, reveal, target_id
from router.channels.http import HttpClient, classify_http, user_agent
from router.channels.pagerduty.config import PagerdutyConfig
from router.channels.pagerduty.events import (
    DEFAULT_CLIENT,
    dedup_key,
    default_links,
    event_time,
    finish,
    pagerduty_severity,
    severity_of,
    structured,
    v1_event,
)
from router.config.types import Pacing
from router.errors import DeliveryError, FailureReason
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# PagerDuty counts about 120 events per minute per routing key. A bucket of 15 refilled at
# 1.75/s never lets more than 15 + 1.75 × 60 = 120 through in any 60-second window, so a
# burst cannot push the following minute over the limit.
PAGERDUTY_PACING = Pacing(rate=1.75, burst=15)
_V4_KEYS = ("status", "labels", "annotations", "startsAt", "endsAt", "generatorURL",
            "fingerprint")

Template = jinja2.Template | None


class PagerdutyChannel:
    kind = "pagerduty"

    def __init__(self, cfg: PagerdutyConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing or PAGERDUTY_PACING
        self.target = target_id("pagerduty", cfg.key, cfg.url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        compile_ = renderer.compile_string

        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        self._client = compile_(cfg.client)
        opt = renderer.compile_optional
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
        if self.cfg.service_key is not None:  # Events API v1 (Alertmanager's service_key)
            events = [v1_event(e) for e in events]
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
        return finish(event)

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
        return finish({
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
                err = exc.with_message(f"event {index} of {len(events)}: {exc.message}")
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
        name = "service_key_file" if self.cfg.service_key else "routing_key_file"
        return reveal(self.cfg.key, f"pagerduty {name}")

    async def _post(self, key: str, event: dict[str, Any], ctx: SendContext) -> str | None:
        """POST one event; return the dedup_key PagerDuty answered, if any."""
        v1 = self.cfg.service_key is not None
        field = "service_key" if v1 else "routing_key"
        body = json.dumps({field: key, **event}, ensure_ascii=False).encode()
        status, headers, text = await self._http.post(
            self.cfg.url, body,
            headers={"Content-Type": "application/json", "User-Agent": user_agent()},
            timeout=ctx.timeout, endpoint="pagerduty events endpoint",
            http_config=self.cfg.http_config,
        )
        if key:
            text = text.replace(key, "<redacted>")  # in case an error body echoes it
        if v1 and status == 403:  # v1 answers 403 when rate limited: Alertmanager retries
            status = 429
        error = classify_http(status, headers, text)
        if error is not None:
            if error.reason is FailureReason.CLIENT_ERROR:
                # PagerDuty says which field is invalid: keep that, not the JSON around it.
                error = DeliveryError(error.reason, f"HTTP {status}: {pagerduty_reason(text)}",
                                      retryable=False)
            raise error
        found = (json_object(text) or {}).get("incident_key" if v1 else "dedup_key")
        return found if isinstance(found, str) and found else None


def pagerduty_reason(text: str) -> str:
    """PagerDuty's 400 body `{"message": ..., "errors": [...]}` as a short line."""
    answer = json_object(text)
    if answer is None:
        return excerpt(text) or "rejected"
    message = str(answer.get("message") or answer.get("status") or "rejected")
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        message += ": " + "; ".join(str(e) for e in errors)
    return excerpt(message)


def build(cfg: PagerdutyConfig, renderer: Renderer, http: HttpClient) -> PagerdutyChannel:
    if not isinstance(cfg, PagerdutyConfig):
        raise TypeError(f"pagerduty channel needs a PagerdutyConfig, got {type(cfg).__name__}")
    return PagerdutyChannel(cfg, renderer, http)
