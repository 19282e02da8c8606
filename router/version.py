"""`alert-router --version`: version, revision, Python and dependency versions, in the
shape of a Prometheus component's `--version`.

The revision comes from a `REVISION` file next to this module (written by the container
build from its `REVISION` build argument) or, in a source checkout, from git.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from router import __version__

# The run-time dependencies an operator reports in a bug (pyproject.toml's list).
DEPENDENCIES = ("aiohttp", "aiosqlite", "aiosmtplib", "bcrypt", "google-re2", "jinja2",
                "orjson", "prometheus-client", "py-vapid", "pywebpush", "pyyaml", "uvloop")


def revision() -> str:
    here = Path(__file__).resolve().parent
    stamped = here / "REVISION"
    if stamped.is_file():
        return stamped.read_text(encoding="utf-8").strip() or "unknown"
    if (here.parent / ".git").exists():
        try:
            done = subprocess.run(["git", "-C", str(here.parent), "rev-parse", "--short=12",
                                   "HEAD"], capture_output=True, text=True, timeout=2,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return done.stdout.strip() or "unknown"
    return "unknown"


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    deps = ", ".join(f"{name} {_installed(name)}" for name in DEPENDENCIES)
    return (f"alert-router, version {__version__} (revision: {revision()})\n"
            f"  python version:   {platform.python_implementation()} "
            f"{platform.python_version()}\n"
            f"  platform:         {platform.system().lower()}/{platform.machine()}\n"
            f"  dependencies:     {deps}\n")
