"""The sandbox child: isolate, wait for its run, execute it, report through the channel, exit.

Forked by the template (``sandbox.zygote``) as a spare before any run is known, so a run
starts on a process whose walls are already up. The child never logs: everything it has to
say goes through the channel, and the host logs for it.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import threading
from typing import Any, NoReturn

from sandbox.channel import ChannelClosed, SyncChannel
from sandbox.child import clients
from sandbox.child.egress import (
    SETTINGS_RUN,
    ChannelConnector,
    HttpConnector,
    RefusingConnector,
)
from sandbox.child.network import refuse_network
from sandbox.child.port import EXIT_HOST_GONE, ChannelPort
from sandbox.child.script import (
    SPARE_REHEARSAL_CODE,
    SPARE_REHEARSAL_SOURCE,
    ending,
    rehearse,
    run_script,
)
from sandbox.isolation import process
from sandbox.isolation.plan import IsolationFailed, Setup, isolate
from sandbox.isolation.status import EXIT_ISOLATION_BASE, PROTECTIONS
from sandbox.poe.errors import LimitReached
from sandbox.protocol import Limits, ProtocolError, RunStart, Started

EXIT_NOT_A_RUN = 62  # the first message was not a RunStart


def serve(setup: Setup, *, unrestricted: bool = False) -> NoReturn:
    """The whole life of a child. Never returns into the template's code."""
    code = 1
    try:
        code = _serve(setup, unrestricted)
    finally:
        os._exit(code)


def _serve(setup: Setup, unrestricted: bool) -> int:
    try:
        isolate(setup)
    except IsolationFailed as exc:
        return EXIT_ISOLATION_BASE + list(PROTECTIONS).index(exc.protection)
    sock = socket.socket(fileno=process.CHANNEL_FD)
    if not _run_waiting(sock):
        # A spare: copy the pages every run touches now, off the clock. A child forked for a
        # run already waiting goes straight to it instead.
        rehearse(SPARE_REHEARSAL_SOURCE, SPARE_REHEARSAL_CODE)
        gc.collect()
    signal.signal(signal.SIGXCPU, _cpu_limit_reached)
    _guard_threads(setup.limits)
    refuse_network()
    channel = SyncChannel(sock)
    try:
        start = channel.read()
    except (ChannelClosed, ProtocolError):
        return EXIT_HOST_GONE  # a spare the pool no longer needs
    if not isinstance(start, RunStart):
        return EXIT_NOT_A_RUN
    port = ChannelPort(channel)
    connector: HttpConnector = RefusingConnector()
    if start.mode == "settings":
        connector = RefusingConnector(SETTINGS_RUN)
    elif start.privacy_shield == "half":
        connector = ChannelConnector(port.open_http)
    clients.install(connector)
    _set_environment(start.environment)
    port.send(Started())
    try:
        end = run_script(start, port, unrestricted=unrestricted)
    except BaseException as exc:  # a signal handler's exception, say
        end = ending(exc)
    port.end(end)
    return 0


def _set_environment(environment: object) -> None:
    """The script's secrets as its ``os.environ`` (the child's environment is empty)."""
    if isinstance(environment, dict):
        for name, value in environment.items():
            if isinstance(name, str) and isinstance(value, str) and name and "=" not in name:
                os.environ[name] = value.replace("\x00", "")


def _run_waiting(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except BlockingIOError:
        return False
    except OSError:
        return True  # closed: nothing to prepare for


def _cpu_limit_reached(signum: int, frame: Any) -> None:
    # RLIMIT_CPU's soft limit; the hard limit kills one second later if this is caught.
    raise LimitReached("cpu", "The run reached its CPU time limit.")


def _guard_threads(limits: Limits) -> None:
    """A clean "threads" error before the kernel's task limit refuses the thread."""
    start = threading.Thread.start
    allowed = limits.max_threads + 2  # the script's, the main thread and the channel reader

    def guarded_start(self: threading.Thread) -> None:
        if threading.active_count() >= allowed:
            raise LimitReached("threads", f"The run may use at most {limits.max_threads} threads.")
        start(self)

    threading.Thread.start = guarded_start  # type: ignore[method-assign]  # on purpose


__all__ = ["serve"]
