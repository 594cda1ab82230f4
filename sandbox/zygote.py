"""The template process: imports the runtime once, holds no secret, forks one child per run.

Started by ``SandboxPool`` with an empty environment and only its control socket, as
``python -I -S -c BOOTSTRAP <sys.path> <fd> <options>``. It never sees a run: a RunStart
goes from the host straight to a child over that child's own channel, so nothing of any run
or creator is ever in this process's memory (which every child inherits).

Its control messages are ``sandbox/control.py``'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib
import json
import os
import pkgutil
import selectors
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING, Any

from sandbox import control
from sandbox.codec import ProtocolError
from sandbox.protocol import Limits

if TYPE_CHECKING:
    from sandbox.isolation.plan import Setup

CONTROL_FD = 3
_M_ARENA_MAX = -8
# The package without its __init__, which is the host's side (asyncio, the pools, the
# services): the template and its children need none of it (issue 15, protocol_types.py).
BOOTSTRAP = (
    "import sys,json,importlib.util as u;sys.path[:0]=json.loads(sys.argv[1]);"
    "sys.modules['sandbox']=u.module_from_spec(u.find_spec('sandbox'));"
    "import sandbox.zygote as z;z.main(sys.argv[2:])"
)


def main(argv: list[str]) -> None:
    """Entry point of the template process (see BOOTSTRAP)."""
    # Started with an empty environment; Python's own locale coercion (PEP 538) adds
    # LC_CTYPE, which children would inherit: none of it is theirs.
    os.environ.clear()
    control_fd, options = int(argv[0]), json.loads(argv[1])
    control = socket.socket(fileno=control_fd)
    control.setblocking(True)
    template = Template(
        control,
        slots=options["slots"],
        unrestricted=options["unrestricted"],
        warm=bool(options.get("warm")),
    )
    template.serve()


class Template:
    """The template's state: its control socket, its children by pidfd, what it can give."""

    def __init__(
        self, control: socket.socket, *, slots: int, unrestricted: bool, warm: bool = False
    ) -> None:
        self.control = control
        self.slots = slots
        self.unrestricted = unrestricted
        self.warm = warm  # the heavy packages preimported too (policy.modules.WARM_MODULES)
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.children: dict[int, _Child] = {}  # by pidfd
        self.busy: set[int] = set()
        self.selector = selectors.DefaultSelector()
        self.report: dict[str, tuple[bool, str]] = {}
        self._prepare_interpreter()
        self._prepare_isolation()

    # -- start-up -----------------------------------------------------------------------

    def _prepare_interpreter(self) -> None:
        from sandbox.isolation import _libc, rlimits

        # One malloc arena: threads would each reserve 64 MB of address space otherwise,
        # which RLIMIT_AS would count. Bounded thread stacks, for the same reason.
        _libc.libc.mallopt(_M_ARENA_MAX, 1)
        threading.stack_size(rlimits.THREAD_STACK_BYTES)
        _preimport()
        if self.warm:
            from sandbox.policy.modules import warm_up_packages

            warm_up_packages()
        _warm_up()
        gc.collect()
        gc.freeze()  # children do not touch (copy) the template's objects when they collect

    def _prepare_isolation(self) -> None:
        from sandbox.isolation import cgroups, filesystem, ids, landlock, namespaces

        self.root = os.geteuid() == 0
        report = self.report
        self.forker: namespaces.PidNamespaceForker | None = None
        self.cgroups: cgroups.Cgroups | None = None
        self.uids: ids.UidBlock | None = None
        self.seccomp_filter: Any = None  # the probe builds its own
        if self.root:
            try:
                namespaces.enter_template_network()
                names = [name for _, name in socket.if_nameindex()]
                report["network_namespace"] = (True, f"empty, shared by runs (interfaces: {names})")
            except OSError as exc:
                report["network_namespace"] = (False, _reason(exc))
            try:
                self.forker = namespaces.PidNamespaceForker()
                report["pid_namespace"] = (True, "pid 1 of a namespace of its own")
            except OSError as exc:
                report["pid_namespace"] = (False, _reason(exc))
            self.cgroups, missing = cgroups.Cgroups.discover()
            for controller in self.cgroups.controllers:
                report[f"cgroup_{controller}"] = (True, self.cgroups.describe(controller))
            for controller, reason in missing.items():
                report[f"cgroup_{controller}"] = (False, reason)
            # Fail closed: as root, a child without a uid of its own would run as root.
            self.uids = ids.UidBlock.claim(self.slots + 1)  # the last one is the probe's
        else:
            report["pid_namespace"] = (False, "needs root (the template cannot make one)")
            reason = "needs root to create and delegate cgroups"
            for controller in cgroups.CONTROLLERS:
                report[f"cgroup_{controller}"] = (False, reason)
        self.landlock_abi = landlock.abi_version()
        project = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.libraries = filesystem.library_dirs(sys.path, project)
        self._probe()
        if self.uids is not None and report.get("unprivileged_uid", (False, ""))[0]:
            last = self.uids.uid(self.slots - 1)
            detail = f"a uid/gid of its own per slot ({self.uids.first}-{last}), no groups"
            report["unprivileged_uid"] = (True, detail)
        self.enabled = frozenset(name for name, (ok, _) in report.items() if ok)
        self.seccomp_filter = self._compiled_seccomp()

    def _compiled_seccomp(self) -> Any:
        """The children's seccomp filter, built once here: each child is pid 1 of its own
        namespace, so one program fits them all (without the namespace, each builds its
        own). None when it cannot be had: the children build it then."""
        from sandbox.isolation import seccomp

        if not {"seccomp", "pid_namespace"} <= self.enabled:
            return None
        try:
            return seccomp.compile_filter(1)
        except OSError as exc:
            print(f"sandbox template: seccomp filter not precompiled: {exc}", file=sys.stderr)
            return None

    def _setup(self, channel_fd: int, slot: int, limits: Limits, enabled: frozenset[str]) -> Setup:
        from sandbox.isolation.plan import Setup

        uid = self.uids.uid(slot) if self.uids is not None else -1
        dirs: tuple[str, ...] = ()
        if self.cgroups is not None and self.cgroups.controllers:
            dirs = tuple(self.cgroups.slot_dirs(slot))
        return Setup(
            channel_fd=channel_fd,
            devnull_fd=self.devnull,
            limits=limits,
            enabled=enabled,
            uid=uid,
            gid=uid,
            cgroup_dirs=dirs,
            as_user=not self.root,
            landlock_abi=self.landlock_abi,
            libraries=self.libraries,
            seccomp_filter=self.seccomp_filter,
        )

    def _probe(self) -> None:
        """Apply every protection in a throw-away child and keep what it reports working."""
        from sandbox.isolation import plan

        limits = Limits()
        ours, theirs = socket.socketpair()
        slot = self.slots
        if self.cgroups is not None:
            self.cgroups.configure(slot, _cgroup_memory_bytes(limits), limits.max_threads + 2)
        setup = self._setup(theirs.fileno(), slot, limits, frozenset())
        pid = self._fork()
        if pid == 0:
            code = 1
            try:
                report: dict[str, tuple[bool, str]] = {}
                plan.isolate(setup, report)
                report.update({k: v for k, v in self.report.items() if k not in report})
                plan.verify(report, setup.uid)
                channel = socket.socket(fileno=3)
                channel.sendall(json.dumps(report).encode())
                code = 0
            finally:
                os._exit(code)
        theirs.close()
        with ours:
            chunks = []
            while chunk := ours.recv(65536):
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        if not chunks:
            raise RuntimeError(f"the probe child failed (wait status {status})")
        for name, (ok, detail) in json.loads(b"".join(chunks)).items():
            if name not in self.report or self.report[name][0]:
                self.report[name] = (bool(ok), str(detail))

    def _fork(self) -> int:
        return self.forker.fork() if self.forker is not None else os.fork()

    # -- serving ------------------------------------------------------------------------

    def serve(self) -> None:
        control.send(self.control, control.Ready(self.report))
        self.selector.register(self.control, selectors.EVENT_READ)
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.fileobj is self.control:
                        try:
                            request = control.receive_request(self.control)
                        except ProtocolError as exc:
                            # The host's bug, not a child's: exit, and the host restarts us
                            # (its spawns fail at once rather than wait for an answer).
                            print(f"sandbox template: refused a request: {exc}", file=sys.stderr)
                            return
                        if request is None or isinstance(request, control.Shutdown):
                            return
                        self._handle(request)
                    else:
                        self._reap(key.fd)
        finally:
            self._shutdown()

    def _handle(self, request: control.Spawn) -> None:
        try:
            pidfd, pid = self._spawn(request)
        except Exception as exc:  # a slot not free or a cgroup write: the host learns why
            control.send(self.control, control.SpawnFailed(request.id, str(exc)))
            return
        finally:
            os.close(request.channel_fd)
        try:
            control.send(self.control, control.Spawned(request.id, pid, pidfd))
        except OSError:
            return

    def _spawn(self, request: control.Spawn) -> tuple[int, int]:
        from sandbox import child

        slot, limits = request.slot, request.limits
        if not 0 <= slot < self.slots or slot in self.busy:
            raise ValueError(f"slot {slot!r} is not free")
        oom_before = 0
        if self.cgroups is not None and self.cgroups.controllers:
            self.cgroups.configure(slot, _cgroup_memory_bytes(limits), limits.max_threads + 2)
            oom_before = self.cgroups.oom_kills(slot)
        setup = self._setup(request.channel_fd, slot, limits, self.enabled)
        pid = self._fork()
        if pid == 0:
            child.serve(setup, unrestricted=self.unrestricted)
        pidfd = os.pidfd_open(pid)
        self.busy.add(slot)
        self.children[pidfd] = _Child(request.id, pid, slot, oom_before)
        self.selector.register(pidfd, selectors.EVENT_READ)
        return pidfd, pid

    def _reap(self, pidfd: int) -> None:
        entry = self.children.pop(pidfd)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status, usage = os.wait4(entry.pid, 0)
        self.busy.discard(entry.slot)
        oom = False
        if self.cgroups is not None and self.cgroups.controllers:
            oom = self.cgroups.oom_kills(entry.slot) > entry.oom_before
        control.send(
            self.control,
            control.Exited(
                id=entry.run_id,
                code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                cpu_s=usage.ru_utime + usage.ru_stime,
                oom=oom,
            ),
        )

    def _shutdown(self) -> None:
        for pidfd, entry in list(self.children.items()):
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(entry.pid, 0)
        if self.cgroups is not None:
            self.cgroups.close()
        if self.uids is not None:
            self.uids.close()


