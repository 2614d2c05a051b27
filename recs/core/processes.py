"""Process lifetimes: who owns a piece of work (host:pid), whether that owner still lives, and a child that dies with its parent."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def owner_id() -> str:
    """This process as an owner: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_dead(owner: str) -> bool:
    """True only when *owner* (host:pid) is on this host and no such process exists.

    Another host's process cannot be checked: the caller falls back on a lease for those. A reused
    pid looks alive, which only delays the takeover to the lease's end.
    """
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    return False


def die_with_parent(parent_pid: int, *, deadline_s: float | None = None, every_s: float = 0.5) -> None:
    """Make this (child) process end as soon as *parent_pid* ends, or once *deadline_s* has passed.

    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); a daemon thread also
    checks the parent every *every_s* seconds, which covers other systems and a parent that died
    before the signal was armed, and enforces the deadline when nobody is left to enforce it.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:
        os._exit(1)
    ends = time.monotonic() + deadline_s if deadline_s is not None else None

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent_pid or (ends is not None and time.monotonic() > ends):
                os._exit(1)

    threading.Thread(target=watch, name="recs-parent-watch", daemon=True).start()
