"""Kernel interfaces, with the restricted layer off: no mounts, no namespaces, no kernel
attack surface. Stopped by: seccomp (EPERM), with no_new_privs and the dropped uid behind it."""

from __future__ import annotations

import platform

import pytest

from sandbox import SandboxPool
from tests.escapes_os.harness import attempt

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 syscall numbers"),
]

_SYSCALL = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "if libc.syscall({args}) < 0:\n    raise OSError(ctypes.get_errno(), 'syscall')"
)
ATTACKS = {
    "mount-proc": "165, b'proc', b'/proc', b'proc', 0, 0",
    "umount": "166, b'/', 2",
    "chroot-escape": "161, b'..'",
    "unshare-user": "272, 0x10000000",
    "unshare-mount": "272, 0x00020000",
    "setns": "308, 0, 0",
    "clone-new-process": "56, 17, 0, 0, 0, 0",
    "clone-new-namespace-thread": "56, 0x10000 | 0x100 | 0x800 | 0x20000000, 0, 0, 0, 0",
    "bpf": "321, 0, 0, 0",
    "perf-event-open": "298, 0, 0, -1, -1, 0",
    "io-uring-setup": "425, 1, 0",
    "userfaultfd": "323, 0",
    "keyctl": "250, 0, 0, 0, 0",
    "add-key": "248, b'user', b'k', b'v', 1, -3",
    "init-module": "175, 0, 0, b''",
    "kexec-load": "246, 0, 0, 0, 0",
    "personality": "135, 0x0040000",
    "memfd-create": "319, b'x', 0",
    "open-by-handle-at": "304, 0, 0, 0",
    "set-dumpable": "157, 4, 1, 0, 0, 0",
}


@pytest.mark.parametrize("args", list(ATTACKS.values()), ids=list(ATTACKS))
async def test_refused__seccomp(open_pool: SandboxPool, args: str) -> None:
    assert await attempt(open_pool, _SYSCALL.format(args=args)) == (
        "BLOCKED",
        "PermissionError",
        "EPERM",
    )


async def test_clone3_is_not_available__seccomp(open_pool: SandboxPool) -> None:
    # ENOSYS, so that glibc falls back to clone, whose flags the filter can see.
    assert await attempt(open_pool, _SYSCALL.format(args="435, 0, 0")) == (
        "BLOCKED",
        "OSError",
        "ENOSYS",
    )
