"""Who holds an outbox lease: worker identities, and telling a dead local worker's apart.

An owner is `host:pid:random`, unique per worker instance and readable in the database.
After a crash, the restarted router finds leases of a worker on its own host whose process
no longer exists: nobody can be sending those rows, so it releases them at once instead of
waiting for them to run out (which would let it re-notify a group before picking up the
group's older unsent row, and then send that stale state). A worker on another host, or a
process that still exists, is never second-guessed: its leases simply run out.
"""

from __future__ import annotations

import os
import socket
import uuid


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
