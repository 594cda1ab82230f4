"""seccomp: the last layer, refusing the system calls a script could use to leave its process.

A deny list over libseccomp (pyseccomp): Python itself needs a wide, version-dependent set
of calls, while what a script must never do is short and stable. Refused calls fail with
EPERM, so an escaped script sees an ordinary ``PermissionError`` (the host is never at
stake). Threads stay possible: ``clone`` is allowed only with ``CLONE_THREAD``; ``clone3``
answers ENOSYS so that glibc falls back to ``clone``, whose flags a filter can read.
Syscalls of another ABI (i386 ``int 0x80``, x32) kill the process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
from dataclasses import dataclass

import pyseccomp as sc

from sandbox.isolation import _libc

_CLONE_THREAD = 0x00010000
_CLONE_NAMESPACES = (
    0x00000080,  # CLONE_NEWTIME
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
_PR_SET_DUMPABLE = 4
_PR_SET_MM = 35
_PR_SET_PTRACER = 0x59616D61
_AF_UNIX = 1
_TIOCSTI = 0x5412
_TIOCLINUX = 0x541C

# Each refused outright, grouped by what it would give a script.
DENIED: dict[str, tuple[str, ...]] = {
    "new programs and processes": ("execve", "execveat", "fork", "vfork"),
    "sockets beyond the channel": (  # socketpair: of AF_UNIX only, below
        "socket",
        "connect",
        "bind",
        "listen",
        "accept",
        "accept4",
    ),
    "other processes": (
        "ptrace",
        "process_vm_readv",
        "process_vm_writev",
        "process_madvise",
        "process_mrelease",
        "kcmp",
        "pidfd_open",
        "pidfd_getfd",
        "pidfd_send_signal",
        "tkill",
        "migrate_pages",
        "move_pages",
    ),
    "mounts and namespaces": (
        "mount",
        "umount2",
        "pivot_root",
        "chroot",
        "unshare",
        "setns",
        "move_mount",
        "open_tree",
        "fsopen",
        "fsconfig",
        "fsmount",
        "fspick",
        "mount_setattr",
        "name_to_handle_at",
        "open_by_handle_at",
    ),
    "identity": (
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setfsuid",
        "setfsgid",
        "setgroups",
        "capset",
    ),
    "kernel attack surface": (
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "perf_event_open",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "userfaultfd",
        "personality",
        "memfd_create",
        "memfd_secret",
        "fanotify_init",
        "mknod",
        "mknodat",
        "uselib",
        "ustat",
        "sysfs",
        "lookup_dcookie",
        "nfsservctl",
        "vhangup",
    ),
    "machine administration": (
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "reboot",
        "swapon",
        "swapoff",
        "acct",
        "quotactl",
        "quotactl_fd",
        "syslog",
        "settimeofday",
        "clock_settime",
        "clock_adjtime",
        "adjtimex",
        "sethostname",
        "setdomainname",
        "iopl",
        "ioperm",
    ),
}
# Newer than Debian 12's libseccomp knows by name: x86_64 numbers.
_DENIED_NUMBERS_X86_64 = {"open_tree_attr": 467}


@dataclass(frozen=True)
class CompiledFilter:
    """The filter for a process whose pid is ``own_pid``, as the kernel's BPF program:
    built once in the template (libseccomp takes milliseconds to build one, every run
    did; issue 15) and loaded by each child with one ``prctl``."""

    program: bytes
    own_pid: int
    unknown: tuple[str, ...]


def install(own_pid: int) -> list[str]:
    """Build and load the filter for this process (and the threads it starts). Returns the
    names libseccomp did not know and that therefore stay unfiltered (for the status)."""
    f, unknown = _build(own_pid)
    f.load()
    return unknown


def compile_filter(own_pid: int) -> CompiledFilter:
    """``install``'s filter as a BPF program, for processes whose pid will be ``own_pid``
    (1: each child is pid 1 of a namespace of its own)."""
    f, unknown = _build(own_pid)
    read_end, write_end = os.pipe()
    try:
        with os.fdopen(write_end, "wb") as pipe:
            f.export_bpf(pipe)
        with os.fdopen(read_end, "rb") as pipe:
            program = pipe.read()
    finally:
        for fd in (read_end, write_end):
            with contextlib.suppress(OSError):
                os.close(fd)
    if not program or len(program) % _BPF_INSTRUCTION_BYTES:
        raise OSError("libseccomp exported no BPF program")
    return CompiledFilter(program, own_pid, tuple(unknown))


def load_compiled(compiled: CompiledFilter) -> list[str]:
    """Load a ``compile_filter`` program in this process, as ``install`` would."""
    if os.getpid() != compiled.own_pid:
        raise OSError(f"the filter was compiled for pid {compiled.own_pid}, not {os.getpid()}")
    buffer = ctypes.create_string_buffer(compiled.program, len(compiled.program))
    program = _SockFprog(len(compiled.program) // _BPF_INSTRUCTION_BYTES, ctypes.addressof(buffer))
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)  # the kernel's condition, as libseccomp sets it
    _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(program))
    return list(compiled.unknown)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_BPF_INSTRUCTION_BYTES = 8  # struct sock_filter
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2


def _build(own_pid: int) -> tuple[sc.SyscallFilter, list[str]]:
    deny = sc.ERRNO(errno.EPERM)
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    unknown: list[str] = []

    def rule(action: int, name: str, *args: sc.Arg) -> None:
        if sc.resolve_syscall(sc.Arch.NATIVE, name) < 0:
            unknown.append(name)
            return
        f.add_rule(action, name, *args)

    for names in DENIED.values():
        for name in names:
            rule(deny, name)
    if platform.machine() == "x86_64":
        for number in _DENIED_NUMBERS_X86_64.values():
            f.add_rule(deny, number)

    # Threads only: a clone without CLONE_THREAD is a new process; none may make namespaces.
    rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    for flag in _CLONE_NAMESPACES:
        rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    rule(sc.ERRNO(errno.ENOSYS), "clone3")

    # A connected pair with itself (asyncio's wake-up pipe): AF_UNIX only; it can reach
    # nothing (connect and bind are refused above).
    rule(deny, "socketpair", sc.Arg(0, sc.NE, _AF_UNIX))

    # Signals to itself only (Python's signal.raise_signal, threads of its own group).
    rule(deny, "kill", sc.Arg(0, sc.NE, own_pid))
    rule(deny, "tgkill", sc.Arg(0, sc.NE, own_pid))
    rule(deny, "rt_sigqueueinfo", sc.Arg(0, sc.NE, own_pid))
    rule(deny, "rt_tgsigqueueinfo", sc.Arg(0, sc.NE, own_pid))

    # Not dumpable stays so; no ptracer exceptions; no rewriting its own memory map layout.
    for option in (_PR_SET_DUMPABLE, _PR_SET_MM, _PR_SET_PTRACER):
        rule(deny, "prctl", sc.Arg(0, sc.EQ, option))
    # Injecting keystrokes into a terminal (none is open, but never).
    for request in (_TIOCSTI, _TIOCLINUX):
        rule(deny, "ioctl", sc.Arg(1, sc.EQ, request))
    return f, unknown


def describe(unknown: list[str]) -> str:
    count = sum(len(names) for names in DENIED.values())
    text = f"{count} calls refused: exec, fork, sockets, other processes, mounts, kernel APIs"
    if unknown:
        text += f" (unknown to libseccomp, unfiltered: {', '.join(unknown)})"
    return text
