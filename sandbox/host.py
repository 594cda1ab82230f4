"""SandboxPool: the template process, a fresh child per run, one RunEnd per run, always.

The web server never forks a script: ``start()`` launches the template (``sandbox.zygote``)
with an empty environment, and asks it for children over a control socket. Each child gets
its own socketpair, whose far end travels to the template with SCM_RIGHTS; the template
answers with a pidfd, so killing a child can never hit a recycled pid. Spare children are
kept forked and isolated, waiting for their RunStart, so a run starts in well under a
millisecond on a process no other run has used: at least ``spares``, and as many as runs
were in sandboxes at once over the last seconds, up to ``max_spares``; they are forked in
the background, when a run takes one and when a child exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import os
import resource
import signal
import socket
import time
from collections import deque
from collections.abc import AsyncGenerator

from sandbox import control
from sandbox.channel import AsyncChannel, FrameRate
from sandbox.compiled import CompiledSources
from sandbox.errors import SandboxUnavailable
from sandbox.isolation.status import (
    EXIT_ISOLATION_BASE,
    PROTECTIONS,
    SandboxStatus,
    build_status,
)
from sandbox.protocol import ChatEvent, Limits, RunEnd, RunStart, SettingsUpdated, Started
from sandbox.services import RunServices
from sandbox.supervisor import ChildExit, RunSupervisor
from sandbox.template import TemplateProcess

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 120.0  # importing the runtime on a cold, busy machine
_RESTART_DELAY_S = 1.0
_MAX_SLOTS = 4096  # each slot holds a uid of its own (isolation/ids.py has 5000)
_LimitsKey = tuple[int, int, int, int]
SPARE_WINDOW_S = 10.0  # how far back the spare goal looks for runs at once


def _key(limits: Limits) -> _LimitsKey:
    """The limits a child applies to itself before its run is known."""
    return (limits.cpu_s, limits.memory_mb, limits.max_threads, limits.disk_mb)


class _Child:
    """A child process of the template, leased to at most one run."""

    def __init__(self, run_id: int, slot: int, sock: socket.socket) -> None:
        self.run_id = run_id
        self.slot = slot
        self.sock = sock
        self.pid = 0
        self.pidfd = -1
        self._channel: AsyncChannel | None = None  # connected once the template forked it
        self.leased = False  # a run owns the channel: its supervisor closes it
        self.exited: asyncio.Future[ChildExit | None] = asyncio.get_running_loop().create_future()

    @property
    def channel(self) -> AsyncChannel:
        """The run's end of the socketpair; a child is leased only once it is connected."""
        if self._channel is None:
            raise SandboxUnavailable("the sandbox child is not connected")
        return self._channel

    def connect(self, channel: AsyncChannel) -> None:
        self._channel = channel

    def kill(self) -> None:
        if self.pidfd >= 0 and not self.exited.done():
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def release(self, info: ChildExit | None) -> None:
        if not self.exited.done():
            self.exited.set_result(info)
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        if self.leased:
            return  # what the child wrote before exiting may still be unread: its run reads it
        if self._channel is not None:
            self._channel.close()
        else:
            self.sock.close()


