"""OpsGenie Alert API v2: create an alert per group, close it by alias once the group resolves.

The alias is the SHA-256 of the group key (Alertmanager's `Key.Hash()`), so OpsGenie
de-duplicates repeats into the open alert, the resolution closes that same alert, and a
team moving from Alertmanager keeps its open alerts. The rendered payload names the action
and carries the body; `GenieKey` authorization is added at send time, never stored.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from router.channels.base import SendContext, excerpt, json_object, key_hash, reveal, target_id
from router.channels.http import HttpClient, classify_http, cut, user_agent
from router.channels.opsgenie.config import PRIORITIES, OpsgenieConfig
from router.config.secrets import REDACTED
from router.model import Notification
from router.rendering import Renderer, template_data

log = logging.getLogger(__name__)

# OpsGenie's field limits (docs.opsgenie.com, alert fields), in characters.
LIMITS = {"message": 130, "description": 15000, "source": 100, "entity": 512, "note": 25000}
MAX_TAGS, MAX_ACTIONS, MAX_ITEM = 20, 10, 50  # tags / actions, each at most 50 characters
MAX_DETAILS = 8000  # keys and values of `details` together
MAX_RESPONDERS = 50

alias = key_hash  # Alertmanager's `Key.Hash()` of the group key


def _split(text: str) -> list[str]:
    """Alertmanager's safeSplit: comma-separated, empty items dropped."""
    return [x for x in text.strip().split(",") if x]


class OpsgenieChannel:
    kind = "opsgenie"

    def __init__(self, cfg: OpsgenieConfig, renderer: Renderer, http: HttpClient) -> None:
        self.cfg = cfg
        self.send_resolved = cfg.send_resolved
        self.pacing = cfg.pacing
        self.target = target_id("opsgenie", cfg.api_key, cfg.api_url)
        self._renderer = renderer
        self._http = http
        # Everything compiles now, so a bad template fails at config load, not at 3 a.m.
        compile_ = renderer.compile_string

        self._body_tmpl = renderer.template(cfg.template) if cfg.template else None
        opt = renderer.compile_optional
        self._text = {key: opt(getattr(cfg, key)) for key in
                      ("message", "description", "source", "entity", "actions", "tags",
                       "note", "priority")}
        self._defaults = {key: renderer.macro("opsgenie.j2", key)
                          for key in ("message", "description", "source")}
        self._details = [(k, compile_(v)) for k, v in cfg.details]
        self._responders = [{k: opt(getattr(r, k)) for k in ("id", "name", "username", "type")}
                            for r in cfg.responders]

    # --- rendering ----------------------------------------------------------------

    def render(self, n: Notification) -> bytes:
        key = alias(n.group_key)
        d = template_data(n)
        request: dict[str, Any]
        try:
            if n.all_resolved:
                source = cut(self._piece("source", d), LIMITS["source"])
                request = {"action": "close", "alias": key, "body": {"source": source}}
            else:
                request = {"action": "create", "alias": key, "body": self._create(key, d),
                           "update": self.cfg.update_alerts}
        except Exception:
            self._renderer.failed(self.kind, n.receiver, fallback="a plain alert")
            request = self._plain(key, n)
        return json.dumps(request, ensure_ascii=False).encode()

    def _piece(self, key: str, d: dict[str, Any]) -> str:
        tmpl = self._text.get(key)
        if tmpl is not None:
            return tmpl.render(d).strip()
        default = self._defaults.get(key)
        return default(d).strip() if default is not None else ""

    def _create(self, key: str, d: dict[str, Any]) -> dict[str, Any]:
        details = dict(d["commonLabels"])
        details.update((k, t.render(d)) for k, t in self._details)
        body: dict[str, Any] = {
            "alias": key,
            "message": self._piece("message", d),
            "description": self._piece("description", d),
            "details": details,
            "source": self._piece("source", d),
            "responders": self._rendered_responders(d),
            "tags": _split(self._piece("tags", d)),
            "note": self._piece("note", d),
            "priority": self._piece("priority", d),
            "entity": self._piece("entity", d),
            "actions": _split(self._piece("actions", d)),
        }
        if self._body_tmpl is not None:
            custom = json.loads(self._body_tmpl.render(d))
            if not isinstance(custom, dict):
                raise ValueError("opsgenie template must render a JSON object")
            body.update(custom)
            body["alias"] = key  # the alert's identity stays Alertmanager's
        return fit(body)

    def _rendered_responders(self, d: dict[str, Any]) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for templates in self._responders:
            r = {k: t.render(d).strip() if t is not None else "" for k, t in templates.items()}
            if not any(r.values()):
                continue  # filled from labels that this group does not have
            if r["type"] == "teams":
                out.extend({"name": team.strip(), "type": "team"}
                           for team in _split(r["name"]) if team.strip())
                continue
            out.append({k: v for k, v in r.items() if v or k == "type"})
        return out

    def _plain(self, key: str, n: Notification) -> dict[str, Any]:
        """Template-free and unable to fail: still opens (or closes) the alert."""
        if n.all_resolved:
            return {"action": "close", "alias": key, "body": {"source": "alert-router"}}
        text = self._renderer.plain_text(n)
        return {"action": "create", "alias": key, "update": False, "body": fit(
            {"alias": key, "message": text.splitlines()[0], "description": text,
             "details": {}, "source": "alert-router"})}

    # --- sending ------------------------------------------------------------------

    async def send(self, payload: bytes, ctx: SendContext) -> dict[str, str]:
        request = json.loads(payload)
        key = self._api_key()
        base = self.cfg.api_url
        by_alias = f"{base}v2/alerts/{request['alias']}"
        body = request["body"]
        if request["action"] == "close":
            await self._call("POST", f"{by_alias}/close?identifierType=alias", body, key, ctx)
            return {}
        await self._call("POST", f"{base}v2/alerts", body, key, ctx)
        if request.get("update"):
            # Creating with an open alias only counts a repeat; these bring the open
            # alert's text up to date (Alertmanager's update_alerts).
            await self._call("PUT", f"{by_alias}/message?identifierType=alias",
                             {"message": body.get("message", "")}, key, ctx)
            await self._call("PUT", f"{by_alias}/description?identifierType=alias",
                             {"description": body.get("description", "")}, key, ctx)
        return {}

    def _api_key(self) -> str:
        return reveal(self.cfg.api_key, "opsgenie api_key_file")

    async def _call(self, method: str, url: str, body: dict[str, Any], key: str,
                    ctx: SendContext) -> None:
        status, headers, text = await self._http.post(
            url, json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", "User-Agent": user_agent(),
                     "Authorization": f"GenieKey {key}"},
            timeout=ctx.timeout, endpoint="opsgenie alert api",
            http_config=self.cfg.http_config, method=method,
        )
        if key:
            text = text.replace(key, REDACTED)  # in case an error body echoes it
        error = classify_http(status, headers, text)
        if error is not None:
            raise error.with_message(f"opsgenie {method} failed: HTTP {status}: "
                                     f"{opsgenie_reason(text)}")


