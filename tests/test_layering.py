"""The config seam: run-time modules read typed config values and never the YAML reader.

router/config/ parses; every other module (channels excepted: each owns its parser by
design) imports only the value modules `config.types`, `config.interval_types`,
`config.secret_types`, `config.http_types`, `config.web_types` and `config.secrets`, and
only the composition roots (app.py, cli.py, cli_tools.py, serve.py, service.py) call
`config.load` (serve.py and cli_tools.py read the web config too). The value modules import no
run-time module, so the dependency points one way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTER = Path(__file__).resolve().parent.parent / "router"
VALUES = {"router.config.types", "router.config.interval_types", "router.config.secrets",
          "router.config.secret_types", "router.config.http_types",
          "router.config.web_types", "router.config.source_types"}
ROOTS = {
    "router/app.py": {"router.config.load"},
    "router/cli.py": {"router.config.load", "router.config.web_config"},
    "router/cli_tools.py": {"router.config.load", "router.config.web_config",
                            "router.config.migrate"},  # alert-router migrate
    "router/serve.py": {"router.config.web_config"},  # --web.config.file, re-read
    "router/service.py": {"router.config.load"},  # reload reads the file again
    "router/web/ops.py": {"router.config.redact"},  # /api/v2/status shows the config
}


def _is_module(name: str) -> bool:
    path = ROUTER.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _run_time_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node outside `if TYPE_CHECKING:` blocks (those imports never run)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        todo.extend(c for c in ast.iter_child_nodes(node) if not _is_type_checking(c))
    return out


def _imports(path: Path) -> set[str]:
    """Every `router...` module `path` imports at run time, at any depth (`from router.config
    import load` counts as router.config.load)."""
    found: set[str] = set()
    for node in _run_time_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import submodule` needs the submodule, not the package's own names.
            subs = {f"{node.module}.{a.name}" for a in node.names
                    if _is_module(f"{node.module}.{a.name}")}
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(node.module)
    return {name for name in found if name.split(".")[0] == "router"}


def _modules(*parts: str) -> list[Path]:
    return sorted(ROUTER.joinpath(*parts).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROUTER.parent).as_posix()


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in _modules()
        if not _rel(p).startswith(("router/config/", "router/channels/"))
    ],
    ids=_rel,
)
def test_run_time_modules_import_only_config_values(path: Path) -> None:
    allowed = VALUES | ROOTS.get(_rel(path), set())
    used = {name for name in _imports(path) if name.startswith("router.config.")}
    assert used <= allowed, f"{_rel(path)} imports {sorted(used - allowed)}"


@pytest.mark.parametrize("path", _modules("config"), ids=_rel)
def test_config_never_imports_noise(path: Path) -> None:
    assert not any(name.startswith("router.noise") for name in _imports(path))


@pytest.mark.parametrize(
    "name", ["types.py", "interval_types.py", "secret_types.py", "http_types.py",
             "source_types.py"])
def test_config_values_import_no_run_time_module(name: str) -> None:
    assert _imports(ROUTER / "config" / name) <= {"router.matchers", *VALUES}


# --- the whole package: no import cycle, small modules that say what they do ------------------


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROUTER.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    """module → the router modules it imports at run time (function-level imports count;
    `if TYPE_CHECKING:` blocks do not, they never run)."""
    modules = {_module_name(p): p for p in _modules()}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the list of modules around it, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_router_has_no_import_cycle() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_every_module_is_small_and_says_what_it_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 400, f"{_rel(path)} has {len(text.splitlines())} lines"
    doc = ast.get_docstring(ast.parse(text))
    assert doc, f"{_rel(path)} has no docstring saying what it does"
    assert len(doc) >= 20, f"{_rel(path)}: a docstring too short to say what it does"
