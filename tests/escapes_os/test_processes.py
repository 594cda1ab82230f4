"""Processes and signals, with the restricted layer off: no new process, no program, no signal
or trace reaching anything but itself.

Stopped by: seccomp (fork/vfork/clone without CLONE_THREAD, execve, kill/tgkill of another
pid, ptrace, process_vm_*, pidfd_*: EPERM) and the pid namespace (the child is pid 1 of its
own namespace: the host's pids do not exist there; a signal from inside to its own init is
ignored by the kernel)."""

from __future__ import annotations

import os

import pytest

from sandbox import SandboxPool
from tests.escapes_os.conftest import Planted
from tests.escapes_os.harness import attempt, outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

FORK = "import os\n_result = os.fork()\nif _result == 0:\n    os._exit(0)"
SUBPROCESS = (
    "import subprocess\n_result = subprocess.run(['/bin/sh', '-c', 'id'], capture_output=True)"
)
EXECVE = "import os\nos.execv('/bin/sh', ['sh', '-c', 'id'])"
POSIX_SPAWN = "import os\n_result = os.posix_spawn('/bin/true', ['true'], {{}})"
KILL_HOST = "import os, signal\nos.kill({host_pid}, signal.SIGKILL)"
KILL_ALL = "import os, signal\nos.kill(-1, signal.SIGKILL)"
KILL_GROUP = "import os, signal\nos.killpg({host_pid}, signal.SIGTERM)"
PTRACE = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.ptrace(16, {host_pid}, 0, 0) != 0:\n    raise OSError(ctypes.get_errno(), 'ptrace')"
)
PIDFD = "import os\n_result = os.pidfd_open({host_pid})"
VM_READ = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "if libc.process_vm_readv({host_pid}, 0, 0, 0, 0, 0) < 0:\n"
    "    raise OSError(ctypes.get_errno(), 'process_vm_readv')"
)
SETUID_ROOT = "import os\nos.setuid(0)"


@pytest.mark.parametrize(
    "attack",
    [
        FORK,
        SUBPROCESS,
        EXECVE,
        POSIX_SPAWN,
        KILL_HOST,
        KILL_ALL,
        KILL_GROUP,
        PTRACE,
        PIDFD,
        VM_READ,
        SETUID_ROOT,
    ],
    ids=[
        "fork",
        "subprocess",
        "execve",
        "posix-spawn",
        "kill-host",
        "kill-all",
        "killpg-host",
        "ptrace-host",
        "pidfd-host",
        "process-vm-readv",
        "setuid-root",
    ],
)
async def test_refused__seccomp(open_pool: SandboxPool, planted: Planted, attack: str) -> None:
    body = attack.format(host_pid=planted.host_pid)
    assert await attempt(open_pool, body) == ("BLOCKED", "PermissionError", "EPERM")
    assert os.path.exists(f"/proc/{planted.host_pid}")


async def test_pid_1_is_the_child_itself__pid_namespace(open_pool: SandboxPool) -> None:
    source = """
    import os, signal
    me = os.getpid()
    os.kill(1, signal.SIGKILL)  # its own init: the kernel ignores this from inside
    print('alive', me)
    """
    outcome = await outcome_of(open_pool, source)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert outcome.text.strip() == "alive 1"
    assert os.path.exists("/proc/1")


async def test_the_child_can_signal_itself(open_pool: SandboxPool) -> None:
    source = """
    import signal
    hits = []
    signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    signal.raise_signal(signal.SIGUSR1)
    print('hits', len(hits))
    """
    outcome = await outcome_of(open_pool, source)
    assert outcome.text.strip() == "hits 1", outcome.describe()


async def test_the_child_runs_as_an_unprivileged_user__ids(open_pool: SandboxPool) -> None:
    if os.geteuid() != 0:
        pytest.skip("per-slot uids need root")
    source = "import os\nprint(os.getuid(), os.getgid(), os.getgroups())"
    outcome = await outcome_of(open_pool, source)
    uid, gid, groups = outcome.text.split(" ", 2)
    assert int(uid) >= 60000 and int(gid) >= 60000 and groups.strip() == "[]", outcome.describe()
