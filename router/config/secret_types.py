"""`Secret`: a credential held inline or in a file, never printed (a value module).

Every config dataclass holding a password, token, key or secret URL uses it, so redaction
(router/config/redact.py) and scrubbing (router/config/secrets.py) find secrets by type.
"""

from __future__ import annotations

from pathlib import Path


class Secret:
    """A secret value or a file holding one. Never printed: repr and str are redacted.

    The `_file` form is read at use time (`reveal`) so a rotated file takes effect
    without a reload, as Alertmanager does.
    """

    __slots__ = ("_file", "_value")

    def __init__(self, value: str | None = None, file: str | None = None) -> None:
        if (value is None) == (file is None):
            raise ValueError("exactly one of value or file")
        self._value = value
        self._file = file

    @property
    def file(self) -> str | None:
        return self._file

    def reveal(self) -> str:
        if self._value is not None:
            return self._value
        assert self._file is not None
        return Path(self._file).read_text(encoding="utf-8").strip()

    def __repr__(self) -> str:
        return "Secret(<redacted>)"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Secret)
            and self._value == other._value
            and self._file == other._file
        )

    def __hash__(self) -> int:
        return hash((self._value, self._file))
