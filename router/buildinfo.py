"""Which build is running: version, source revision and Python, for `alert_router_build_info`.

The revision is the one stamped in a `REVISION` file next to this module (the container
build writes it from its `REVISION` build argument), else the git commit the package was
installed from (pip's `direct_url.json` for a `git+` install), else the commit of the
source checkout it runs from (read from `.git`, no subprocess), else "unknown" (a wheel or
image built without git metadata).
"""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from router import __version__

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str
    revision: str
    python: str

    @classmethod
    def current(cls) -> BuildInfo:
        return cls(__version__, revision(), platform.python_version())


def revision(source: Path | None = None) -> str:
    """The commit this code comes from, or "unknown". `source` is the directory holding
    the package (and, in a checkout, `.git`)."""
    package = Path(__file__).resolve().parent
    root = source or package.parent
    return (_stamped_revision(root / package.name) or _installed_revision()
            or _checkout_revision(root) or UNKNOWN)


def _stamped_revision(package: Path) -> str | None:
    try:
        return (package / "REVISION").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _installed_revision() -> str | None:
    try:
        text = metadata.distribution("alert-router").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        commit = json.loads(text or "{}").get("vcs_info", {}).get("commit_id")
    except (ValueError, AttributeError):
        return None
    return commit if isinstance(commit, str) and commit else None


def _checkout_revision(root: Path) -> str | None:
    """HEAD of the git checkout (or worktree) at `root`: a detached commit, a loose ref
    or a packed one."""
    try:
        git = root / ".git"
        if git.is_file():  # a worktree: "gitdir: <path>"
            git = Path(git.read_text().split(":", 1)[1].strip())
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head or None
        ref = head[5:]
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.is_file() else git
        for where in (git, base):
            if (where / ref).is_file():
                return (where / ref).read_text().strip() or None
        for line in (base / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split(" ", 1)[0]
    except (OSError, IndexError):
        return None
    return None
