"""One run at a time: an exclusive lock on a file beside the state file.

``flock`` is released by the kernel when the process dies, so a crashed run never leaves a
stale lock behind for cron to trip over.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockedError, StateError


def lock_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".lock")


@contextmanager
def run_lock(state_path: Path) -> Iterator[Path]:
    """Hold the run lock for ``state_path``; raise LockedError at once if another run has it."""
    path = lock_path(state_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(f"{path}: cannot create the lock file: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
            who = f" (pid {holder})" if holder else ""
            raise LockedError(f"another syndicator run holds {path}{who}; try again later") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:  # a full disk: the lock is held, but say why the run stops
            raise StateError(f"{path}: cannot write the lock file: {exc.strerror}") from None
        try:
            yield path
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass  # the pid left behind is only a hint; the kernel lock is what counts
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
