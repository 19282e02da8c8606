"""YAML with positions: a node tree from `yaml.compose`, a small typed reader over it, and
`ConfigError` carrying every `file:line:col: path: message` problem found.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import yaml

from router.config.secrets import REDACTED
from router.errors import Problem

_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"

# Keys whose values are credentials (or URLs that embed one): a problem message shows any
# value at or under such a key as `<secret>`, never its text. `x_file` keys hold paths,
# which are not secret. router/config/redact.py hides the same values by type instead.
SECRET_KEYS = frozenset({
    "api_key", "api_secret", "api_url", "auth_password", "auth_secret", "auth_token",
    "bearer_token", "bearer_tokens", "bot_token", "client_secret", "credentials", "key",
    "opsgenie_api_key", "password", "proxy_connect_header", "proxy_url", "routing_key",
    "service_key", "slack_api_url", "smtp_auth_password", "smtp_auth_secret", "token",
    "url", "user_key", "victorops_api_key", "webhook_url", "wechat_api_secret",
    "mattermost_webhook_url",
    # sns, wechat and rocketchat
    "secret_key", "token_id", "rocketchat_token", "rocketchat_token_id",
    "alert_source_token",
})
_PATH_PARTS = re.compile(r"[.\[]")


_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
# Times derived from a duration (now + resolve_timeout, + repeat_interval, ...) must stay
# inside the accepted range of timestamps (router/timefmt.py, up to year 9999).
MAX_DURATION = 1000 * 365 * 86400.0
# Seconds per unit, in the order the regex captures them (Prometheus: 1y = 365d).
_DURATION_UNITS = (365 * 86400.0, 7 * 86400.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)


def parse_duration(text: str) -> float:
    """Prometheus duration (`1h30m`, `500ms`, `0`) as float seconds; ValueError if invalid."""
    if text == "0":
        return 0.0
    match = _DURATION_RE.match(text)
    if not text or match is None:
        raise ValueError(f'not a valid duration "{text}": use forms like 30s, 5m, 1h30m')
    seconds = sum(
        int(value) * unit
        for value, unit in zip(match.groups(), _DURATION_UNITS, strict=True)
        if value is not None
    )
    if seconds > MAX_DURATION:
        raise ValueError(f'duration "{text}" is longer than 1000y, the most any duration may be')
    return seconds


def suggest(word: str, candidates: Iterable[str]) -> str:
    """` (did you mean "x"?)` for the closest candidate, or "" when none is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


