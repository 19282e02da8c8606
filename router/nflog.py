"""NotificationLog: the one answer to "what was last notified for (group, receiver, channel)".

Alertmanager's `nflog`. Dedup, `send_resolved_when_silenced`, the API views and delivery
outcomes all read and write it here, never a dict of their own. The store is the truth;
this keeps the unexpired entries in memory because dedup asks for every flush.

A delivery records its entry in the same transaction that deletes its outbox row
(`remember` then updates the cache only); an entry logged without a send (a resolution a
channel does not announce, a storm's covered groups) is committed here with `record`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Iterator

from router.config.types import Receiver
from router.model import NflogEntry, nflog_key
from router.storage import NflogStore


class NotificationLog:
    def __init__(self, store: NflogStore) -> None:
        self._store = store
        self._entries: dict[str, NflogEntry] = {}

    async def restore(self, now: float) -> None:
        """Load the entries not yet expired at `now` (start-up)."""
        self.load(await self._store.load_nflog(now))

    def load(self, entries: Iterable[NflogEntry]) -> None:
        self._entries = {e.key: e for e in entries}

    def get(self, key: str) -> NflogEntry | None:
        return self._entries.get(key)

    def entry(self, group_key: str, receiver: str, kind: str, index: int) -> NflogEntry | None:
        return self._entries.get(nflog_key(group_key, receiver, kind, index))

    def remember(self, entry: NflogEntry) -> None:
        """Cache an entry the caller commits itself (with its outbox row's deletion)."""
        self._entries[entry.key] = entry

    def record(self, entry: NflogEntry) -> Awaitable[None]:
        """Log a state as notified without sending it; resolves once committed."""
        self._entries[entry.key] = entry
        return self._store.record_nflog(entry)

    def notified_firing(self, group_key: str, receiver: Receiver) -> frozenset[str]:
        """Alerts of this group that some channel of the receiver announced as firing."""
        out: frozenset[str] = frozenset()
        for kind, index, _cfg in receiver.channels():
            entry = self.entry(group_key, receiver.name, kind, index)
            if entry is not None:
                out |= entry.firing
        return out

    async def collect_garbage(self, now: float) -> int:
        """Drop entries expired at `now`, in memory and in the store."""
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
        return await self._store.gc_nflog(now)

    def __getitem__(self, key: str) -> NflogEntry:
        return self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[NflogEntry]:
        return iter(self._entries.values())

    def __contains__(self, key: object) -> bool:
        return key in self._entries
