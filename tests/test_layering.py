"""The config seam: run-time modules read typed config values and never the YAML reader.

router/config/ parses; every other module (channels excepted: each owns its parser by
design) imports only the value modules `config.types` and `config.interval_types`, and only
the composition roots (app.py, cli.py, service.py) call `config.load`. The value modules import no
run-time module, so the dependency points one way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROUTER = Path(__file__).resolve().parent.parent / "router"
VALUES = {"router.config.types", "router.config.interval_types", "router.config.secrets"}
ROOTS = {
    "router/app.py": {"router.config.load"},
    "router/cli.py": {"router.config.load"},
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
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if _is_module(f"{node.module}.{alias.name}")
            )
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


@pytest.mark.parametrize("name", ["types.py", "interval_types.py"])
def test_config_values_import_no_run_time_module(name: str) -> None:
    assert _imports(ROUTER / "config" / name) <= {"router.matchers", *VALUES}
