"""Resources, with the restricted layer off: threads, memory and CPU stay bounded.

Stopped by: the threading guard and, under it, RLIMIT_NPROC of the per-slot uid and the pids
cgroup (threads); RLIMIT_AS and the memory cgroup (memory); RLIMIT_CPU (CPU)."""

from __future__ import annotations

import pytest

from sandbox import SandboxPool
from tests.escapes_os.harness import outcome_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

THREAD_BOMB = """
import threading, time
for _ in range(1000):
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
"""
RAW_THREAD_BOMB = """
import _thread, time
for _ in range(1000):
    _thread.start_new_thread(time.sleep, (30,))
"""
HUGE_ALLOCATION = "b = bytearray(10**10)\n"
TOUCHED_MEMORY = "chunks = []\nwhile True:\n    chunks.append(bytearray(2**20))\n"
CPU_IGNORING_SIGXCPU = (
    "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
)


@pytest.mark.parametrize(
    ("source", "layer"),
    [(THREAD_BOMB, "threading guard"), (RAW_THREAD_BOMB, "RLIMIT_NPROC / pids cgroup")],
    ids=["threading", "raw-_thread"],
)
async def test_thread_bomb_ends_at_the_thread_limit(
    open_pool: SandboxPool, source: str, layer: str
) -> None:
    outcome = await outcome_of(open_pool, source)
    assert outcome.end is not None and outcome.end.limit == "threads", (layer, outcome.describe())


async def test_huge_allocation_is_a_memory_error__rlimit_as(open_pool: SandboxPool) -> None:
    outcome = await outcome_of(open_pool, HUGE_ALLOCATION)
    assert outcome.end is not None and outcome.end.limit == "memory", outcome.describe()
    assert outcome.end.status == "error"


async def test_touched_memory_is_killed__memory_cgroup(open_pool: SandboxPool) -> None:
    outcome = await outcome_of(open_pool, TOUCHED_MEMORY)
    assert outcome.end is not None and outcome.end.limit == "memory", outcome.describe()


async def test_ignoring_sigxcpu_does_not_escape_the_cpu_limit__rlimit_cpu(
    open_pool: SandboxPool,
) -> None:
    outcome = await outcome_of(open_pool, CPU_IGNORING_SIGXCPU)
    assert outcome.end is not None, outcome.describe()
    assert (outcome.end.status, outcome.end.limit) == ("killed", "cpu"), outcome.describe()


async def test_limits_cannot_be_raised__rlimits(open_pool: SandboxPool) -> None:
    source = """
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (hard + 100, hard + 100))
        print('raised')
    except (ValueError, OSError) as exc:
        print('refused', type(exc).__name__)
    """
    outcome = await outcome_of(open_pool, source)
    assert outcome.text.startswith("refused"), outcome.describe()
