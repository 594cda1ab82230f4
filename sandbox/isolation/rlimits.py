"""Resource limits of one child: CPU seconds, address space, file size, no core, few fds.

Soft and hard limits are equal (an unprivileged process can only lower them), except CPU:
the soft limit sends SIGXCPU, which the child turns into a clean "cpu" error, and one
second later the hard limit kills it whatever the script does. ``RLIMIT_NPROC`` counts the
tasks of a *real uid*, so it is set only after the child has its own per-slot uid.
"""

from __future__ import annotations

import resource

from sandbox.protocol import Limits

MIB = 1024 * 1024
THREAD_STACK_BYTES = 4 * MIB  # threading.stack_size in the template: a bounded cost per thread
_ADDRESS_SLACK_BYTES = 96 * MIB  # the malloc arena and the odd mmap of a healthy run
OPEN_FILES = 64  # the channel and 0-2, scratch files (sqlite3 keeps a database and a journal)


def address_space_bytes(limits: Limits, footprint_bytes: int) -> int:
    """What the script may allocate on top of the template it was forked from."""
    stacks = (limits.max_threads + 2) * THREAD_STACK_BYTES
    return footprint_bytes + limits.memory_mb * MIB + stacks + _ADDRESS_SLACK_BYTES


def apply(limits: Limits, footprint_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    size = address_space_bytes(limits, footprint_bytes)
    resource.setrlimit(resource.RLIMIT_AS, (size, size))
    disk = limits.disk_mb * MIB  # one file no larger than the scratch directory
    resource.setrlimit(resource.RLIMIT_FSIZE, (disk, disk))
    for name in (
        "RLIMIT_CORE",
        "RLIMIT_MEMLOCK",
        "RLIMIT_MSGQUEUE",
    ):
        resource.setrlimit(getattr(resource, name), (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))


def apply_tasks(limits: Limits) -> None:
    """Threads of the script, the main thread and the channel's reader thread."""
    tasks = limits.max_threads + 2
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def describe(limits: Limits, *, tasks: bool) -> str:
    text = (
        f"cpu {limits.cpu_s} s, address space template + {limits.memory_mb} MB, "
        f"file size {limits.disk_mb} MB, core 0, {OPEN_FILES} fds"
    )
    return text + (f", {limits.max_threads + 2} tasks" if tasks else " (tasks: not without root)")
