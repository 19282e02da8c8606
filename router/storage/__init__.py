"""Storage seams: small Protocols for alerts, the notification log, the outbox and silences.

They live in `router.storage.protocols` (row codecs in `records`, the SQLite backend in
`sqlite`); importing them from `router.storage` keeps working.
"""

from __future__ import annotations

from router.storage.protocols import (
    AlertStore,
    NflogStore,
    Outbox,
    OutboxRow,
    SilenceStore,
    Store,
    StoreUnavailable,
    WebPushStore,
)

__all__ = [
    "AlertStore",
    "NflogStore",
    "Outbox",
    "OutboxRow",
    "SilenceStore",
    "Store",
    "StoreUnavailable",
    "WebPushStore",
]
