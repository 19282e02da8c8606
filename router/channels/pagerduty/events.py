"""PagerDuty's rules for one event: severity values, dedup keys, times, links, size limits.

Pure functions shared by the default rendering and user templates (`finish` applies the
rules to either), kept apart from the sender so each can be read and tested on its own.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from router.channels.base import key_hash
from router.channels.http import cut
from router.model import Notification
from router.rendering import label_matchers
from router.timefmt import format_time

DEFAULT_CLIENT = "alert-router"
MAX_SUMMARY = 1024  # PagerDuty's limit for payload.summary
MAX_EVENT_BYTES = 512 * 1024  # PagerDuty drops larger events
MAX_DEFAULT_LINKS = 10  # runbook/source links gathered from the alerts

SEVERITIES = ("info", "warning", "error", "critical")  # ascending
_SEVERITY_ALIASES = {
    "critical": "critical", "page": "critical",
    "error": "error", "high": "error",
    "warning": "warning", "warn": "warning", "medium": "warning",
    "info": "info", "low": "info", "none": "info",
}


def pagerduty_severity(value: str | None) -> str:
    """A `severity` label (or rendered template) as one of PagerDuty's four values.

    PagerDuty rejects the whole event over an unknown severity: paging with "error" (as
    Alertmanager defaults) beats not paging at all.
    """
    return _SEVERITY_ALIASES.get((value or "").strip().lower(), "error")


def is_severity(value: str) -> bool:
    """Whether `value` names a severity (or an alias) without falling back to "error"."""
    return value.strip().lower() in _SEVERITY_ALIASES


# Alertmanager's `Key.Hash()`: a migrated team keeps its open incidents.
dedup_key = key_hash


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


def finish(event: dict[str, Any]) -> dict[str, Any]:
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


V1_URL = "https://events.pagerduty.com/generic/2010-04-15/create_event.json"


def v1_event(event: dict[str, Any]) -> dict[str, Any]:
    """The Events API v1 form of a finished v2 event, as Alertmanager sends a
    `service_key` entry: `incident_key` is the same dedup key, client fields on trigger."""
    payload = event.get("payload") or {}
    out: dict[str, Any] = {
        "event_type": event["event_action"],
        "incident_key": event["dedup_key"],
        "description": cut(str(payload.get("summary") or "alert"), MAX_SUMMARY),
        "details": payload.get("custom_details") or {},
    }
    if event["event_action"] == "trigger":
        out["client"] = event.get("client", DEFAULT_CLIENT)
        out["client_url"] = event.get("client_url", "")
    return out
