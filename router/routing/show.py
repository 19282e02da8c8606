"""`routes show` and `routes test --tree`: the routing tree drawn as amtool 0.25 draws it.

amtool prints with github.com/xlab/treeprint v1.1.0; its box-drawing layout is reproduced
here byte for byte, so the two outputs can be diffed (tests/e2e/test_routes_amtool.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from router.config.types import Route
from router.matchers import route_key_part

_SEP = "  "  # amtool's branchSlugSeparator


@dataclass(slots=True)
class _Node:
    value: str
    children: list[_Node] = field(default_factory=list)


def _slug(route: Route, *, show_continue: bool, show_receiver: bool) -> str:
    # dispatch.NewRoute sorts a route's matchers: the route key's part is that same text.
    text = route_key_part(route.matchers) if route.matchers else "default-route"
    if route.continue_ and show_continue:
        text += f"{_SEP}continue: true"
    if show_receiver:
        text += f"{_SEP}receiver: {route.receiver}"
    return text


def _draw(nodes: list[_Node], prefix: str, out: list[str]) -> None:
    for i, node in enumerate(nodes):
        last = i == len(nodes) - 1
        out.append(f"{prefix}{'└──' if last else '├──'} {node.value}")
        # treeprint pads a continuing branch with two no-break spaces (U+00A0) and a space.
        _draw(node.children, prefix + ("    " if last else "│\u00a0\u00a0 "), out)


def _render(top: _Node) -> str:
    """treeprint's String(): a `.` root, one line per node, a trailing newline."""
    out = ["."]
    _draw([top], "", out)
    return "\n".join(out) + "\n"


def _full(route: Route) -> _Node:
    return _Node(_slug(route, show_continue=True, show_receiver=True),
                 [_full(child) for child in route.routes])


def format_tree(root: Route) -> str:
    """What `amtool config routes show` prints."""
    return f"Routing tree:\n{_render(_full(root))}\n"


def _matching(route: Route, labels: Mapping[str, str]) -> _Node:
    # amtool's getMatchingTree: the branches a label set walks, receivers on the leaves.
    node = _Node(_slug(route, show_continue=False, show_receiver=False))
    for child in route.routes:
        if all(m.matches(labels) for m in child.matchers):
            node.children.append(_matching(child, labels))
            if not child.continue_:
                break
    if not node.children:
        node.value = _slug(route, show_continue=False, show_receiver=True)
    return node


def format_matching_tree(root: Route, labels: Mapping[str, str]) -> str:
    """What `amtool config routes test --tree` prints before the receivers."""
    return f"Matching routes:\n{_render(_matching(root, labels))}\n\n"