@dataclasses.dataclass
class _Child:
    run_id: int
    pid: int
    slot: int
    oom_before: int


def _cgroup_memory_bytes(limits: Limits) -> int:
    # The run's memory, its scratch directory (tmpfs pages are charged to their writer) and
    # the template pages its child copies when it writes to them.
    return (limits.memory_mb + limits.disk_mb + _COPY_ON_WRITE_MB) * 1024 * 1024


_COPY_ON_WRITE_MB = 32


def _preimport() -> None:
    """Everything a child may import lazily, imported here while files can still be read."""
    from sandbox import protocol_types

    protocol_types.install()  # fastapi_poe's types, not its server and client
    import RestrictedPython  # noqa: F401

    import sandbox.child  # noqa: F401  (the runtime, the policy, the isolation layers)
    from sandbox import policy

    policy.warm_up()  # PREIMPORT and the allowed modules' proxies
    from sandbox.policy.modules import preload_native

    preload_native()  # for what runs import later from the read-only library
    import encodings

    for module in pkgutil.iter_modules(encodings.__path__):
        with contextlib.suppress(ImportError, LookupError):
            importlib.import_module(f"encodings.{module.name}")


def _warm_up() -> None:
    """Run one constant script end to end, so that lazy imports and caches (pydantic
    validators, glibc's time zone, hashlib's providers) are loaded before any fork."""
    import hashlib
    import time

    from sandbox.child.script import rehearse
    from sandbox.protocol import (
        HEADER,
        AttachmentInfo,
        BotCallEnd,
        BotCallPart,
        FetchChunk,
        FetchResult,
        RunStart,
        UploadResult,
        decode,
        encode,
    )

    time.localtime()
    for name in hashlib.algorithms_guaranteed:
        with contextlib.suppress(ValueError):
            hashlib.new(name, b"")
    end = rehearse()
    if end.status != "ok":
        print(f"sandbox template: the rehearsal run failed: {end.error}", file=sys.stderr)
    # Decoding builds each message class's decoders once (codec.py): here, not per run.
    attachment = AttachmentInfo(url="u", content_type="text/plain", name="n")
    for message in (
        RunStart(source="", bot_name="b"),
        BotCallPart(1, {"text": ""}),
        BotCallEnd(1),
        FetchChunk(1, b""),
        FetchResult(1),
        UploadResult(1, attachment=attachment),
    ):
        decode(encode(message)[HEADER.size :])


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