def opsgenie_reason(text: str) -> str:
    """OpsGenie's error body `{"message": ..., "errors": {field: reason}}` as a short line."""
    answer = json_object(text)
    if answer is None:
        return excerpt(text) or "rejected"
    message = str(answer.get("message") or "rejected")
    errors = answer.get("errors")
    if isinstance(errors, dict) and errors:
        message += " " + "; ".join(f"{k}: {v}" for k, v in errors.items())
    return excerpt(message)


def fit(body: dict[str, Any]) -> dict[str, Any]:
    """`body` within OpsGenie's limits (its own defaults for what is left empty)."""
    for key, limit in LIMITS.items():
        if key in body:
            body[key] = cut(str(body[key]), limit)
    for key, most in (("tags", MAX_TAGS), ("actions", MAX_ACTIONS)):
        items = [cut(str(x).strip(), MAX_ITEM) for x in body.get(key) or () if str(x).strip()]
        body[key] = items[:most]
    body["responders"] = list(body.get("responders") or ())[:MAX_RESPONDERS]
    if str(body.get("priority", "")).strip() not in PRIORITIES:
        # An unknown priority is refused: the integration's default beats no alert.
        body.pop("priority", None)
    body["details"] = _fit_details(body.get("details") or {})
    if not body.get("message"):
        body["message"] = "alert"  # OpsGenie requires a message
    # Alertmanager's omitempty: unset optional fields are left out.
    return {k: v for k, v in body.items()
            if v not in ("", [], None) or k in ("message", "details", "source")}


def _fit_details(details: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    budget = MAX_DETAILS
    for k, v in details.items():
        name, value = cut(str(k), MAX_ITEM), str(v)
        room = budget - len(name)
        if room <= 0:
            break
        out[name] = cut(value, room) if len(value) > room else value
        budget -= len(name) + len(out[name])
    return out


def build(cfg: OpsgenieConfig, renderer: Renderer, http: HttpClient) -> OpsgenieChannel:
    if not isinstance(cfg, OpsgenieConfig):
        raise TypeError(f"opsgenie channel needs an OpsgenieConfig, got {type(cfg).__name__}")
    return OpsgenieChannel(cfg, renderer, http)
