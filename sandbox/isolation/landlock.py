"""Landlock: the child may open no file but its scratch directory's (read and write) and the
Python library's (read only), bind or connect no TCP port, and (where the ABI can say so)
signal no process and reach no abstract Unix socket outside itself.

A ruleset that handles every access right the running kernel knows, with one rule per
directory granting the rights above beneath it (never execute, devices, sockets or fifos),
then ``landlock_restrict_self``. Needs ``no_new_privs`` first. Raw syscalls
through ctypes: the numbers are the same on every architecture Linux added them for.
"""

from __future__ import annotations

import ctypes
import os

from sandbox.isolation._libc import check, libc

_SYS_CREATE_RULESET = 444
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_RULE_PATH_BENEATH = 1
_CREATE_RULESET_VERSION = 1 << 0

# Filesystem rights by the ABI that introduced them (linux/landlock.h).
_FS_ABI1 = (1 << 13) - 1  # execute, read/write files, read dirs, remove, make any node
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_MAKE_SYM = 1 << 12
_FS_READ = _FS_READ_FILE | _FS_READ_DIR
_FS_SCRATCH = (
    _FS_READ | _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE_DIR | _FS_MAKE_REG
)
_FS_SCRATCH_SYMLINKS = _FS_MAKE_SYM  # followed under Landlock's rules, as any other path
_FS_REFER = 1 << 13  # ABI 2: link or rename across directories
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP = 1 << 0  # ABI 4
_NET_CONNECT_TCP = 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
_SCOPE_SIGNAL = 1 << 1  # ABI 6


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in linux/landlock.h
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


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
    parts = ["files: the scratch directory (read, write), the Python library (read)"]
    if abi >= 4:
        parts.append("no TCP bind/connect")
    if abi >= 6:
        parts.append("signals and abstract sockets scoped")
    return f"ABI {abi}: " + ", ".join(parts)


def restrict_self(abi: int, *, readable: tuple[str, ...], writable: tuple[str, ...]) -> None:
    """Deny, for this process and every thread it starts, all that ``abi`` can deny, but
    reading beneath ``readable`` and reading and writing beneath ``writable``."""
    fs = _FS_ABI1
    scratch = _FS_SCRATCH | _FS_SCRATCH_SYMLINKS
    if abi >= 2:
        fs |= _FS_REFER
        scratch |= _FS_REFER  # rename and link within the scratch directory
    if abi >= 3:
        fs |= _FS_TRUNCATE
        scratch |= _FS_TRUNCATE
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
        for paths, access in ((readable, _FS_READ), (writable, scratch)):
            for path in paths:
                _allow_beneath(ruleset, path, access)
        check(libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0), "landlock_restrict_self")
    finally:
        os.close(ruleset)


def _allow_beneath(ruleset: int, path: str, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(access, fd)
        check(
            libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0),
            f"landlock_add_rule {path}",
        )
    finally:
        os.close(fd)
