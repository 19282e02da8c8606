"""One exception tree: every error the router raises on purpose has one root.

    RouterError
    ├── ConfigError        a config that failed to load: every Problem, file:line:col
    ├── MatcherError       a matcher that cannot be parsed or compiled (offset into input)
    ├── InputError         input we cannot accept: the JSON path of the bad field
    │   ├── RequestError       (router/web/errors.py) with its HTTP status: 400/404/413/415
    │   └── StoreRejected      the store refused one caller's values (the others commit)
    ├── SilenceError       a rejected silence (path of the bad field)
    │   ├── SilenceSchemaError a field the OpenAPI schema requires is missing (422)
    │   └── SilenceNotFound    an update naming an id that is not stored
    ├── StoreUnavailable   a write that could not be committed: ingest answers 503
    └── DeliveryError      a failed send, classified by FailureReason (never a secret)
        └── SlackAPIError      (router/channels/slack/) Slack's `ok: false` answers

Errors carry what went wrong and where, never how to answer it: the HTTP edge
(router/web/) maps each class to a status, the CLI prints ConfigError's problems, and
delivery reads DeliveryError's `retryable` and `retry_after`. Anything else that escapes
is a bug of ours and is answered as one (503 + Retry-After at the web edge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Problem:
    """One configuration problem; line and col are 1-based."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"


class RouterError(Exception):
    """The root of every error alert-router raises on purpose."""


class ConfigError(RouterError):
    """A configuration that failed to load; `problems` holds all of them, in file order."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in problems))


class ReloadError(RouterError):
    """A config that loaded but would not build (a template, a channel); the message holds
    no secret value."""


class MatcherError(RouterError):
    """A matcher that cannot be parsed or compiled; `offset` is 0-based into the input."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class InputError(RouterError):
    """Input the router cannot accept; `path` names the bad field (`[3].labels.team`).

    It says what is wrong, not how to answer: the web edge answers it 422, or with the
    status of its own subclass (router/web/errors.py RequestError: 400, 404, 413, ...)."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class SilenceError(RouterError):
    """A rejected silence; `path` names the offending field, e.g. `matchers[0].value`.
    `alertmanager`: Alertmanager's own answer text for it, where it has one (amtool prints
    it, and scripts match on it)."""

    def __init__(self, message: str, path: str = "", *, alertmanager: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.message = message
        self.path = path
        self.alertmanager = alertmanager


class SilenceSchemaError(SilenceError):
    """A silence missing a field Alertmanager's OpenAPI schema requires: its API answers 422
    with go-swagger's `{"code", "message"}` (602 required, 612 too few items), not a 400."""

    def __init__(self, message: str, path: str, code: int) -> None:
        super().__init__(message, path)
        self.code = code
        # go-swagger's path: `matchers.0.isRegex`, not this project's `matchers[0].isRegex`.
        swagger_path = path.replace("[", ".").replace("]", "")
        self.am_message = f"{swagger_path} in body {message}"


class SilenceNotFound(SilenceError):
    """An update names an id that is not stored (the API answers 404; amtool's `silence
    import` relies on that 404 to retry the POST without the id)."""


class StoreUnavailable(RouterError):
    """A write could not be committed (disk full, locked, closed). Ingest answers 503."""


class StoreRejected(InputError):
    """The store refused one caller's values (a constraint, an integer beyond 64 bits, a
    type it cannot store): that caller's writes are rolled back, every other caller's in
    the same group commit are kept. It is the caller's input, not a store fault: 422."""


class FailureReason(StrEnum):
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    TIMEOUT = "timeout"
    NETWORK = "network"
    OTHER = "other"


class DeliveryError(RouterError):
    """A failed send. The message never carries a URL or a credential."""

    def __init__(
        self,
        reason: FailureReason,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after

    def with_message(self, message: str) -> DeliveryError:
        """The same failure (reason, retryable, retry_after) told with another message."""
        return DeliveryError(self.reason, message, retryable=self.retryable,
                             retry_after=self.retry_after)

    def __repr__(self) -> str:
        return (
            f"DeliveryError({self.reason.value!r}, {self.message!r}, "
            f"retryable={self.retryable}, retry_after={self.retry_after})"
        )