class Source:
    """One YAML document being read: the file name and the problems collected so far."""

    def __init__(self, file: str, *, lenient_files: bool = False) -> None:
        self.file = file
        self.problems: list[Problem] = []
        # Warnings do not refuse the file (a secret file absent where check-config runs).
        self.warnings: list[Problem] = []
        self.lenient_files = lenient_files

    def add(self, line: int, col: int, path: str, message: str) -> None:
        problem = Problem(self.file, line, col, path, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def warn(self, line: int, col: int, path: str, message: str) -> None:
        problem = Problem(self.file, line, col, path, message)
        if problem not in self.warnings:
            self.warnings.append(problem)

    def add_problem(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def sorted_problems(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.file != self.file, p.file, p.line, p.col))

    def compose(self, text: str) -> Node | None:
        """Parse `text`; None (with a problem recorded) on a syntax error or empty document."""
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            message = " ".join(m for m in (exc.context, exc.problem) if m)
            self.add(line, col, "", f"YAML syntax error: {message}")
            return None
        except yaml.YAMLError as exc:
            self.add(1, 1, "", f"YAML error: {exc}")
            return None
        if root is None:
            self.add(1, 1, "", "the file is empty")
            return None
        node = Node(self, root, "")
        node.check_duplicates()
        return node


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Node:
    """A positioned YAML node with a path such as `route.routes[1].matchers[0]`.

    Getters record a problem and return None (or the default) on a type mismatch, so a
    loader can read everything and report every problem at once.
    """

    __slots__ = ("path", "raw", "src")

    def __init__(self, src: Source, raw: yaml.Node, path: str) -> None:
        self.src = src
        self.raw = raw
        self.path = path

    # -- position and problems ------------------------------------------------------
    @property
    def line(self) -> int:
        return int(self.raw.start_mark.line) + 1

    @property
    def col(self) -> int:
        return int(self.raw.start_mark.column) + 1

    @property
    def style(self) -> str | None:
        """A scalar's quoting style: None (plain), "'", '"', "|" or ">"."""
        if isinstance(self.raw, yaml.ScalarNode):
            style: str | None = self.raw.style
            return style
        return None

    @property
    def single_line(self) -> bool:
        return bool(self.raw.start_mark.line == self.raw.end_mark.line)

    def error(self, message: str, *, path: str | None = None, col_offset: int = 0) -> None:
        where = self.path if path is None else path
        self.src.add(self.line, self.col + col_offset, where, message)

    def warn(self, message: str) -> None:
        self.src.warn(self.line, self.col, self.path, message)

    # -- kinds ----------------------------------------------------------------------
    @property
    def is_map(self) -> bool:
        return isinstance(self.raw, yaml.MappingNode)

    @property
    def is_list(self) -> bool:
        return isinstance(self.raw, yaml.SequenceNode)

    @property
    def is_null(self) -> bool:
        return isinstance(self.raw, yaml.ScalarNode) and self.raw.tag == _NULL_TAG

    @property
    def is_secret(self) -> bool:
        """True at or under a secret key (`server.auth.bearer_tokens[0]`, `…password`)."""
        return any(part in SECRET_KEYS for part in _PATH_PARTS.split(self.path))

    def quoted(self) -> str:
        """The scalar's text in double quotes for a message, or `<secret>` for a secret."""
        return REDACTED if self.is_secret else f'"{self.raw.value}"'

    def _kind(self) -> str:
        if self.is_map:
            return "a map"
        if self.is_list:
            return "a list"
        if self.is_null:
            return "null"
        return self.quoted()

    # -- mappings -------------------------------------------------------------------
    def _pairs(self) -> list[tuple[yaml.Node, yaml.Node]]:
        """Key/value node pairs, with `<<` merge keys expanded (explicit keys win)."""
        if not isinstance(self.raw, yaml.MappingNode):
            return []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in self.raw.value:
            if key.tag == _MERGE_TAG:
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for item in sources:
                    if isinstance(item, yaml.MappingNode):
                        merged.extend(Node(self.src, item, self.path)._pairs())
            else:
                own.append((key, value))
        own_keys = {k.value for k, _ in own}
        return own + [(k, v) for k, v in merged if k.value not in own_keys]

    def check_duplicates(self) -> None:
        """Report duplicate mapping keys anywhere below this node (each once)."""
        seen_nodes: set[int] = set()

        def walk(node: Node) -> None:
            if id(node.raw) in seen_nodes:  # aliases share nodes
                return
            seen_nodes.add(id(node.raw))
            if node.is_map:
                first: dict[str, yaml.Node] = {}
                for key, _ in node.raw.value:
                    if key.tag == _MERGE_TAG:
                        continue
                    name = str(key.value)
                    if name in first:
                        prev = first[name].start_mark.line + 1
                        Node(node.src, key, _join(node.path, name)).error(
                            f'duplicate key "{name}" (first defined on line {prev})'
                        )
                    else:
                        first[name] = key
                for _, child in node.entries():
                    walk(child)
            elif node.is_list:
                for child in node.elements():
                    walk(child)

        walk(self)

    def entries(self) -> list[tuple[str, Node]]:
        """(key, value node) for every entry of a map, in file order."""
        return [
            (str(k.value), Node(self.src, v, _join(self.path, str(k.value))))
            for k, v in self._pairs()
        ]

    def key_node(self, key: str) -> Node | None:
        for k, _ in self._pairs():
            if str(k.value) == key:
                return Node(self.src, k, _join(self.path, key))
        return None

    def has(self, key: str) -> bool:
        child = self.get(key)
        return child is not None and not child.is_null

    def get(self, key: str) -> Node | None:
        """The value node for `key`, None when absent (null values are returned)."""
        for k, v in self._pairs():
            if str(k.value) == key:
                return Node(self.src, v, _join(self.path, key))
        return None

    def expect_map(self) -> bool:
        if self.is_map:
            return True
        self.error(f"expected a map, got {self._kind()}")
        return False

    def expect_keys(self, allowed: Iterable[str]) -> None:
        """Report every key not in `allowed`, with a "did you mean" suggestion."""
        allowed = list(allowed)
        for key, _ in self._pairs():
            name = str(key.value)
            if name not in allowed:
                Node(self.src, key, _join(self.path, name)).error(
                    f'unknown key "{name}"{suggest(name, allowed)}'
                )

    def require(self, key: str) -> Node | None:
        child = self.get(key)
        if child is None or child.is_null:
            self.error(f'missing required key "{key}"', path=_join(self.path, key))
            return None
        return child

    def get_map(self, key: str) -> Node | None:
        child = self.get(key)
        if child is None or child.is_null:
            return None
        return child if child.expect_map() else None

    def get_list(self, key: str) -> list[Node] | None:
        child = self.get(key)
        if child is None or child.is_null:
            return None
        if not child.is_list:
            child.error(f"expected a list, got {child._kind()}")
            return None
        return child.elements()

    def elements(self) -> list[Node]:
        if not isinstance(self.raw, yaml.SequenceNode):
            return []
        return [Node(self.src, item, f"{self.path}[{i}]") for i, item in enumerate(self.raw.value)]

    # -- scalars --------------------------------------------------------------------
    def as_str(self) -> str | None:
        """The scalar's text; numbers are taken as written (Go's YAML does the same)."""
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag not in (_NULL_TAG, _BOOL_TAG):
            return str(self.raw.value)
        self.error(f"expected a string, got {self._kind()}")
        return None

    def as_bool(self) -> bool | None:
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag == _BOOL_TAG:
            return bool(self.raw.value.lower() in ("true", "yes", "on", "y"))
        self.error(f"expected true or false, got {self._kind()}")
        return None

    def as_int(self) -> int | None:
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag == _INT_TAG:
            try:
                return int(str(self.raw.value).replace("_", ""), 0)
            except ValueError:
                pass
        self.error(f"expected an integer, got {self._kind()}")
        return None

    def as_float(self) -> float | None:
        if isinstance(self.raw, yaml.ScalarNode) and self.raw.tag in (_INT_TAG, _FLOAT_TAG):
            try:
                return float(str(self.raw.value).replace("_", ""))
            except ValueError:
                pass
        self.error(f"expected a number, got {self._kind()}")
        return None

    def as_duration(self) -> float | None:
        text = self.as_str()
        if text is None:
            return None
        try:
            return parse_duration(text)
        except ValueError as exc:
            self.error(str(exc))
            return None

    def as_str_list(self) -> list[str] | None:
        if not self.is_list:
            self.error(f"expected a list of strings, got {self._kind()}")
            return None
        out = [item.as_str() for item in self.elements()]
        return [s for s in out if s is not None]

    # -- keyed getters: absent or null gives the default ----------------------------
    def _child(self, key: str) -> Node | None:
        child = self.get(key)
        return None if child is None or child.is_null else child

    def get_str(self, key: str, default: str | None = None) -> str | None:
        child = self._child(key)
        if child is None:
            return default
        value = child.as_str()
        return default if value is None else value

    def get_bool(self, key: str, default: bool) -> bool:
        child = self._child(key)
        value = None if child is None else child.as_bool()
        return default if value is None else value

    def get_int(self, key: str, default: int, *, minimum: int | None = None) -> int:
        child = self._child(key)
        value = None if child is None else child.as_int()
        if child is None or value is None:
            return default
        if minimum is not None and value < minimum:
            child.error(f"must be >= {minimum}, got {value}")
            return default
        return value

    def get_duration(
        self, key: str, default: float | None, *, allow_zero: bool = True
    ) -> float | None:
        child = self._child(key)
        value = None if child is None else child.as_duration()
        if child is None or value is None:
            return default
        if value == 0 and not allow_zero:
            child.error("must be greater than zero")
            return default
        return value
