"""Landlock: the child may open no file, bind or connect no TCP port, and (where the ABI
can say so) signal no process and reach no abstract Unix socket outside itself.

A ruleset that handles every access right the running kernel knows, with no rule that
grants any, then ``landlock_restrict_self``. Needs ``no_new_privs`` first. Raw syscalls
through ctypes: the numbers are the same on every architecture Linux added them for.
"""

from __future__ import annotations

import ctypes
import os

from sandbox.isolation._libc import check, libc

_SYS_CREATE_RULESET = 444
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1 << 0

# Filesystem rights by the ABI that introduced them (linux/landlock.h).
_FS_ABI1 = (1 << 13) - 1  # execute, read/write files, read dirs, remove, make any node
_FS_REFER = 1 << 13  # ABI 2: link or rename across directories
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


def abi_version() -> int:
    """The kernel's Landlock ABI, or 0 when Landlock is missing or disabled at boot."""
    result = libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION)
    return max(int(result), 0)


def describe(abi: int) -> str:
    parts = ["no file access"]
    if abi >= 4:
        parts.append("no TCP bind/connect")
    if abi >= 6:
        parts.append("signals and abstract sockets scoped")
    return f"ABI {abi}: " + ", ".join(parts)


def restrict_self(abi: int) -> None:
    """Deny, for this process and every thread it starts, all that ``abi`` can deny."""
    fs = _FS_ABI1
    if abi >= 2:
        fs |= _FS_REFER
    if abi >= 3:
        fs |= _FS_TRUNCATE
    if abi >= 5:
        fs |= _FS_IOCTL_DEV
    net = _NET_BIND_TCP | _NET_CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    # The kernel rejects fields it does not know unless they are zero; pass only ours.
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    ruleset = check(
        libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
        "landlock_create_ruleset",
    )
    try:
        check(libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)
