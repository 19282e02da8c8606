"""Alertmanager 0.25's `GET /api/v2/alerts/groups`: the dispatcher's aggregation groups,
filtered, sorted and shaped as Alertmanager answers, so Karma and other dashboards work.

Semantics are those of 0.25's `getAlertGroupsHandler` and `Dispatcher.Groups`; the
comparison with a real Alertmanager is tests/e2e/test_alert_groups_vs_alertmanager.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cmp_to_key
from typing import Any

from aiohttp import web

from router.errors import MatcherError
from router.matchers import Matcher, parse_classic_matcher
from router.model import Alert, alert_sort_key, compare_label_sets
from router.noise.muting import AlertMute
from router.regex import Regex, parse_error
from router.routing.group import AggregationGroup
from router.timefmt import format_time_ms
from router.web.alerts import each_shown
from router.web.am_v2 import am_error
from router.web.keys import CLOCK, DISPATCHER, RUNTIME

# go-openapi's swag.ConvertBool: these words (any case) are true, anything else is false.
# A malformed boolean is never an error in Alertmanager 0.25: `active=maybe` means false.
_TRUE_WORDS = frozenset(
    {"true", "1", "yes", "ok", "y", "on", "selected", "checked", "t", "enabled"})


@dataclass(frozen=True, slots=True)
class GroupQuery:
    """The parsed query: label matchers, the three state switches, the receiver regex."""

    matchers: Sequence[Matcher] = ()
    active: bool = True
    silenced: bool = True
    inhibited: bool = True
    receiver: Regex | None = None


def _last(request: web.Request, name: str) -> str:
    """go-swagger binds a repeated scalar parameter to its last value."""
    values = request.query.getall(name, [])
    return values[-1] if values else ""


def _flag(request: web.Request, name: str) -> bool:
    raw = _last(request, name)
    return True if raw == "" else raw.lower() in _TRUE_WORDS  # empty: the default


def parse_query(request: web.Request) -> GroupQuery:
    """The query as Alertmanager reads it; MatcherError with its 400 text otherwise.

    Filters are checked first, then the receiver (the first error is the answer)."""
    matchers = [parse_classic_matcher(text) for text in request.query.getall("filter", [])]
    pattern = _last(request, "receiver")
    receiver = None
    if pattern:
        try:
            receiver = Regex(pattern)  # regexp.Compile("^(?:" + receiver + ")$")
        except MatcherError as exc:
            # Go's error for what Alertmanager compiles: the anchored pattern.
            error = parse_error(f"^(?:{pattern})$") or exc.message
            raise MatcherError(f"failed to parse receiver param: {error}") from None
    return GroupQuery(matchers, _flag(request, "active"), _flag(request, "silenced"),
                      _flag(request, "inhibited"), receiver)


Shown = tuple[AggregationGroup, list[Alert]]  # a group and its alerts that pass the filter


def _compare_groups(x: Shown, y: Shown) -> int:
    """`dispatch.AlertGroups.Less`: group labels, then receiver name."""
    by_labels = compare_label_sets(x[0].labels, y[0].labels)
    if by_labels:
        return by_labels
    rx, ry = x[0].route.receiver, y[0].route.receiver
    return (rx > ry) - (rx < ry)


def _sorted_map(values: Mapping[str, str]) -> dict[str, str]:
    return {k: values[k] for k in sorted(values)}  # Go writes map keys sorted


def gettable_alert(alert: Alert, mute: AlertMute, receivers: Sequence[str],
                   now: float) -> dict[str, Any]:
    """0.25's gettableAlert with go-swagger's key order: its own fields alphabetically,
    then the embedded `alert` (generatorURL, left out when empty, then labels). The state
    counts silences and inhibition only: 0.25 does not show time-interval muting."""
    view: dict[str, Any] = {
        "annotations": _sorted_map(alert.annotations),
        "endsAt": format_time_ms(alert.ends_at if alert.ends_at is not None else now),
        "fingerprint": alert.fingerprint,
        "receivers": [{"name": name} for name in receivers],
        "startsAt": format_time_ms(alert.starts_at),
        "status": {
            "inhibitedBy": list(mute.inhibited_by),
            "silencedBy": list(mute.silenced_by),
            "state": "suppressed" if mute.inhibited_by or mute.silenced_by else "active",
        },
        "updatedAt": format_time_ms(alert.updated_at),
    }
    if alert.generator_url:
        view["generatorURL"] = alert.generator_url
    view["labels"] = _sorted_map(alert.labels)
    return view


def passes(query: GroupQuery, alert: Alert, mute: AlertMute) -> bool:
    """0.25's `alertFilter` past the resolved check: the state switches, then the labels.
    (`active=false` hides what is neither silenced nor inhibited.)"""
    if not query.active and not (mute.silenced_by or mute.inhibited_by):
        return False
    if (not query.silenced and mute.silenced_by) or (
            not query.inhibited and mute.inhibited_by):
        return False
    return all(m.matches(alert.labels) for m in query.matchers)


def alert_groups(groups: Sequence[AggregationGroup], query: GroupQuery, now: float,
                 status: Callable[[Alert], AlertMute]) -> list[dict[str, Any]]:
    """`Dispatcher.Groups` and the handler's shaping, over `groups` in route order.

    An alert lists the receiver of every group it is shown in (sorted, repeated when two
    routes share a receiver), so a `receiver` filter narrows that list too."""
    mutes: dict[str, AlertMute] = {}

    def wanted(alert: Alert) -> bool:
        if alert.ends_at is not None and alert.ends_at < now:
            return False  # resolved: held until its group flushes, never shown
        mute = mutes.get(alert.fingerprint)
        if mute is None:
            mute = mutes[alert.fingerprint] = status(alert)
        return passes(query, alert, mute)

    shown: list[Shown] = []
    receivers: dict[str, list[str]] = {}
    for group in groups:
        name = group.route.receiver
        if query.receiver is not None and not query.receiver.fullmatch(name):
            continue
        alerts = sorted((a for a in group.alerts.values() if wanted(a)), key=alert_sort_key)
        for alert in alerts:
            receivers.setdefault(alert.fingerprint, []).append(name)
        if alerts:
            shown.append((group, alerts))
    shown.sort(key=cmp_to_key(_compare_groups))
    out = []
    for group, alerts in shown:
        views = each_shown(alerts, lambda a: gettable_alert(
            a, mutes[a.fingerprint], sorted(receivers[a.fingerprint]), now))
        if views:
            out.append({"alerts": views, "labels": _sorted_map(group.labels),
                        "receiver": {"name": group.route.receiver}})
    return out


def query_or_error(request: web.Request) -> GroupQuery | web.Response:
    """The parsed query, or the 400 answer: Alertmanager's JSON string."""
    try:
        return parse_query(request)
    except MatcherError as exc:
        return am_error(400, exc.message)


async def get_alert_groups(request: web.Request) -> web.Response:
    query = query_or_error(request)
    if isinstance(query, web.Response):
        return query
    app = request.app
    now = app[CLOCK].now()
    muter = app[RUNTIME].current.muter
    dispatcher = app[DISPATCHER]
    order = {route_id: i for i, route_id in enumerate(dispatcher.router.routes_by_id)}
    # Route order first: groups Alertmanager cannot order (same labels and receiver on two
    # routes) come out in a stable order.
    groups = sorted(dispatcher.groups.values(), key=lambda g: (order.get(g.route.id, -1), g.key))
    return web.json_response(alert_groups(groups, query, now, lambda a: muter.alert(a, now)))
