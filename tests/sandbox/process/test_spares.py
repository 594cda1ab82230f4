"""Spares follow the runs that come at once (sandbox/host.py, issue 15): after a wave of N
runs, the pool keeps up to N spares forked (between its floor and ceiling), so that the
next wave starts on spares rather than forking on its path."""

from __future__ import annotations

import asyncio

from sandbox import SandboxPool
from tests.sandbox.process.harness import run, wait_until


async def test_spares_grow_to_the_runs_at_once_within_the_ceiling() -> None:
    pool = SandboxPool(slots=40, spares=1, max_spares=5)
    await pool.start()
    try:
        await wait_until(lambda: pool.processes()[1] == 1)
        outcomes = await asyncio.gather(
            *(run(pool, "import time\ntime.sleep(0.3)\nprint('ok')") for _ in range(8))
        )
        assert all(o.end is not None and o.end.status == "ok" for o in outcomes)
        await wait_until(lambda: pool.processes()[1] == 5, timeout_s=60)  # 8 at once, at most 5
        await asyncio.sleep(0.5)
        assert pool.processes()[1] == 5  # never past the ceiling
    finally:
        await pool.close()
