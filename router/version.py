"""`alert-router --version`: version, revision, Python and dependency versions, in the
shape of a Prometheus component's `--version`.

The revision is `router.buildinfo`'s (the one `alert_router_build_info` reports): a
`REVISION` file next to this module (written by the container build from its `REVISION`
build argument), pip's install record or the git checkout.
"""

from __future__ import annotations

import platform
from importlib import metadata

from router.buildinfo import BuildInfo

# The run-time dependencies an operator reports in a bug (pyproject.toml's list).
DEPENDENCIES = ("aiohttp", "aiosqlite", "aiosmtplib", "bcrypt", "google-re2", "jinja2",
                "orjson", "prometheus-client", "py-vapid", "pywebpush", "pyyaml", "uvloop")


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    build = BuildInfo.current()
    deps = ", ".join(f"{name} {_installed(name)}" for name in DEPENDENCIES)
    return (f"alert-router, version {build.version} (revision: {build.revision})\n"
            f"  python version:   {platform.python_implementation()} {build.python}\n"
            f"  platform:         {platform.system().lower()}/{platform.machine()}\n"
            f"  dependencies:     {deps}\n")
