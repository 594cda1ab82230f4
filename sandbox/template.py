"""The host's side of the template process: launching it bare, and its control socket.

``python -I -S`` with an empty environment, ``/`` as working directory, only the control
socket passed, in a session of its own; ``sys.path`` is computed here and given in argv.
Messages are ``sandbox/control.py``'s; the template's stderr becomes WARNING log lines (it
writes there only when something is wrong).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Protocol

from sandbox import control, zygote
from sandbox.codec import ProtocolError
from sandbox.errors import SandboxUnavailable

logger = logging.getLogger(__name__)


class TemplateOwner(Protocol):
    """Who hears what the template reports (the pool)."""

    def on_template_message(self, message: control.ChildReport) -> None: ...

    def on_template_died(self, template: TemplateProcess) -> None: ...


class TemplateProcess:
    """The host's side of one template process."""

    def __init__(
        self, owner: TemplateOwner, process: subprocess.Popen[bytes], sock: socket.socket
    ) -> None:
        self._owner = owner
        self.process = process
        self.control = sock  # SOCK_SEQPACKET, non-blocking
        self.ready: asyncio.Future[control.Report] = asyncio.get_running_loop().create_future()
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.alive = True
        # Datagrams not sent yet, their descriptors, and the socket to close once sent.
        self._outbox: deque[tuple[bytes, list[int], socket.socket | None]] = deque()
        self._pidfd = os.pidfd_open(process.pid)
        loop = asyncio.get_running_loop()
        loop.add_reader(sock.fileno(), self._on_control)
        loop.add_reader(self._pidfd, self._on_exit)
        assert process.stderr is not None
        os.set_blocking(process.stderr.fileno(), False)
        loop.add_reader(process.stderr.fileno(), self._on_stderr)
        self._stderr_tail = b""

    @classmethod
    def launch(
        cls, owner: TemplateOwner, *, slots: int, unrestricted: bool, warm: bool = False
    ) -> TemplateProcess:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        options = json.dumps({"slots": slots, "unrestricted": unrestricted, "warm": warm})
        argv = [sys.executable, "-I", "-S", "-c", zygote.BOOTSTRAP, json.dumps(_import_path())]
        argv += [str(theirs.fileno()), options]
        try:
            process = subprocess.Popen(
                argv,
                env={},  # no secret, no setting: the sandbox is given Limits, never Settings
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                close_fds=True,
                start_new_session=True,  # a terminal's Ctrl-C is for the host, not the runs
            )
        finally:
            theirs.close()
        return cls(owner, process, ours)

    def send(self, message: control.HostRequest, fd_owner: socket.socket | None = None) -> None:
        """Queue ``message``; ``fd_owner``, whose descriptor it carries, is closed once sent."""
        data, fds = control.encode(message)
        self._outbox.append((data, fds, fd_owner))
        if len(self._outbox) == 1:
            self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._outbox and self.alive:
            data, fds, owner = self._outbox[0]
            try:
                if fds:
                    socket.send_fds(self.control, [data], fds)
                else:
                    self.control.send(data)
            except BlockingIOError:
                loop.add_writer(self.control.fileno(), self._on_writable)
                return
            except OSError:
                self._died()
                return
            self._outbox.popleft()
            if owner is not None:
                owner.close()

    def _on_writable(self) -> None:
        asyncio.get_running_loop().remove_writer(self.control.fileno())
        self._flush()

    def _on_control(self) -> None:
        while self.alive:
            try:
                message = control.receive_report(self.control)
            except BlockingIOError:
                return
            except ProtocolError as exc:
                logger.warning("the sandbox template broke the control protocol: %s", exc)
                message = None
            except OSError:
                message = None
            if message is None:
                self._died()
                return
            if isinstance(message, control.Ready):
                if not self.ready.done():
                    self.ready.set_result(message.report)
            else:
                self._owner.on_template_message(message)

    def _on_stderr(self) -> None:
        assert self.process.stderr is not None
        try:
            chunk = os.read(self.process.stderr.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            asyncio.get_running_loop().remove_reader(self.process.stderr.fileno())
            return
        *lines, self._stderr_tail = (self._stderr_tail + chunk).split(b"\n")
        for line in lines:
            logger.warning("sandbox template: %s", line.decode(errors="replace"))

    def _on_exit(self) -> None:
        self._died()

    def _died(self) -> None:
        if not self.alive:
            return
        self.alive = False
        loop = asyncio.get_running_loop()
        for fd in (self.control.fileno(), self._pidfd):
            loop.remove_reader(fd)
        loop.remove_writer(self.control.fileno())
        if self.process.stderr is not None:
            loop.remove_reader(self.process.stderr.fileno())
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()
        os.close(self._pidfd)
        self.control.close()
        if self.process.stderr is not None:
            self.process.stderr.close()
        for _, _, owner in self._outbox:
            if owner is not None:
                owner.close()
        self._outbox.clear()
        if not self.ready.done():
            self.ready.set_exception(
                SandboxUnavailable(f"the sandbox template exited ({self.process.returncode})")
            )
        self.gone.set_result(None)
        self._owner.on_template_died(self)

    def kill(self) -> None:
        """Stop it now (its children die with it: they have a parent-death signal)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self._died()

    def stop(self) -> None:
        """Ask for a clean exit (the template kills its children and removes its cgroups)."""
        if self.alive:
            self.send(control.Shutdown())


def _import_path() -> list[str]:
    """sys.path for the template, computed here: it gets no environment to find it in."""
    project = str(Path(__file__).resolve().parent.parent)
    path = [project]
    for entry in sys.path:
        if entry and os.path.isabs(entry) and os.path.isdir(entry) and entry not in path:
            path.append(entry)
    return path
