"""Each limit of SPEC §2 ends the run with an error naming it; the host and the next run go on,
and no process of the run survives it. Restricted scripts, as the service runs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fastapi_poe as fp
import pytest

from sandbox import SandboxPool
from sandbox.protocol import BotCallRequest, Limits
from tests.sandbox.process.conftest import SPARES
from tests.sandbox.process.harness import QUICK, Outcome, TestServices, run, wait_no_zombies

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def ends_at(pool: SandboxPool, source: str, limit: str, **kwargs: object) -> Outcome:
    """Run ``source``; assert the run ended at ``limit``, the pool still runs scripts and the
    template reaped the child."""
    outcome = await run(pool, source, **kwargs)  # type: ignore[arg-type]
    assert outcome.end is not None
    assert outcome.end.status in ("error", "killed", "timeout"), outcome.describe()
    assert outcome.end.limit == limit, outcome.describe()
    assert outcome.end.error, "a limit is always explained"
    after = await run(pool, 'print("still here")')
    assert after.end is not None and after.end.status == "ok", after.describe()
    await wait_no_zombies(pool, spares=SPARES)
    return outcome


async def test_wall_clock_limit_kills_a_sleeping_script(pool: SandboxPool) -> None:
    limits = Limits(timeout_s=1.0, cpu_s=5, memory_mb=64)
    began = asyncio.get_running_loop().time()
    outcome = await ends_at(pool, "import time\ntime.sleep(60)\n", "time", limits=limits)
    assert outcome.end is not None and outcome.end.status == "timeout"
    assert asyncio.get_running_loop().time() - began < 10


async def test_wall_clock_limit_keeps_the_output_before_it(pool: SandboxPool) -> None:
    limits = Limits(timeout_s=1.0, cpu_s=5, memory_mb=64)
    source = "import time\nprint('early')\ntime.sleep(60)\n"
    outcome = await ends_at(pool, source, "time", limits=limits)
    assert "early" in outcome.text


async def test_cpu_loop_ends_at_the_cpu_limit(pool: SandboxPool) -> None:
    outcome = await ends_at(pool, "while True:\n    pass\n", "cpu")
    assert outcome.end is not None and outcome.end.status == "error"


async def test_cpu_loop_that_swallows_the_limit_error_is_killed(pool: SandboxPool) -> None:
    source = (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except Exception:\n        pass\n"
    )
    outcome = await ends_at(pool, source, "cpu")
    assert outcome.end is not None and outcome.end.status == "killed"


async def test_huge_power_ends_at_the_cpu_limit(pool: SandboxPool) -> None:
    await ends_at(
        pool, "x = 10**10**10\n", "cpu", limits=Limits(timeout_s=20, cpu_s=2, memory_mb=512)
    )


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("s = 'a' * 10**10\n", id="huge-string"),
        pytest.param("x = [0] * 10**9\n", id="huge-list"),
        pytest.param("b = b'x' * (2**40)\n", id="huge-bytes"),
    ],
)
async def test_one_huge_allocation_is_a_memory_error(pool: SandboxPool, source: str) -> None:
    outcome = await ends_at(pool, source, "memory")
    assert outcome.end is not None and outcome.end.status == "error"


async def test_growing_memory_ends_at_the_memory_limit(pool: SandboxPool) -> None:
    source = "chunks = []\nwhile True:\n    chunks.append('x' * 2**20)\n"
    await ends_at(pool, source, "memory")


async def test_deep_recursion_is_a_recursion_limit(pool: SandboxPool) -> None:
    outcome = await ends_at(pool, "def f(n):\n    return f(n + 1)\nf(0)\n", "recursion")
    assert "RecursionError" in (outcome.end.error or "")  # type: ignore[union-attr]


async def test_print_flood_stops_at_the_output_limit(pool: SandboxPool) -> None:
    outcome = await ends_at(pool, "while True:\n    print('x' * 1000)\n", "output")
    assert len(outcome.text) <= QUICK.max_output_chars


async def test_bot_call_budget_spent_ends_the_run(pool: SandboxPool) -> None:
    services = TestServices(max_bot_calls=3)
    source = "for i in range(10):\n    poe.call('Echo', str(i))\n"
    await ends_at(pool, source, "bot_calls", services=services)
    assert len(services.requests) == 3


async def test_parallel_with_many_tasks_stays_under_the_thread_cap(pool: SandboxPool) -> None:
    source = (
        "import time\nr = poe.parallel(*[lambda: time.sleep(0.01) for _ in range(100)])\n"
        "print(len(r))\n"
    )
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
    assert "100" in outcome.text


async def test_a_bot_that_hangs_is_cut_by_the_wall_clock(pool: SandboxPool) -> None:
    async def hanging(request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        await asyncio.sleep(3600)
        yield fp.PartialResponse(text="never")

    services = TestServices({"Hang": hanging})
    limits = Limits(timeout_s=1.0, cpu_s=5, memory_mb=64)
    await ends_at(pool, "poe.call('Hang', 'hi')\n", "time", services=services, limits=limits)


async def test_fork_and_subprocess_are_refused_before_running(pool: SandboxPool) -> None:
    for source in ("import os\nos.fork()\n", "import subprocess\n", "__import__('os').fork()\n"):
        outcome = await run(pool, source)
        assert outcome.end is not None and outcome.end.status == "error", outcome.describe()
