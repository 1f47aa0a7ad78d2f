"""One trading process per account per host: an flock on <lock_dir>/<account>.lock.

The lease belongs to a host; two processes of that host (the account's
coordinator or monolith service and a `quantshift-bot --once`, or a stray second
service, e.g. the monolith's unit left beside the coordinator's) would both hold it at the
same epoch. The kernel releases the lock when the process dies, however it
dies, so there is nothing to clean up. The service (user quantshift) and an
operator's command (root) share the file: it is opened read-only when it
belongs to another user, which is enough for flock.
"""
from __future__ import annotations

import errno
import fcntl
import os

from . import naming


class HostLockHeld(Exception):
    """Another process on this host trades the account (one line, for the CLI)."""


class HostLock:
    def __init__(self, lock_dir: str, account: str):
        self.path = os.path.join(lock_dir, f"{account}.lock")
        self.account = account
        self._fd: int | None = None

    def acquire(self) -> "HostLock":
        try:
            fd = self._open()
        except OSError as e:
            raise HostLockHeld(f"cannot open the host lock {self.path}: {e.strerror} (is lock_dir right?)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise HostLockHeld(f"another trading process (coordinator or quantshift-bot) trades account "
                                   f"{self.account} on this host (lock {self.path} is held); stop it first "
                                   f"(systemctl stop {naming.target(self.account)})") from None
            raise HostLockHeld(f"cannot lock {self.path}: {e.strerror}") from None
        self._fd = fd
        return self

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            pass
        try:
            return os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:  # created by the other process just now
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
