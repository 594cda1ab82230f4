"""Namespaces: the child sees no network, no other process, no host name and no files.

- network: the template enters one empty network namespace (only a loopback that is down)
  at start, which every child inherits: making one per run costs ~0.9 ms of CPU on this kind
  of machine plus an expensive asynchronous teardown, and children cannot open sockets
  anyway (seccomp, Landlock). Without root, each child makes its own inside its user namespace;
- pid: the template forks each child as pid 1 of a new pid namespace (``unshare`` then
  ``setns`` back, so the next fork can do it again), so no other pid can even be named;
- mount, IPC, UTS: new per child; the mount namespace gets an empty, read-only tmpfs as its
  root with only the run's scratch directory and the read-only Python library in it
  (filesystem.py), so no path names a host file, even with Landlock missing;
- user: only without root, to be allowed the others.
"""

from __future__ import annotations

import os

from sandbox.isolation import filesystem
from sandbox.isolation._libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000


def unshare(flags: int) -> None:
    check(libc.unshare(flags), "unshare")


def enter_template_network() -> None:
    """The template's (and so every child's) empty network namespace."""
    unshare(CLONE_NEWNET)


class PidNamespaceForker:
    """Forks children that are each pid 1 of their own pid namespace."""

    def __init__(self) -> None:
        self._own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:  # both steps once now, so that a machine that refuses them is known at start
            unshare(CLONE_NEWPID)
            check(libc.setns(self._own, CLONE_NEWPID), "setns")
        except OSError:
            os.close(self._own)
            raise

    def fork(self) -> int:
        unshare(CLONE_NEWPID)
        try:
            return os.fork()
        finally:
            # In the child this fails harmlessly (it may not leave its namespace); the child
            # closes the descriptor with all the others.
            libc.setns(self._own, CLONE_NEWPID)


def enter_run_namespaces(
    *, as_user: bool, disk_mb: int, uid: int, gid: int, libraries: tuple[str, ...]
) -> None:
    """New mount, IPC and UTS namespaces (and user and network ones when not root), then the
    run's own root (filesystem.py). The caller has already read what it needs from files."""
    own_uid, own_gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    if as_user:
        flags |= CLONE_NEWUSER | CLONE_NEWNET
    unshare(flags)
    if as_user:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{own_uid} {own_uid} 1")
        _write("/proc/self/gid_map", f"{own_gid} {own_gid} 1")
        uid = gid = -1  # the scratch directory is the mounter's: the service's own uid
    name = b"sandbox"
    check(libc.sethostname(name, len(name)), "sethostname")
    filesystem.build_root(disk_mb=disk_mb, uid=uid, gid=gid, libraries=libraries)


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)
