"""What a channel module contributes to the contract test (tests/channels/contract_<kind>.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fakes import Recorded


def _no_check(_: Any) -> None:
    return None


@dataclass(frozen=True)
class Setup:
    kind: str  # registry key
    fake: str  # fake kind (tests/channels/fakes.py)
    path: str  # path the channel posts to (may hold a token)
    config: Callable[[str], Any]  # fake URL -> channel config
    # What the vendor would see on a successful send (auth header, path, body).
    check_request: Callable[[Recorded], None] = field(default=_no_check)
    # The state a successful send returns (e.g. Slack's ts).
    check_state: Callable[[Mapping[str, str]], None] = field(default=_no_check)
    # Builds the channel that sends (fake URL, HTTP client) when `build_channel` cannot: a
    # fan-out channel's sender bound to one recipient (Web Push).
    make: Callable[[str, Any], Awaitable[Any]] | None = None
    # Requests one successful send makes (Jira: search, then create); check_request sees
    # the last one.
    requests: int = 1
