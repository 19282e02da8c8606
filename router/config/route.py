"""Reads the `route:` tree into `Route` values with Alertmanager's inheritance applied.

Timers, `group_by` and the receiver pass from parent to child unless overridden; so do
alert-router's own route keys `storm`, `flap` and `fast_resolve` (`storm: false` /
`flap: false` switch an inherited one off). Receiver and time-interval names are only
collected here: the loader checks them once every section has been read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from router.config.fields import matcher_list
from router.config.types import GROUP_BY_ALL, FlapConfig, Route, StormConfig
from router.config.yaml_source import Node
from router.errors import MatcherError
from router.matchers import LABEL_NAME, Matcher, from_match_maps, route_key_part

__all__ = [
    "DEFAULT_GROUP_INTERVAL",
    "DEFAULT_GROUP_WAIT",
    "DEFAULT_REPEAT_INTERVAL",
    "RouteReader",
    "option_node",
    "parse_flap",
    "parse_storm",
]

_ROUTE_KEYS = (
    "receiver",
    "group_by",
    "group_wait",
    "group_interval",
    "repeat_interval",
    "matchers",
    "match",
    "match_re",
    "continue",
    "routes",
    "mute_time_intervals",
    "active_time_intervals",
    # alert-router's own (noise/storm.py, noise/flap.py, routing/grouping.py); all three
    # are inherited by child routes unless overridden (`storm: false` / `flap: false`).
    "storm",
    "flap",
    "fast_resolve",
)
_BOOL_TAG = "tag:yaml.org,2002:bool"
STORM_KEYS = ("threshold", "window", "digest_interval")
FLAP_KEYS = ("changes", "window", "quiet")

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class _Inherited:
    receiver: str | None
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float


class RouteReader:
    """Reads one route tree; remembers the receiver and time-interval names it names."""

    def __init__(self) -> None:
        self.receiver_refs: list[tuple[Node, str]] = []
        self.interval_refs: list[tuple[Node, str]] = []

    def read(
        self,
        node: Node,
        parent: _Inherited | None = None,
        options: tuple[StormConfig | None, FlapConfig | None, bool] = (None, None, False),
    ) -> Route | None:
        node.expect_keys(_ROUTE_KEYS)
        is_root = parent is None
        # storm / flap / fast_resolve: inherited from the parent (`options`) unless set here.
        options = (parse_storm(node, options[0]), parse_flap(node, options[1]),
                   node.get_bool("fast_resolve", options[2]))
        receiver = node.get_str("receiver")
        if receiver is not None:
            self.receiver_refs.append((node.get("receiver") or node, receiver))
        elif is_root:
            node.error("the root route needs a receiver", path=f"{node.path}.receiver")
        inherited = _Inherited(
            receiver=receiver or (parent.receiver if parent else None),
            group_by=self._group_by(node, parent.group_by if parent else ()),
            group_wait=node.get_duration(
                "group_wait", parent.group_wait if parent else DEFAULT_GROUP_WAIT
            )
            or 0.0,
            group_interval=node.get_duration(
                "group_interval",
                parent.group_interval if parent else DEFAULT_GROUP_INTERVAL,
                allow_zero=False,
            )
            or DEFAULT_GROUP_INTERVAL,
            repeat_interval=node.get_duration(
                "repeat_interval",
                parent.repeat_interval if parent else DEFAULT_REPEAT_INTERVAL,
                allow_zero=False,
            )
            or DEFAULT_REPEAT_INTERVAL,
        )
        if is_root:
            # As in Alertmanager, only a true `continue` or non-empty matchers are errors.
            for key in ("matchers", "match", "match_re", "continue", "mute_time_intervals",
                        "active_time_intervals"):
                child = node.get(key)
                if child is None or child.is_null:
                    continue
                if node.get_bool(key, False) if key == "continue" else bool(child.raw.value):
                    child.error("not allowed on the root route")
        matchers = self._matchers(node)
        children = [
            self.read(c, inherited, options)
            for c in node.get_list("routes") or [] if c.expect_map()
        ]
        if inherited.receiver is None:
            return None
        return Route(
            receiver=inherited.receiver,
            group_by=inherited.group_by,
            group_wait=inherited.group_wait,
            group_interval=inherited.group_interval,
            repeat_interval=inherited.repeat_interval,
            matchers=tuple(matchers),
            continue_=node.get_bool("continue", False),
            routes=tuple(c for c in children if c is not None),
            mute_time_intervals=self._interval_names(node, "mute_time_intervals"),
            active_time_intervals=self._interval_names(node, "active_time_intervals"),
            storm=options[0],
            flap=options[1],
            fast_resolve=options[2],
        )

    def _interval_names(self, node: Node, key: str) -> tuple[str, ...]:
        names = []
        for item in node.get_list(key) or []:
            name = item.as_str()
            if name:
                names.append(name)
                self.interval_refs.append((item, name))
        return tuple(names)

    def _group_by(self, node: Node, inherited: tuple[str, ...]) -> tuple[str, ...]:
        child = node.get("group_by")
        if child is None or child.is_null:
            return inherited
        names = child.as_str_list()
        if names is None:
            return inherited
        seen: set[str] = set()
        for item, name in zip(child.elements(), names, strict=False):
            if name != GROUP_BY_ALL and not LABEL_NAME.fullmatch(name):
                item.error(f'invalid label name "{name}" in group_by list')
            elif name in seen:
                item.error(f'duplicate label "{name}" in group_by')
            seen.add(name)
        if GROUP_BY_ALL in seen and len(names) > 1:
            child.error(f'"{GROUP_BY_ALL}" (all labels) cannot be mixed with label names')
        return tuple(dict.fromkeys(names))

    def _matchers(self, node: Node) -> list[Matcher]:
        out = matcher_list(node, "matchers")
        for key in ("match", "match_re"):
            child = node.get_map(key)
            for name, value_node in child.entries() if child else []:
                if not LABEL_NAME.fullmatch(name):
                    value_node.error(f'invalid label name "{name}"')
                    continue
                if key == "match_re" and value_node.is_null:
                    value_node.error(f'invalid regexp value for "{name}"')
                    continue
                value = value_node.as_str()
                if value is None:
                    continue
                try:
                    maps = ({name: value}, {}) if key == "match" else ({}, {name: value})
                    out.extend(from_match_maps(*maps))
                except MatcherError as exc:
                    value_node.error(f"invalid {key} value {value!r}: {exc.message}")
        return out


def option_node(parent: Node, key: str, example: str) -> Node | bool | None:
    """A route option that is a map or `false`: None when absent (inherit the parent's),
    False when switched off, else the map node (problems are reported on `parent`'s src)."""
    node = parent.get(key)
    if node is None or node.is_null:
        return None
    if node.is_map:
        return node
    if node.raw.tag == _BOOL_TAG and str(node.raw.value).lower() in ("false", "off", "no", "n"):
        return False
    node.error(f"expected a map such as {example}, or false")
    return None


def _counted_option(parent: Node, key: str, example: str, keys: tuple[str, str, str]
                    ) -> tuple[int, float, float] | bool | None:
    """A route option `{<count>, <duration>, <duration>}` with all three keys required:
    the values, None when absent (inherit), False when switched off or invalid."""
    node = option_node(parent, key, example)
    if node is None:
        return None
    if node is False or not isinstance(node, Node):
        return False
    node.expect_keys(keys)
    present = [node.require(k) is not None for k in keys]
    count = node.get_int(keys[0], 0, minimum=1)
    first = node.get_duration(keys[1], None, allow_zero=False)
    second = node.get_duration(keys[2], None, allow_zero=False)
    if not all(present) or count < 1 or first is None or second is None:
        return False
    return count, first, second


def parse_storm(parent: Node, inherited: StormConfig | None) -> StormConfig | None:
    """The route's `storm: {threshold, window, digest_interval}` (all three required)."""
    got = _counted_option(parent, "storm", "{threshold: 20, window: 1m, digest_interval: 5m}",
                          STORM_KEYS)
    if got is None:
        return inherited
    if got is False or got is True:
        return None
    threshold, window, interval = got
    return StormConfig(threshold=threshold, window=window, digest_interval=interval)


def parse_flap(parent: Node, inherited: FlapConfig | None) -> FlapConfig | None:
    """The route's `flap: {changes, window, quiet}` (all three required)."""
    got = _counted_option(parent, "flap", "{changes: 5, window: 10m, quiet: 5m}", FLAP_KEYS)
    if got is None:
        return inherited
    if got is False or got is True:
        return None
    changes, window, quiet = got
    return FlapConfig(changes=changes, window=window, quiet=quiet)


def assign_ids(root: Route) -> Route:
    """A copy of the tree with `id` (child-index path, "0", "0.1") and `key` filled in.

    The key is Alertmanager's route key: the root's is `{}` (it has no matchers), a child's is
    its parent's key + "/" + its own sorted matchers. Keys are not unique; ids are.
    """
    return _assign(root, "0", route_key_part(root.matchers))


def _assign(route: Route, route_id: str, key: str) -> Route:
    children = tuple(
        _assign(child, f"{route_id}.{i}", f"{key}/{route_key_part(child.matchers)}")
        for i, child in enumerate(route.routes)
    )
    return replace(route, id=route_id, key=key, routes=children)
