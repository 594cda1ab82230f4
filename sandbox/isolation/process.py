"""The child's process state: only its channel open, its own session, no privileges to gain,
not dumpable (so not traceable, and its /proc files are root's), dead with its template.
"""

from __future__ import annotations

import os
import signal

from sandbox.isolation._libc import prctl

CHANNEL_FD = 3
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38


def keep_only_channel(channel_fd: int, devnull_fd: int) -> None:
    """/dev/null on 0-2, the channel on 3, every other descriptor closed."""
    for target in (0, 1, 2):
        os.dup2(devnull_fd, target)
    if channel_fd != CHANNEL_FD:
        os.dup2(channel_fd, CHANNEL_FD)
    os.closerange(CHANNEL_FD + 1, 1 << 20)
    os.set_inheritable(CHANNEL_FD, False)


def reset_signals() -> None:
    """Default handlers, nothing blocked: the template's own choices are not the child's."""
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)


def new_session() -> None:
    os.setsid()


def die_with_parent() -> None:
    """SIGKILL when the template dies. Cleared by a uid change, so set again after one."""
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def forbid_privileges() -> None:
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    prctl(_PR_SET_DUMPABLE, 0)
