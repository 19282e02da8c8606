"""Who holds an outbox lease: worker identities, telling a dead local worker's apart, and
handing leases back.

An owner is `host:pid:random`, unique per worker instance and readable in the database.
After a crash, the restarted router finds leases of a worker on its own host whose process
no longer exists: nobody can be sending those rows, so it releases them at once instead of
waiting for them to run out (which would let it re-notify a group before picking up the
group's older unsent row, and then send that stale state). A worker on another host, or a
process that still exists, is never second-guessed: its leases simply run out. A worker
that stops hands its own leases back, so another can claim its rows at once.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Sequence

from router.storage import Store

log = logging.getLogger("router.delivery.worker")


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_dead_local_owner(owner: str) -> bool:
    """True only if `owner` ran on this host in a process that no longer exists."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid = parts[0], int(parts[1])
    if host != socket.gethostname() or pid == os.getpid() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but belongs to someone else
        return False
    return False


async def release_dead_local(store: Store, now: float) -> None:
    """Start-up: release the leases of every dead worker of this host (see above). Its rows
    that were due are in doubt: it may have sent them and died before recording it."""
    for owner in await store.outbox_lease_owners(now):
        if is_dead_local_owner(owner):
            log.info("releasing the outbox leases of a dead worker", extra={"owner": owner})
            await store.outbox_release(owner, in_doubt=True)


async def release(store: Store, owner: str, cut_short: Sequence[int] = ()) -> None:
    """Shutdown: hand back every lease `owner` holds; the rows whose send was `cut_short`
    (cancelled mid-request: the vendor may have it) are handed over in doubt."""
    try:
        await store.outbox_release(owner, cut_short=cut_short)
    except Exception as exc:  # a closed or failing store: the leases simply run out
        log.warning("could not release outbox leases", extra={"error": str(exc)})
