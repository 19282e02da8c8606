"""Routing tree: match/continue semantics, group labels, and group keys against Alertmanager."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.config.route import assign_ids
from router.config.types import Route
from router.matchers import parse_matchers
from router.routing.tree import (
    Router,
    describe_matches,
    format_routes_test,
    group_key,
    group_labels,
    match_routes,
)

FIXTURES = Path(__file__).parent / "data" / "fixtures"


def route(
    receiver: str,
    matchers: str = "",
    *,
    group_by: tuple[str, ...] = ("alertname",),
    cont: bool = False,
    routes: tuple[Route, ...] = (),
) -> Route:
    return Route(
        receiver=receiver,
        group_by=group_by,
        group_wait=30.0,
        group_interval=300.0,
        repeat_interval=14400.0,
        matchers=tuple(parse_matchers(matchers)),
        continue_=cont,
        routes=routes,
    )


def receivers(root: Route, labels: Mapping[str, str]) -> list[str]:
    return [r.receiver for r in match_routes(root, labels)]


def test_assign_ids_sets_index_paths_and_route_keys() -> None:
    root = assign_ids(
        route(
            "default",
            routes=(
                route("a", 'team="db"', routes=(route("b", 'service=~"mysql|pg"'),)),
                route("c", '{severity="critical", env="prod"}'),
            ),
        )
    )
    a, c = root.routes
    (b,) = a.routes
    assert [(r.id, r.key) for r in (root, a, b, c)] == [
        ("0", "{}"),
        ("0.0", '{}/{team="db"}'),
        ("0.0.0", '{}/{team="db"}/{service=~"mysql|pg"}'),
        ("0.1", '{}/{env="prod",severity="critical"}'),
    ]


def test_first_matching_child_wins() -> None:
    root = assign_ids(
        route("default", routes=(route("first", 'team="db"'), route("second", 'team=~"d.*"')))
    )
    assert receivers(root, {"team": "db"}) == ["first"]
    assert receivers(root, {"team": "dev"}) == ["second"]


def test_continue_lets_later_siblings_match() -> None:
    root = assign_ids(
        route(
            "default",
            routes=(
                route("audit", 'severity=~".+"', cont=True),
                route("pager", 'severity="critical"'),
                route("never", 'severity="critical"'),
            ),
        )
    )
    assert receivers(root, {"severity": "critical"}) == ["audit", "pager"]
    # The continue route matched, no sibling did: the parent is still not used.
    assert receivers(root, {"severity": "info"}) == ["audit"]


def test_non_matching_continue_route_has_no_effect() -> None:
    root = assign_ids(
        route(
            "default",
            routes=(
                route("cont", 'team="x"', cont=True),
                route("first", 'severity="critical"'),
                route("second", 'severity="critical"'),
            ),
        )
    )
    assert receivers(root, {"severity": "critical"}) == ["first"]


def test_parent_used_only_when_no_child_matched() -> None:
    root = assign_ids(
        route(
            "default",
            routes=(route("db", 'team="db"', routes=(route("db-crit", 'severity="critical"'),)),),
        )
    )
    assert receivers(root, {"team": "db", "severity": "critical"}) == ["db-crit"]
    assert receivers(root, {"team": "db", "severity": "warning"}) == ["db"]
    assert receivers(root, {"team": "web"}) == ["default"]


def test_describe_matches_gives_chain_from_root() -> None:
    root = assign_ids(
        route(
            "default",
            routes=(route("db", 'team="db"', routes=(route("db-crit", 'severity="critical"'),)),),
        )
    )
    (path,) = describe_matches(root, {"team": "db", "severity": "critical"})
    assert [r.id for r in path] == ["0", "0.0", "0.0.0"]


def test_group_labels_skip_missing_and_dots_take_all() -> None:
    by_names = route("r", group_by=("alertname", "cluster", "absent"))
    labels = {"alertname": "A", "cluster": "c1", "instance": "i1"}
    assert group_labels(by_names, labels) == {"alertname": "A", "cluster": "c1"}
    assert group_labels(route("r", group_by=("...",)), labels) == labels
    assert group_labels(route("r", group_by=()), labels) == {}


def test_group_key_with_empty_group_by() -> None:
    root = assign_ids(route("default", group_by=()))
    assert group_key(root, group_labels(root, {"a": "b"})) == "{}:{}"


def test_router_caches_and_indexes_routes() -> None:
    root = assign_ids(route("default", routes=(route("db", 'team="db"'),)))
    router = Router(root, cache_size=2)
    assert set(router.routes_by_id) == {"0", "0.0"}
    assert [r.receiver for r in router.match({"team": "db"})] == ["db"]
    assert [r.receiver for r in router.match({"team": "db"})] == ["db"]
    # Past the bound the cache is cleared, results stay right.
    for i in range(5):
        assert [r.receiver for r in router.match({"team": f"t{i}"})] == ["default"]
    assert [r.receiver for r in router.match({"team": "db"})] == ["db"]


def test_format_routes_test() -> None:
    root = assign_ids(
        route(
            "default",
            group_by=("alertname", "cluster"),
            routes=(route("critical", 'severity="critical"', cont=True),),
        )
    )
    out = format_routes_test(root, {"alertname": "X", "severity": "critical"})
    lines = out.splitlines()
    assert lines[0] == "critical"
    assert 'critical  route: {}/{severity="critical"}' in lines[1]
    assert "group_by: [alertname]" in lines[1]
    assert 'group: {alertname="X"}' in lines[1]


# --- group keys captured from a real Alertmanager 0.25 -------------------------------------


def tree_from_yaml(node: Mapping[str, Any], parent_group_by: tuple[str, ...] = ()) -> Route:
    """Just enough of the config to rebuild the fixture's tree (the loader is elsewhere)."""
    group_by = tuple(node.get("group_by", parent_group_by))
    matchers = [m for text in node.get("matchers", []) for m in parse_matchers(text)]
    return Route(
        receiver=node["receiver"],
        group_by=group_by,
        group_wait=30.0,
        group_interval=300.0,
        repeat_interval=3600.0,
        matchers=tuple(matchers),
        continue_=bool(node.get("continue", False)),
        routes=tuple(tree_from_yaml(child, group_by) for child in node.get("routes", [])),
    )


def fixture_root() -> Route:
    config = yaml.safe_load((FIXTURES / "alertmanager.yml").read_text(encoding="utf-8"))
    return assign_ids(tree_from_yaml(config["route"]))


def test_fixture_tree_shape() -> None:
    root = fixture_root()
    assert root.key == "{}"
    assert root.routes[0].key == '{}/{severity="critical"}'


@pytest.mark.parametrize(
    "name",
    [
        "critical-grouped-truncated.json",
        "critical-single-firing.json",
        "default-warning-firing.json",
        "default-warning-resolved.json",
    ],
)
def test_group_keys_reproduce_alertmanager(name: str) -> None:
    body = json.loads((FIXTURES / name).read_text(encoding="utf-8"))["body"]
    root = fixture_root()
    if name == "critical-single-firing.json":
        # Captured while the critical route still had `group_by: ['...']`.
        critical = replace(root.routes[0], group_by=("...",))
        root = replace(root, routes=(critical,))
    for alert in body["alerts"]:
        (matched,) = match_routes(root, alert["labels"])
        assert matched.receiver == body["receiver"]
        labels = group_labels(matched, alert["labels"])
        assert labels == body["groupLabels"]
        assert group_key(matched, labels) == body["groupKey"]
