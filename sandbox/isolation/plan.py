"""The order in which a freshly forked child puts its walls up, each layer from its module.

Order matters: cgroups are joined and the file system read (template footprint) while the
child is still root and still sees files; namespaces next (they need privileges); then
rlimits; then the uid drop (after which ``RLIMIT_NPROC`` means something and the parent-death
signal must be set again); then ``no_new_privs``, Landlock, and seccomp last, because it
forbids the calls the layers before it make.

A real child applies exactly the protections the template's probe found to work and fails
closed on any error; the probe applies all of them and records what happened.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from sandbox.isolation import (
    capabilities,
    cgroups,
    filesystem,
    ids,
    landlock,
    namespaces,
    process,
    rlimits,
    seccomp,
)
from sandbox.protocol import Limits


class IsolationFailed(Exception):
    """A protection that the probe found working failed in this child."""

    def __init__(self, protection: str, cause: BaseException) -> None:
        super().__init__(f"{protection}: {cause}")
        self.protection = protection


@dataclass(frozen=True)
class Setup:
    """Everything the child needs to isolate itself, decided by the template before forking."""

    channel_fd: int
    devnull_fd: int
    limits: Limits
    enabled: frozenset[str]  # protection names (status.PROTECTIONS) to apply
    uid: int = -1
    gid: int = -1
    cgroup_dirs: tuple[str, ...] = ()
    as_user: bool = False  # not root: make a user namespace to be allowed the others
    landlock_abi: int = 0
    libraries: tuple[str, ...] = ()  # read-only in the child (filesystem.library_dirs)
    # Built once by the template for children that are pid 1 (seccomp.compile_filter).
    seccomp_filter: seccomp.CompiledFilter | None = None


def isolate(setup: Setup, report: dict[str, tuple[bool, str]] | None = None) -> None:
    """Apply the enabled protections in order. With ``report`` (the probe): try every one,
    record (active, detail) per protection and go on; without: raise IsolationFailed."""
    state = {"footprint": 0, "own_root": False}

    def step(name: str | tuple[str, ...], action: Callable[[], str | dict[str, str]]) -> None:
        names = (name,) if isinstance(name, str) else name
        if report is None and not any(n in setup.enabled for n in names):
            return
        try:
            detail = action()
        except Exception as exc:
            if report is None:
                raise IsolationFailed(names[0], exc) from exc
            for n in names:
                report[n] = (False, _reason(exc))
            return
        if report is not None:
            for n in names:
                report[n] = (True, detail if isinstance(detail, str) else detail[n])

    def clean() -> str:
        process.keep_only_channel(setup.channel_fd, setup.devnull_fd)
        process.reset_signals()
        process.new_session()
        process.die_with_parent()
        with open("/proc/self/statm") as file:
            state["footprint"] = int(file.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return "empty environment, fds 0-2 on /dev/null, channel on fd 3, own session"

    # Cleaning the process is not optional: a failure here ends the child in both modes.
    if report is None:
        try:
            clean()
        except Exception as exc:
            raise IsolationFailed("clean_process", exc) from exc
    else:
        report["clean_process"] = (True, clean())

    def join_cgroups() -> dict[str, str]:
        if not setup.cgroup_dirs:
            raise OSError("no cgroup was prepared for this slot")
        cgroups.join(list(setup.cgroup_dirs))
        return {
            "cgroup_memory": f"{setup.limits.memory_mb} MB (+ copy-on-write headroom) per run",
            "cgroup_pids": f"{setup.limits.max_threads + 2} tasks per run",
            "cgroup_cpu": f"weight {cgroups.CPU_WEIGHT} per run: runs share the CPU equally, "
            "however many threads each spins",
        }

    step(("cgroup_memory", "cgroup_pids", "cgroup_cpu"), join_cgroups)

    def enter_namespaces() -> dict[str, str]:
        namespaces.enter_run_namespaces(
            as_user=setup.as_user,
            disk_mb=setup.limits.disk_mb,
            uid=setup.uid,
            gid=setup.gid,
            libraries=setup.libraries,
        )
        state["own_root"] = True
        inside = ""
        details = {}
        if setup.as_user:
            # The new user namespace gave every capability: none survives this step.
            details["capabilities"] = capabilities.clear(keep_effective=False)
            inside = ", inside a user namespace (not root)"
        return details | {
            "mount_namespace": f"per run: a read-only root holding only the Python library "
            f"(read-only) and a fresh {setup.limits.disk_mb} MB scratch directory" + inside,
            "ipc_uts_namespaces": "per run" + inside,
            "network_namespace": "per run, no interface up" + inside,
        }

    names = ("mount_namespace", "ipc_uts_namespaces")
    as_user = ("network_namespace", "capabilities")
    step((*names, *as_user) if setup.as_user else names, enter_namespaces)

    if not setup.as_user:
        # Root: CAP_SETPCAP now, to empty the bounding set; the uid drop takes the rest.
        step("capabilities", lambda: capabilities.clear(keep_effective=True))

    def limit_resources() -> str:
        rlimits.apply(setup.limits, state["footprint"])
        return rlimits.describe(setup.limits, tasks=setup.uid >= 0)

    step("rlimits", limit_resources)

    def drop_uid() -> str:
        if setup.uid < 0:
            raise OSError("not root: runs keep the service's uid (per-slot uids need root)")
        ids.drop_to(setup.uid, setup.gid)
        if "rlimits" in setup.enabled or report is not None:
            rlimits.apply_tasks(setup.limits)
        return f"uid/gid {setup.uid}/{setup.gid}"

    step("unprivileged_uid", drop_uid)
    process.die_with_parent()  # the uid change cleared it

    def no_new_privs() -> str:
        process.forbid_privileges()
        return "no_new_privs, not dumpable"

    step("no_new_privs", no_new_privs)

    def restrict_landlock() -> str:
        if setup.landlock_abi < 1:
            raise OSError("the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK, lsm=)")
        # The scratch directory exists only in the run's own root: never grant the host's.
        writable = (filesystem.SCRATCH,) if state["own_root"] else ()
        landlock.restrict_self(setup.landlock_abi, readable=setup.libraries, writable=writable)
        return landlock.describe(setup.landlock_abi)

    step("landlock", restrict_landlock)

    def filter_syscalls() -> str:
        compiled = setup.seccomp_filter
        if compiled is not None and compiled.own_pid == os.getpid():
            return seccomp.describe(seccomp.load_compiled(compiled))
        return seccomp.describe(seccomp.install(os.getpid()))

    step("seccomp", filter_syscalls)


def verify(report: dict[str, tuple[bool, str]], uid: int) -> None:
    """In the probe child, after isolate(): check that each active layer has its effect."""

    def expect(name: str, holds: bool, failure: str) -> None:
        if report.get(name, (False, ""))[0] and not holds:
            report[name] = (False, failure)

    expect("pid_namespace", os.getpid() == 1, "the child is not pid 1 of its namespace")
    expect("unprivileged_uid", os.getuid() == uid, "the uid did not change")
    expect("mount_namespace", not os.path.exists("/etc"), "the host's files are visible")
    expect("ipc_uts_namespaces", socket.gethostname() == "sandbox", "the host name is the host's")
    expect("landlock", _denied(lambda: os.listdir("/")), "a directory could be read")
    expect(
        "mount_namespace", _writable(filesystem.SCRATCH), "the scratch directory is not writable"
    )
    expect("seccomp", _denied(socket.socket), "a socket could be created")
    expect(
        "capabilities",
        not capabilities.bounding_set() and capabilities.held() == (0, 0, 0),
        "a capability is still held or in the bounding set",
    )


def _denied(action: Callable[[], object]) -> bool:
    try:
        action()
    except PermissionError:
        return True
    except OSError as exc:
        return exc.errno in (errno.EPERM, errno.EACCES)
    return False


def _writable(directory: str) -> bool:
    path = os.path.join(directory, ".probe")
    try:
        with open(path, "w") as file:
            file.write("x")
        os.unlink(path)
    except OSError:
        return False
    return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if not exc.filename else f"{exc.strerror}: {exc.filename}"
    return str(exc) or type(exc).__name__
