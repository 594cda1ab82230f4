"""Which protections this machine gives a run, and why any is missing (/readyz, check-sandbox).

Every name below is one defence of SPEC §8's operating-system wall. The template finds out
once at start, by applying all of them in a probe child and checking their effect; children
then apply exactly those, and a child that fails one never runs its script.
"""

from __future__ import annotations

from dataclasses import dataclass

# Name -> what it stops, in the order a child applies them.
PROTECTIONS: dict[str, str] = {
    "clean_process": "empty environment, only the channel open, own session",
    "cgroup_memory": "memory of the run capped by a cgroup",
    "cgroup_pids": "tasks of the run capped by a cgroup",
    "cgroup_cpu": "an equal CPU weight per run in a cgroup: no run starves the others",
    "pid_namespace": "the child is pid 1 of its own pid namespace: no other pid exists",
    "network_namespace": "no network interface",
    "mount_namespace": "own mount namespace: a read-only root with only the Python library "
    "(read-only) and the run's fresh scratch directory",
    "ipc_uts_namespaces": "own System V IPC and host name",
    "capabilities": "no capability, none in the bounding, ambient or inheritable sets",
    "rlimits": "CPU time, address space, file size, no core dump, few descriptors",
    "unprivileged_uid": "an unprivileged uid and gid of its own, no groups",
    "no_new_privs": "no privilege gained later; not dumpable, not traceable",
    "landlock": "Landlock: files of the scratch directory and (read-only) the Python library "
    "only, no TCP, signals and abstract sockets scoped",
    "seccomp": "seccomp: no exec, fork, sockets, ptrace, mounts, namespaces or kernel APIs",
}

# How an operator gets what is missing: cgroups, the pid namespace and per-run uids need
# root; Landlock and seccomp a kernel that has them.
HOW_TO_GET = (
    "serve as root (`sudo make run`, or the container as root: each run still gets a uid "
    "of its own) on a Linux kernel with Landlock and seccomp; `scriptbots check-sandbox` "
    "lists them, and the README's sandbox section says what each one stops"
)

# A child that cannot apply protection number i exits with EXIT_ISOLATION_BASE + i.
EXIT_ISOLATION_BASE = 64


@dataclass(frozen=True)
class Protection:
    name: str
    detail: str  # how it is given here, or why it is missing


@dataclass(frozen=True)
class SandboxStatus:
    warm: bool
    active: tuple[Protection, ...] = ()
    missing: tuple[Protection, ...] = ()

    @property
    def complete(self) -> bool:
        return self.warm and not self.missing

    def warning(self) -> str | None:
        """What an operator reads at start and in /readyz while protections are missing:
        which, how many of all, and how to get them; None when none is."""
        if not self.missing:
            return None
        total = len(self.active) + len(self.missing)
        names = ", ".join(f"{p.name} ({p.detail})" for p in self.missing)
        return (
            f"runs are isolated by {len(self.active)} of {total} sandbox protections; "
            f"missing: {names}. To get them, {HOW_TO_GET}."
        )

    def table(self) -> str:
        """The report ``scriptbots check-sandbox`` prints."""
        lines = [f"sandbox template: {'warm' if self.warm else 'not running'}"]
        width = max(len(name) for name in PROTECTIONS)
        for protection in self.active:
            lines.append(f"  active   {protection.name:<{width}}  {protection.detail}")
        for protection in self.missing:
            lines.append(f"  MISSING  {protection.name:<{width}}  {protection.detail}")
        return "\n".join(lines)


def build_status(warm: bool, report: dict[str, tuple[bool, str]]) -> SandboxStatus:
    """From the template's report (name -> (active, detail)), in the canonical order."""
    active: list[Protection] = []
    missing: list[Protection] = []
    for name in PROTECTIONS:
        if name not in report:
            continue
        ok, detail = report[name]
        (active if ok else missing).append(Protection(name, detail))
    return SandboxStatus(warm, tuple(active), tuple(missing))
