"""The routing tree: Alertmanager's depth-first route matching, group labels and group keys.

Also the `Router` (a cached matcher over one tree) and the `routes test` report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from router.config.types import Route
from router.matchers import format_label_set

RoutePath = tuple[Route, ...]


def iter_routes(root: Route) -> Iterator[Route]:
    """Every route of the tree, depth-first in config order (root first)."""
    yield root
    for child in root.routes:
        yield from iter_routes(child)


def _matches(route: Route, labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in route.matchers)


def _walk(path: RoutePath, labels: Mapping[str, str]) -> list[RoutePath]:
    """Paths to the result routes under `path[-1]`, which is known to match."""
    found: list[RoutePath] = []
    for child in path[-1].routes:
        if not _matches(child, labels):
            continue  # so a non-matching `continue: true` route has no effect
        found.extend(_walk((*path, child), labels))
        if not child.continue_:
            break
    # A parent is the result only when none of its children matched.
    return found or [path]


def describe_matches(root: Route, labels: Mapping[str, str]) -> list[RoutePath]:
    """For each matched route, the chain of routes from the root down to it."""
    # The root always matches: the config rejects matchers on it, and an alert must land
    # somewhere.
    return _walk((root,), labels)


def match_routes(root: Route, labels: Mapping[str, str]) -> list[Route]:
    """Alertmanager's route matching: the routes whose groups receive this alert, in order."""
    return [path[-1] for path in describe_matches(root, labels)]


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """The alert's values for the route's `group_by`; absent labels are skipped."""
    if route.group_by_all:
        return dict(labels)
    return {name: labels[name] for name in route.group_by if name in labels}


def group_key(route: Route, group_labels: Mapping[str, str]) -> str:
    """Alertmanager's group key, e.g. `{}/{severity="critical"}:{alertname="X"}`."""
    return f"{route.key}:{format_label_set(group_labels)}"


class Router:
    """Matches label sets against one routing tree, caching results per label set.

    Prometheus re-sends every firing alert each evaluation, so the same label sets come back
    again and again; the cache is bounded and simply cleared when full.
    """

    __slots__ = ("_cache", "_cache_size", "root", "routes_by_id")

    def __init__(self, root: Route, cache_size: int = 10_000) -> None:
        self.root = root
        self.routes_by_id: dict[str, Route] = {r.id: r for r in iter_routes(root)}
        self._cache: dict[frozenset[tuple[str, str]], tuple[Route, ...]] = {}
        self._cache_size = cache_size

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        key = frozenset(labels.items())
        routes = self._cache.get(key)
        if routes is None:
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            routes = tuple(match_routes(self.root, labels))
            self._cache[key] = routes
        return list(routes)


def _format_group_by(route: Route) -> str:
    return "[" + ", ".join(route.group_by) + "]"


def format_routes_test(root: Route, labels: Mapping[str, str]) -> str:
    """What `routes test` prints: the receivers (as amtool does), then one line per match.

    e.g. `critical  route: {}/{severity="critical"}  group_by: [alertname]  group: {...}`
    """
    paths = describe_matches(root, labels)
    lines = [",".join(path[-1].receiver for path in paths)]
    for path in paths:
        route = path[-1]
        lines.append(
            f"{route.receiver}  route: {route.key}  id: {route.id}"
            f"  group_by: {_format_group_by(route)}"
            f"  group: {format_label_set(group_labels(route, labels))}"
        )
    return "\n".join(lines)
