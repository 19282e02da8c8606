"""Row codecs for the SQLite store: each stored type to its SQL parameters and back.

Kept apart from the store so that the column lists and the JSON encodings of alerts, the
notification log, outbox rows and silences are read in one place. orjson encodes on the
write path (several times faster than json); sets are stored sorted, so equal sets are
equal text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from router.model import Alert, NflogEntry
from router.noise.silences import Silence, silence_to_record
from router.storage.protocols import OutboxRow

_OUTBOX_STORED = (
    "id, receiver, channel, idx, group_key, payload, firing, resolved, reason, priority,"
    " created_at, ingested_at, attempts, next_attempt_at, last_error, state, all_resolved,"
    " expires_in, recipient"
)
# `in_doubt` is only ever set by the store (claims and releases): read, never written.
OUTBOX_COLS = _OUTBOX_STORED + ", in_doubt"
# The columns a new row is inserted with: the store assigns `id`, the lease is the inserter's.
OUTBOX_INSERT_COLS = _OUTBOX_STORED.removeprefix("id, ") + ", lease_owner, lease_until"
ALERT_COLS = (
    "labels, annotations, starts_at, ends_at, generator_url, fingerprint, updated_at,"
    " timeout_end, source, received_at"
)
NFLOG_COLS = "key, firing, resolved, sent_at, expires_at, data"


def dumps(value: Any) -> str:
    """Compact JSON text (orjson: several times faster than json on the write path)."""
    return orjson.dumps(value).decode()


def set_json(values: frozenset[str]) -> str:
    return dumps(sorted(values))


def alert_params(a: Alert) -> tuple[Any, ...]:
    return (
        dumps(dict(a.labels)), dumps(dict(a.annotations)), a.starts_at, a.ends_at,
        a.generator_url, a.fingerprint, a.updated_at, int(a.timeout_end), a.source,
        a.received_at,
    )


def alert_from_row(r: Sequence[Any]) -> Alert:
    return Alert(
        labels=json.loads(r[0]), annotations=json.loads(r[1]), starts_at=r[2], ends_at=r[3],
        generator_url=r[4], fingerprint=r[5], updated_at=r[6], timeout_end=bool(r[7]),
        source=r[8], received_at=r[9],
    )


def nflog_params(e: NflogEntry) -> tuple[Any, ...]:
    return (
        e.key, set_json(e.firing), set_json(e.resolved), e.sent_at, e.expires_at,
        dumps(dict(e.data)),
    )


def nflog_from_row(r: Sequence[Any]) -> NflogEntry:
    return NflogEntry(
        key=r[0], firing=frozenset(json.loads(r[1])), resolved=frozenset(json.loads(r[2])),
        sent_at=r[3], expires_at=r[4], data=json.loads(r[5]),
    )


def silence_params(s: Silence) -> tuple[Any, ...]:
    return (s.id, dumps(silence_to_record(s)), s.ends_at)


def outbox_insert_params(o: OutboxRow, owner: str, lease_until: float) -> tuple[Any, ...]:
    return (
        o.receiver, o.channel, o.index, o.group_key, o.payload, set_json(o.firing),
        set_json(o.resolved), o.reason, o.priority, o.created_at, o.ingested_at, o.attempts,
        o.next_attempt_at, o.last_error, o.state, int(o.all_resolved), o.expires_in,
        o.recipient, owner, lease_until,
    )


def outbox_content_params(o: OutboxRow) -> tuple[Any, ...]:
    """The replaceable content of a row (see `Outbox.outbox_replace`), then its id."""
    return (
        o.payload, set_json(o.firing), set_json(o.resolved), o.reason, o.priority,
        o.ingested_at, int(o.all_resolved), o.expires_in, o.id,
    )


def outbox_from_row(r: Sequence[Any]) -> OutboxRow:
    return OutboxRow(
        id=r[0], receiver=r[1], channel=r[2], index=r[3], group_key=r[4], payload=bytes(r[5]),
        firing=frozenset(json.loads(r[6])), resolved=frozenset(json.loads(r[7])), reason=r[8],
        priority=r[9], created_at=r[10], ingested_at=r[11], attempts=r[12],
        next_attempt_at=r[13], last_error=r[14], state=r[15], all_resolved=bool(r[16]),
        expires_in=r[17], recipient=r[18], in_doubt=bool(r[19]),
    )


class JsonText:
    """Encoded by sqlite3 in the database thread (`__conform__`), not on the event loop."""

    __slots__ = ("value",)

    def __init__(self, value: Mapping[str, Any]) -> None:
        self.value = value

    def __conform__(self, protocol: object) -> str:
        return dumps(dict(self.value))
