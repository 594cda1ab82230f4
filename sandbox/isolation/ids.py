"""An unprivileged uid and gid per slot, so that no two live children share an identity.

Only root can give a child its own uid. Each template process claims a block of uids with
exclusive lock files, so that several pools on one machine (``serve --workers N``, tests)
never hand the same uid to two children at once; a slot's uid is reused only after its
previous child has been reaped.
"""

from __future__ import annotations

import fcntl
import os

UID_BASE = 60000
UID_RANGE_END = 65000  # below nobody (65534); Debian leaves 60000-64999 to local use
_LOCK_DIRS = ("/run/scriptbots", "/tmp/scriptbots-uids")
_GRANULE = 32


class UidBlock:
    """A range of uids held for the life of this process, by locks on granules of 32."""

    def __init__(self, first: int, size: int, lock_fds: list[int]) -> None:
        self.first = first
        self.size = size
        self._lock_fds = lock_fds

    @classmethod
    def claim(cls, size: int) -> UidBlock:
        directory = _lock_directory()
        needed = -(-size // _GRANULE)
        granules = (UID_RANGE_END - UID_BASE) // _GRANULE
        for start in range(granules - needed + 1):
            fds: list[int] = []
            for granule in range(start, start + needed):
                fd = os.open(
                    os.path.join(directory, f"uids-{UID_BASE + granule * _GRANULE}.lock"),
                    os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                    0o600,
                )
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    break
                fds.append(fd)
            if len(fds) == needed:
                return cls(UID_BASE + start * _GRANULE, size, fds)
            for fd in fds:  # closing releases the lock
                os.close(fd)
        raise OSError(f"no free block of {size} uids between {UID_BASE} and {UID_RANGE_END}")

    def uid(self, slot: int) -> int:
        return self.first + slot

    def close(self) -> None:
        for fd in self._lock_fds:
            os.close(fd)
        self._lock_fds = []


def _lock_directory() -> str:
    for directory in _LOCK_DIRS:
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            continue
        status = os.stat(directory)
        if status.st_uid == 0 and not status.st_mode & 0o022:
            return directory
    raise OSError("no root-owned directory for the uid lock files")


def drop_to(uid: int, gid: int) -> None:
    """Become uid/gid for good: no supplementary groups, no way back to root."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise OSError("the uid or gid did not change")
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise OSError("root could be regained")