class SandboxPool:
    """Runs scripts, each in a fresh isolated child process (SPEC §8)."""

    def __init__(
        self,
        *,
        slots: int = 128,
        spares: int = 2,
        max_spares: int | None = None,
        frame_rate: FrameRate | None = None,
        unrestricted_for_tests: bool = False,
        warm: bool = False,
        compiled: CompiledSources | None = None,
    ) -> None:
        if unrestricted_for_tests and "PYTEST_CURRENT_TEST" not in os.environ:
            raise RuntimeError("unrestricted_for_tests is for the test suite only")
        if not 1 <= slots <= _MAX_SLOTS or spares < 0:
            raise ValueError(f"slots must be 1 to {_MAX_SLOTS} and spares >= 0")
        self._slots = slots
        self._frame_rate = frame_rate or FrameRate()
        self._spare_target = min(spares, slots)
        # Up to this many when runs come at once (``_spare_goal``); never fewer than above.
        self._max_spares = min(max(max_spares or spares, self._spare_target), slots)
        self._busy_peak, self._busy_peak_at = 0, 0.0  # most children leased at once lately
        self._unrestricted = unrestricted_for_tests
        self._warm = warm  # its template preimports the heavy packages (sandbox/pools.py)
        self.compiled = compiled or CompiledSources()
        self._template: TemplateProcess | None = None
        self._report: control.Report = {}
        self._ids = itertools.count(1)
        self._free_slots: deque[int] = deque(range(slots))
        self._slot_waiters: deque[asyncio.Future[int]] = deque()
        self._pending: dict[int, tuple[_Child, asyncio.Future[None]]] = {}
        self._children: dict[int, _Child] = {}
        self._spares: dict[_LimitsKey, deque[_Child]] = {}
        self._spare_key: _LimitsKey = _key(Limits())
        self._refilling = False
        self._closing = False
        self._restart: asyncio.Task[None] | None = None
        self._warned = False
        self.leases = 0  # runs given a child so far
        self.forks_on_path = 0  # of them, runs that found no spare and waited for a fork

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Launch the template and wait until it is warm; report missing protections once."""
        _raise_open_files_limit(4 * self._slots + 256)
        self._closing = False
        await self._launch()

    async def _launch(self) -> None:
        template = TemplateProcess.launch(
            self, slots=self._slots, unrestricted=self._unrestricted, warm=self._warm
        )
        self._template = template
        try:
            report = await asyncio.wait_for(asyncio.shield(template.ready), _START_TIMEOUT_S)
        except TimeoutError:
            template.stop()
            raise SandboxUnavailable("the sandbox template did not start in time") from None
        self._report = report
        status = self.status()
        if status.missing and not self._warned:
            self._warned = True
            logger.warning(status.warning(), extra={"missing": [p.name for p in status.missing]})
        self._refill()

    async def close(self) -> None:
        """Kill every child, stop the template and wait for it."""
        self._closing = True
        if self._restart is not None:
            self._restart.cancel()
        for child in list(self._children.values()):
            child.kill()
        template = self._template
        if template is None:
            return
        template.stop()
        try:
            await asyncio.wait_for(asyncio.shield(template.gone), 10.0)
        except TimeoutError:
            template.kill()

    def processes(self) -> tuple[int, int]:
        """Children alive now: (leased to a run or being made, spares waiting for one)."""
        spares = sum(len(queue) for queue in self._spares.values())
        return len(self._children) - spares, spares

    def template_pid(self) -> int | None:
        """The template process's pid while it runs (benchmarks read its CPU time)."""
        template = self._template
        return template.process.pid if template is not None and template.alive else None

    def status(self) -> SandboxStatus:
        warm = self._template is not None and self._template.alive and self._template.ready.done()
        if not self._report:
            return SandboxStatus(warm=False)
        report = dict(self._report)
        report.setdefault("clean_process", (True, "empty environment, only the channel open"))
        return build_status(warm, {n: report[n] for n in PROTECTIONS if n in report})

    # -- runs ---------------------------------------------------------------------------

    async def run(
        self,
        start: RunStart,
        services: RunServices,
        stop: asyncio.Future[RunEnd] | None = None,
    ) -> AsyncGenerator[Started | ChatEvent | SettingsUpdated | RunEnd, None]:
        """The run's events as they come, ending with exactly one RunEnd (SettingsUpdated
        only in settings runs); once ``stop`` resolves, its RunEnd, the child killed.

        Raises SandboxUnavailable before the first event if no child can be had. Closing the
        iterator early (a client that went away) kills the child."""
        if start.mode == "query" and start.code is None and not self._unrestricted:
            code = self.compiled.code_for(start.source)  # None the first time
            if code is not None:
                start = dataclasses.replace(start, code=code)
        child = await self._lease(start.limits)
        supervisor = RunSupervisor(child, start, services, _describe_failure, stop)
        events = supervisor.events()
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()

    async def _lease(self, limits: Limits) -> _Child:
        if self._template is None or self._closing:
            raise SandboxUnavailable("the sandbox pool is not started")
        restart = self._restart
        if not self._template.alive and restart is not None and not restart.done():
            # A new template is on its way: wait for it rather than fail this run.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(restart), _START_TIMEOUT_S)
        template = self._template
        if not template.ready.done():
            await asyncio.wait_for(asyncio.shield(template.ready), _START_TIMEOUT_S)
        key = _key(limits)
        if key != self._spare_key:  # new limits: spares of the old ones only hold slots
            self._spare_key = key
            for old in list(self._spares):
                for spare in self._spares.pop(old):
                    spare.kill()
        queue = self._spares.get(key)
        child = None
        while queue:
            candidate = queue.popleft()
            if not candidate.exited.done():
                child = candidate
                break
        if child is None:
            self.forks_on_path += 1
            child = await self._spawn(limits)  # the one fork on a run's path: none was spare
        self.leases += 1
        child.leased = True
        self._note_busy()
        if len(queue or ()) < self._spare_goal():
            self._refill()
        # else: the next spare is forked when a child exits, so that preparing it does not
        # compete with this run's start for the CPU.
        return child

    def _note_busy(self) -> None:
        now = time.monotonic()
        busy, _ = self.processes()
        if busy >= self._busy_peak or now - self._busy_peak_at > SPARE_WINDOW_S:
            self._busy_peak, self._busy_peak_at = busy, now

    def _spare_goal(self) -> int:
        """Spares to keep: as many as runs were in sandboxes at once lately (so that the
        next wave of as many finds one each), between the configured floor and ceiling."""
        recent = time.monotonic() - self._busy_peak_at <= SPARE_WINDOW_S
        peak = self._busy_peak if recent else 0
        return max(self._spare_target, min(peak, self._max_spares))

    async def _spawn(self, limits: Limits) -> _Child:
        template = self._template
        if template is None or not template.alive:
            raise SandboxUnavailable("the sandbox template is not running")
        slot = await self._take_slot()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        child = _Child(next(self._ids), slot, ours)
        spawned: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[child.run_id] = (child, spawned)
        self._children[child.run_id] = child
        template.send(control.Spawn(child.run_id, slot, limits, theirs.fileno()), theirs)
        try:
            await spawned
            child.connect(await AsyncChannel.connect(ours, self._frame_rate))
        except BaseException:
            child.kill()
            raise
        return child

    def _refill(self) -> None:
        """Fork spares, in the background, up to the goal for the current limits."""
        if self._refilling or self._closing or self._max_spares == 0:
            return
        self._refilling = True
        asyncio.get_running_loop().create_task(self._refill_spares())

    async def _refill_spares(self) -> None:
        try:
            while not self._closing and self._template is not None and self._template.alive:
                key = self._spare_key
                queue = self._spares.setdefault(key, deque())
                live = [c for c in queue if not c.exited.done()]
                if len(live) >= self._spare_goal() or not self._free_slots:
                    return
                cpu_s, memory_mb, max_threads, disk_mb = key
                limits = Limits(
                    cpu_s=cpu_s, memory_mb=memory_mb, max_threads=max_threads, disk_mb=disk_mb
                )
                child = await self._spawn(limits)
                if key == self._spare_key:
                    queue.append(child)
                else:
                    child.kill()
        except SandboxUnavailable:
            return
        except Exception:
            logger.exception("could not fork a spare sandbox child")
        finally:
            self._refilling = False

    # -- slots --------------------------------------------------------------------------

    async def _take_slot(self) -> int:
        if self._free_slots:
            return self._free_slots.popleft()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._slot_waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_slot(waiter.result())
            raise

    def _give_slot(self, slot: int) -> None:
        while self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(slot)
                return
        self._free_slots.append(slot)

    # -- the template's reports ---------------------------------------------------------

    def on_template_message(self, message: control.ChildReport) -> None:
        run_id = message.id
        if isinstance(message, control.Spawned):
            if run_id not in self._pending:
                os.close(message.pidfd)
                return
            child, spawned = self._pending.pop(run_id)
            child.pid, child.pidfd = message.pid, message.pidfd
            if not spawned.done():
                spawned.set_result(None)
            else:  # the requester went away meanwhile
                child.kill()
        elif isinstance(message, control.SpawnFailed):
            if run_id in self._pending:
                child, spawned = self._pending.pop(run_id)
                self._forget(child, None)
                if not spawned.done():
                    spawned.set_exception(SandboxUnavailable(f"no sandbox child: {message.error}"))
        elif run_id in self._children:
            info = ChildExit(
                code=message.code, signal=message.signal, cpu_s=message.cpu_s, oom=message.oom
            )
            self._forget(self._children[run_id], info)

    def _forget(self, child: _Child, info: ChildExit | None) -> None:
        self._children.pop(child.run_id, None)
        child.release(info)
        self._give_slot(child.slot)
        self._refill()

    def on_template_died(self, template: TemplateProcess) -> None:
        if template is not self._template:
            return
        for _child, spawned in self._pending.values():
            if not spawned.done():
                spawned.set_exception(SandboxUnavailable("the sandbox template died"))
        self._pending.clear()
        for child in list(self._children.values()):
            self._forget(child, None)  # the children died with it (parent-death signal)
        self._spares.clear()
        if self._closing or not template.ready.done() or template.ready.exception() is not None:
            return  # never warm: start() reports it; a restart would fail the same way
        logger.warning("sandbox template exited unexpectedly; starting a new one")
        self._restart = asyncio.get_running_loop().create_task(self._relaunch())

    async def _relaunch(self) -> None:
        await asyncio.sleep(_RESTART_DELAY_S)
        if self._closing:
            return
        try:
            await self._launch()
        except Exception:
            logger.exception("the sandbox template could not be restarted")


def _describe_failure(info: ChildExit) -> str | None:
    """Why a child died before its script could run, from its exit code; None if it did not."""
    names = list(PROTECTIONS)
    if info.code is not None and EXIT_ISOLATION_BASE <= info.code < EXIT_ISOLATION_BASE + len(
        names
    ):
        return f"protection {names[info.code - EXIT_ISOLATION_BASE]!r} failed in the child"
    return None


def _raise_open_files_limit(wanted: int) -> None:
    """Two descriptors per live child in this process (channel, pidfd): make room."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
