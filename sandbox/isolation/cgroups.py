"""A memory, a pids and a cpu cgroup per slot, under the template's own cgroup (v1 or v2).

The template (root) makes ``scriptbots_<pid>_slot<n>`` inside the cgroup it was started
in, so a service confined by its supervisor stays confined; side by side with that cgroup's
own processes, not under a directory of their own. Each
controller is taken from the hierarchy that has it: on a hybrid machine memory and pids are
v1 hierarchies, on a modern one both sit in the v2 tree. The template sets a slot's limits
before forking its child; the child joins by writing ``0`` (itself) to ``cgroup.procs``
while still root. A slot's cgroups are reused: a slot has one live child at a time.

CPU (issue 11): every slot gets the same weight, so under contention the scheduler shares
the CPU per run, not per thread: a run spinning 32 threads that release the GIL gets one
run's share, as much as a single-threaded run beside it. Flat, because a directory holding
every slot would weigh as one task against the rest of the machine: all runs together
would get what one process gets.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

_PREFIX = "scriptbots_"  # then <pid>_slot<n>
_LEGACY_PREFIX = "scriptbots-"  # then <pid>, holding slot-<n>: the layout before issue 11
CONTROLLERS = ("memory", "pids", "cpu")
CPU_WEIGHT = 100  # cgroup v2 cpu.weight (its default); v1 cpu.shares 1024 is the same share


class CgroupsUnavailable(OSError):
    pass


@dataclass(frozen=True)
class _Hierarchy:
    controller: str  # one of CONTROLLERS
    version: int  # 1 or 2
    parent: str  # <mount>/<own cgroup>: where the slots' directories go


class Cgroups:
    """The template's side: slot directories, their limits, and what their children hit."""

    def __init__(self, hierarchies: dict[str, _Hierarchy]) -> None:
        self._hierarchies = hierarchies
        self._limits: dict[tuple[str, int], tuple[int, ...]] = {}
        self._name = f"{_PREFIX}{os.getpid()}_slot"

    def _path(self, hierarchy: _Hierarchy, slot: int) -> str:
        return os.path.join(hierarchy.parent, f"{self._name}{slot}")

    @property
    def controllers(self) -> list[str]:
        return sorted(self._hierarchies)

    def describe(self, controller: str) -> str:
        return f"cgroup v{self._hierarchies[controller].version}"

    @classmethod
    def discover(cls) -> tuple[Cgroups, dict[str, str]]:
        """The cgroups this process can delegate to slots; and why any controller is missing."""
        mounts = _cgroup_mounts()
        own = _own_cgroups()
        hierarchies: dict[str, _Hierarchy] = {}
        missing: dict[str, str] = {}
        for controller in CONTROLLERS:
            try:
                hierarchies[controller] = _make_parent(controller, mounts, own)
            except OSError as exc:
                missing[controller] = str(exc)
        return cls(hierarchies), missing

    def slot_dirs(self, slot: int) -> list[str]:
        """The slot's directories (made on first use), whose cgroup.procs its child joins."""
        dirs: list[str] = []
        for hierarchy in self._hierarchies.values():
            path = self._path(hierarchy, slot)
            if path not in dirs:
                try:
                    os.mkdir(path)
                except FileExistsError:
                    pass
                else:  # new, or made again after someone removed it: no limit is set yet
                    for controller in CONTROLLERS:
                        self._limits.pop((controller, slot), None)
                dirs.append(path)
        return dirs

    def configure(self, slot: int, memory_bytes: int, tasks: int) -> None:
        """Set the slot's limits for its next child; unchanged limits are not rewritten."""
        self.slot_dirs(slot)
        memory = self._hierarchies.get("memory")
        if memory is not None and self._limits.get(("memory", slot)) != (memory_bytes,):
            path = self._path(memory, slot)
            if memory.version == 1:
                _write_v1_memory(path, memory_bytes)
            else:
                _write(path, "memory.max", str(memory_bytes))
                with contextlib.suppress(FileNotFoundError):
                    _write(path, "memory.swap.max", "0")
            self._limits[("memory", slot)] = (memory_bytes,)
        pids = self._hierarchies.get("pids")
        if pids is not None and self._limits.get(("pids", slot)) != (tasks,):
            _write(self._path(pids, slot), "pids.max", str(tasks))
            self._limits[("pids", slot)] = (tasks,)
        cpu = self._hierarchies.get("cpu")
        if cpu is not None and ("cpu", slot) not in self._limits:
            path = self._path(cpu, slot)
            if cpu.version == 1:
                _write(path, "cpu.shares", str(CPU_WEIGHT * 1024 // 100))
            else:
                _write(path, "cpu.weight", str(CPU_WEIGHT))
            self._limits[("cpu", slot)] = (CPU_WEIGHT,)

    def oom_kills(self, slot: int) -> int:
        """How many times the kernel killed a process of this slot for memory (ever)."""
        memory = self._hierarchies.get("memory")
        if memory is None:
            return 0
        path = self._path(memory, slot)
        name = "memory.oom_control" if memory.version == 1 else "memory.events"
        try:
            with open(os.path.join(path, name)) as file:
                for line in file:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except OSError:
            return 0
        return 0

    def close(self) -> None:
        """Remove our directories; empty cgroups only, so a live process is never orphaned."""
        for hierarchy in self._hierarchies.values():
            with contextlib.suppress(OSError):
                for name in os.listdir(hierarchy.parent):
                    if name.startswith(self._name):
                        _remove_tree(os.path.join(hierarchy.parent, name))


def join(dirs: list[str]) -> None:
    """Move the calling process into each directory's cgroup (the child, as root)."""
    for path in dirs:
        _write(path, "cgroup.procs", "0")


def _write(path: str, name: str, value: str) -> None:
    with open(os.path.join(path, name), "w") as file:
        file.write(value)


def _write_v1_memory(path: str, memory_bytes: int) -> None:
    # memsw (memory + swap) must stay >= the memory limit at every step.
    swap = os.path.join(path, "memory.memsw.limit_in_bytes")
    has_swap = os.path.exists(swap)
    if has_swap:
        with contextlib.suppress(OSError):
            _write(path, "memory.memsw.limit_in_bytes", str(memory_bytes))
    _write(path, "memory.limit_in_bytes", str(memory_bytes))
    if has_swap:
        _write(path, "memory.memsw.limit_in_bytes", str(memory_bytes))


def _cgroup_mounts() -> list[tuple[str, str, int, set[str]]]:
    """(mount point, root inside the hierarchy, version, controllers) of each cgroup mount."""
    mounts = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            fields, _, tail = line.partition(" - ")
            fstype, _source, options = [*tail.split(), "", ""][:3]
            parts = fields.split()
            root, point = parts[3], parts[4]
            if fstype == "cgroup":
                mounts.append((point, root, 1, set(options.split(","))))
            elif fstype == "cgroup2":
                mounts.append((point, root, 2, set()))
    return mounts


def _own_cgroups() -> dict[str, str]:
    """Controller (or "" for v2) -> path of this process's cgroup in that hierarchy."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as file:
        for line in file:
            _hid, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _under_mount(point: str, root: str, path: str) -> str:
    if root != "/" and path.startswith(root):
        path = path[len(root) :]
    return os.path.join(point, path.lstrip("/"))


def _make_parent(
    controller: str, mounts: list[tuple[str, str, int, set[str]]], own: dict[str, str]
) -> _Hierarchy:
    for point, root, version, options in mounts:
        if version == 1 and controller in options and controller in own:
            directory = _under_mount(point, root, own[controller])
            return _Hierarchy(controller, 1, _prepared(directory))
    for point, root, version, _ in mounts:
        if version == 2 and "" in own:
            directory = _under_mount(point, root, own[""])
            with open(os.path.join(directory, "cgroup.controllers")) as file:
                if controller not in file.read().split():
                    continue
            _enable_v2(directory, controller)
            return _Hierarchy(controller, 2, _prepared(directory))
    raise CgroupsUnavailable(f"no cgroup hierarchy offers the {controller} controller here")


def _enable_v2(directory: str, controller: str) -> None:
    with open(os.path.join(directory, "cgroup.subtree_control")) as file:
        if controller in file.read().split():
            return
    try:
        _write(directory, "cgroup.subtree_control", f"+{controller}")
    except OSError as exc:
        raise CgroupsUnavailable(
            f"cannot delegate {controller} below {directory} ({exc.strerror}); run the service "
            "in a cgroup of its own with delegation (e.g. systemd Delegate=yes)"
        ) from exc


def _prepared(directory: str) -> str:
    """``directory``, once the slots of template processes now dead are removed from it and
    a cgroup could be made in it."""
    for name in os.listdir(directory):
        for prefix, separator in ((_PREFIX, "_"), (_LEGACY_PREFIX, "/")):
            pid = name[len(prefix) :].split(separator, 1)[0]
            if name.startswith(prefix) and not os.path.exists(f"/proc/{pid}"):
                _remove_tree(os.path.join(directory, name))
    probe = os.path.join(directory, f"{_PREFIX}{os.getpid()}_probe")
    try:
        os.mkdir(probe)
        os.rmdir(probe)
    except FileExistsError:
        os.rmdir(probe)
    except OSError as exc:
        raise CgroupsUnavailable(f"cannot create a cgroup in {directory} ({exc.strerror})") from exc
    return directory


def _remove_tree(base: str) -> None:
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            path = os.path.join(base, name)
            if os.path.isdir(path):
                with contextlib.suppress(OSError):
                    os.rmdir(path)
        os.rmdir(base)
