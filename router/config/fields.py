"""Reading the field kinds every config section shares: secrets, files, templates, HTTP.

`FieldReader` is handed to each channel module's `parse`, so a channel owns its keys while
secrets (`x` / `x_file`), template checks and `http_config` behave the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from router.config.go_templates import translate
from router.config.http_config import is_http_url, parse_http_config
from router.config.types import BasicAuth, GlobalConfig, HttpConfig, Pacing, Secret
from router.config.yaml_source import Node, Source
from router.errors import MatcherError, Problem
from router.matchers import Matcher, parse_matchers


def go_template_hint(text: str) -> str | None:
    """A message giving the Jinja spelling when `text` holds Go template actions."""
    found = translate(text)
    if not found.actions:
        return None
    notes = "".join(f"; {note}" for note in dict.fromkeys(found.notes))
    return (f"looks like a Go template ({found.actions[0][0].text}); templates are Jinja "
            f"here: write {found.text}{notes}")


def go_file_hint(text: str) -> tuple[int, str] | None:
    """(line, message) for a template file in Go syntax (Alertmanager's `.tmpl` files)."""
    found = translate(text)
    if not found.actions:
        return None
    action, jinja = found.actions[0]
    line = text.count("\n", 0, action.offset) + 1
    more = len(found.actions) - 1
    notes = "".join(f"; {note}" for note in dict.fromkeys(found.notes))
    return line, (f"a Go template ({action.text}); templates are Jinja here: write "
                  f"{jinja}" + (f" ({more} more Go actions in this file)" if more else "")
                  + notes + "; `alert-router migrate` translates a whole config")


def matcher_list(node: Node, key: str) -> list[Matcher]:
    """A list of matcher strings, each `a="1"`, `a=1,b=~x` or `{a="1"}`."""
    out: list[Matcher] = []
    for item in node.get_list(key) or []:
        text = item.as_str()
        if text is None:
            continue
        try:
            out.extend(parse_matchers(text))
        except MatcherError as exc:
            # Point into the string when it sits on one line: +1 for an opening quote.
            offset = 0
            if item.single_line and item.style in (None, "'", '"'):
                offset = exc.offset + (1 if item.style else 0)
            item.error(f"invalid matcher {text!r}: {exc.message}", col_offset=offset)
    return out


class FieldReader:
    """Shared field readers for one load; problems go to `src`."""

    def __init__(self, src: Source, base_dir: Path) -> None:
        self.src = src
        self.base_dir = base_dir
        self.env = SandboxedEnvironment()
        # What receivers inherit (`global:`); the loader sets it before reading receivers.
        self.global_ = GlobalConfig()
        # Every Jinja template read, for the render check after loading (template_check).
        self.templates: list[tuple[Node, str]] = []
        self.template_files: list[tuple[Node, str]] = []

    def path(self, text: str) -> Path:
        return self.base_dir / Path(text).expanduser()

    def existing_file(self, node: Node, key: str, *, deployable: bool = False) -> str | None:
        """The path at `key`, which must be a file. A `deployable` file (a secret, a
        certificate) may exist only where the router is deployed: when `check-config`
        runs elsewhere (`src.lenient_files`) its absence is a warning, at `serve` an error.
        """
        text = node.get_str(key)
        if text is None:
            return None
        path = self.path(text)
        if not path.is_file():
            child = node.get(key)
            assert child is not None
            if deployable and self.src.lenient_files:
                child.warn(f"file not found: {path} (it must exist where alert-router serves)")
                return str(path)
            child.error(f"file not found: {path}")
            return None
        return str(path)

    def secret(self, node: Node, key: str, *, required: bool = False,
               deployable: bool = True) -> Secret | None:
        """`key` or `key_file`. A missing file is a warning at check-config unless the
        secret is not `deployable` (server.auth's own credentials: always an error)."""
        file_key = f"{key}_file"
        value = node.get_str(key)
        if value is not None and node.has(file_key):
            file_node = node.get(file_key)
            assert file_node is not None
            file_node.error(f'"{key}" and "{file_key}" are mutually exclusive')
            return None
        if value is not None:
            return Secret(value=value)
        if node.has(file_key):
            path = self.existing_file(node, file_key, deployable=deployable)
            return None if path is None else Secret(file=path)
        if required:
            node.error(f'one of "{key}" or "{file_key}" is required')
        return None

    def template_string(self, node: Node | None) -> str | None:
        """The Jinja source held by `node`, after checking that it compiles."""
        if node is None or node.is_null:
            return None
        text = node.as_str()
        if text is None:
            return None
        hint = go_template_hint(text)
        if hint is not None:
            node.error(hint)
            return text
        try:
            self.env.parse(text)
            self.templates.append((node, text))
        except TemplateSyntaxError as exc:
            if exc.lineno <= 1:
                node.error(f"template syntax error: {exc.message}")
            else:
                # Block scalars (`|`, `>`) start their text on the line after the indicator.
                first = node.line + (1 if node.style in ("|", ">") else 0)
                self.src.add(
                    first + exc.lineno - 1, 1, node.path, f"template syntax error: {exc.message}"
                )
        return text

    def template_file(self, node: Node, path: Path) -> None:
        """Check that a Jinja file compiles; errors point at the file's own line."""
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            node.error(f"cannot read template {path}: {exc}")
            return
        hint = go_file_hint(text)
        if hint is not None:
            self.src.add_problem(Problem(str(path), hint[0], 1, node.path, hint[1]))
            return
        try:
            self.env.parse(text, name=path.name, filename=str(path))
            self.template_files.append((node, str(path)))
        except TemplateSyntaxError as exc:
            self.src.add_problem(
                Problem(
                    str(path), exc.lineno, 1, node.path, f"template syntax error: {exc.message}"
                )
            )

    def template_key(self, node: Node, key: str) -> str | None:
        path = self.existing_file(node, key)
        if path is not None:
            child = node.get(key)
            assert child is not None
            self.template_file(child, Path(path))
        return path

    def inherited_secret(self, node: Node, key: str, inherited: Secret | None,
                         missing: str) -> Secret | None:
        """The entry's `key` / `key_file`, else the `global` value it inherits (as
        Alertmanager: an empty inline value is unset); `missing` when neither is set."""
        if node.get_str(key) or node.has(f"{key}_file"):
            return self.secret(node, key)
        if inherited is None:
            node.error(missing)
        return inherited

    def base_url(self, node: Node, key: str, default: str) -> str:
        """An http(s) URL that paths are appended to (Alertmanager adds the "/")."""
        url = node.get_str(key, default) or default
        if not is_http_url(url):
            (node.get(key) or node).error("must be an http:// or https:// URL")
        return url if url.endswith("/") else url + "/"

    def http_config(self, node: Node) -> HttpConfig:
        """The entry's `http_config`, else the global one (replaced whole, as Alertmanager)."""
        child = node.get_map("http_config")
        if child is None:
            return self.global_.http_config
        return parse_http_config(self, child)

    def basic_auth(self, node: Node) -> BasicAuth | None:
        node.expect_keys(("username", "password", "password_file"))
        username = node.get_str("username") if node.require("username") else None
        # server.auth only: the router's own credentials must be readable wherever checked.
        password = self.secret(node, "password", required=True, deployable=False)
        if username is None or password is None:
            return None
        return BasicAuth(username, password)

    def timeout(self, node: Node) -> float | None:
        return node.get_duration("timeout", None, allow_zero=False)

    def pacing(self, node: Node) -> Pacing | None:
        """`pacing: {rate: N, per: DURATION (default 1s), burst: M (default 1)}`."""
        child = node.get_map("pacing")
        if child is None:
            return None
        child.expect_keys(("rate", "per", "burst"))
        rate_node = child.require("rate")
        rate = rate_node.as_float() if rate_node is not None else None
        per = child.get_duration("per", 1.0, allow_zero=False)
        burst = child.get_int("burst", 1, minimum=1)
        if rate is None or per is None or burst is None:
            return None
        if rate <= 0:
            assert rate_node is not None
            rate_node.error("must be greater than 0")
            return None
        return Pacing(rate=rate / per, burst=burst)
