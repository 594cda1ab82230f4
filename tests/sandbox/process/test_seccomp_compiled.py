"""The seccomp filter built once and loaded by each child (sandbox/isolation/seccomp.py,
issue 15): the loaded program refuses what ``install`` refuses, and only in a process with
the pid it was built for."""

from __future__ import annotations

import os
import socket

from sandbox.isolation import seccomp


def _in_child(action: object) -> int:
    """Fork; the child runs ``action`` and exits with what it returns."""
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            code = action()  # type: ignore[operator]
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_compiled_filter_refuses_sockets_and_forks() -> None:
    def child() -> int:
        seccomp.load_compiled(seccomp.compile_filter(os.getpid()))
        try:
            socket.socket()
        except PermissionError:
            pass
        else:
            return 1
        try:
            os.fork()
        except PermissionError:
            return 0
        return 2

    assert _in_child(child) == 0


def test_a_filter_built_for_another_pid_is_not_loaded() -> None:
    compiled = seccomp.compile_filter(os.getpid() + 1)

    def child() -> int:
        try:
            seccomp.load_compiled(compiled)
        except OSError:
            socket.socket().close()  # nothing was loaded
            return 0
        return 1

    assert _in_child(child) == 0
