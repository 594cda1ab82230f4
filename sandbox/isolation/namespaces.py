"""Namespaces: the child sees no network, no other process, no host name and no files.

- network: the template enters one empty network namespace (only a loopback that is down)
  at start, which every child inherits: making one per run costs ~0.9 ms of CPU on this kind
  of machine plus an expensive asynchronous teardown, and children cannot open sockets
  anyway (seccomp, Landlock). Without root, each child makes its own inside its user namespace;
- pid: the template forks each child as pid 1 of a new pid namespace (``unshare`` then
  ``setns`` back, so the next fork can do it again), so no other pid can even be named;
- mount, IPC, UTS: new per child; the mount namespace gets an empty, read-only tmpfs as its
  root, so a path names nothing at all, even with Landlock missing;
- user: only without root, to be allowed the others.
"""

from __future__ import annotations

import ctypes
import os

from sandbox.isolation._libc import check, libc

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_NOEXEC = 8
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_ROOT_CANDIDATES = ("/tmp", "/mnt", "/proc")  # any existing directory will do: it is covered


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


def enter_run_namespaces(*, as_user: bool) -> None:
    """New mount, IPC and UTS namespaces (and user and network ones when not root), then an
    empty read-only root. The caller has already read what it needs from the file system."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    if as_user:
        flags |= CLONE_NEWUSER | CLONE_NEWNET
    unshare(flags)
    if as_user:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    name = b"sandbox"
    check(libc.sethostname(name, len(name)), "sethostname")
    check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "mount private")
    target = next(path for path in _ROOT_CANDIDATES if os.path.isdir(path))
    flags_ro = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    check(
        libc.mount(
            b"sandbox", target.encode(), b"tmpfs", flags_ro, b"size=4k,nr_inodes=2,mode=555"
        ),
        "mount empty root",
    )
    os.chroot(target)
    os.chdir("/")


def drop_capabilities() -> None:
    """Clear every capability (those a new user namespace hands its creator)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [
            ("effective", ctypes.c_uint32),
            ("permitted", ctypes.c_uint32),
            ("inheritable", ctypes.c_uint32),
        ]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    check(libc.capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def _write(path: str, text: str) -> None:
    with open(path, "w") as file:
        file.write(text)
