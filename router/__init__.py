"""alert-router: routes, groups and durably delivers alerts.

`__version__` is the single source of the version: the package metadata (pyproject.toml
reads it via hatch), the User-Agent of every outgoing request and `/api/v2/status`.
"""

__version__ = "0.1.0"
