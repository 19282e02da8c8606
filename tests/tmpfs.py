"""A real small tmpfs for storage-fault tests: mounted in a temporary folder, filled up to
ENOSPC, remounted read-only and back, and always unmounted. Mounting needs root (CI runs
as root); where it is not root or cannot mount, `mounted` skips the test with the reason.

Linux refuses `mount -o remount,ro` (EBUSY) while any file on the filesystem is open for
writing, as a running router's database is: `remount_ro_when_free` retries the remount
until a moment when none is (the router reopening its store's connection), the way a
filesystem the kernel turned read-only after an error meets a running process.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@contextlib.contextmanager
def mounted(where: Path, size: str) -> Iterator[Path]:
    """A fresh tmpfs of `size` (mount's syntax: `4m`) at `where`, unmounted at the end
    (remounted read-write first, lazily unmounted if still busy)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where.mkdir(parents=True, exist_ok=True)
    done = _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        _mount("-o", "remount,rw", str(where))
        if subprocess.run(["umount", str(where)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=False)


def remount(where: Path, mode: str) -> None:
    """`mount -o remount,MODE` (`ro` or `rw`); fails the test if mount refuses."""
    done = _mount("-o", f"remount,{mode}", str(where))
    assert done.returncode == 0, done.stderr


def fill(where: Path, name: str = "filler") -> Path:
    """Write zeros to `where/name` until the filesystem is full (ENOSPC); returns the file."""
    filler = where / name
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass  # ENOSPC: the disk is full
    return filler


# Retries mount(2) with MS_REMOUNT | MS_RDONLY while it fails with EBUSY; prints the number
# of tries. A subprocess, so that the busy loop does not hold the test's event loop.
_REMOUNT_RO_LOOP = r"""
import ctypes, errno, sys, time
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_REMOUNT = 1, 32
target, deadline = sys.argv[1].encode(), time.monotonic() + float(sys.argv[2])
tries = 0
while time.monotonic() < deadline:
    tries += 1
    if libc.mount(b"tmpfs", target, b"tmpfs", MS_REMOUNT | MS_RDONLY, None) == 0:
        print(tries)
        sys.exit(0)
    err = ctypes.get_errno()
    if err != errno.EBUSY:
        sys.exit(f"mount: {errno.errorcode.get(err, err)} after {tries} tries")
    time.sleep(0.00005)
sys.exit(f"still busy after {tries} tries")
"""


def remount_ro_when_free(where: Path, within: float) -> int:
    """Remount `where` read-only at the first moment no file on it is open for writing,
    trying for at most `within` seconds; returns the number of tries. Fails the test if
    no such moment came."""
    done = subprocess.run(
        [sys.executable, "-c", _REMOUNT_RO_LOOP, str(where), str(within)],
        capture_output=True, text=True, check=False, timeout=within + 30,
    )
    assert done.returncode == 0, f"could not remount {where} read-only: {done.stderr.strip()}"
    return int(done.stdout)
