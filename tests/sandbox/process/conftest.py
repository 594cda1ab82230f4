"""One warm pool per test module (the template takes a second to start), closed at the end
with a check that nothing it forked survives it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from sandbox import SandboxPool
from tests.sandbox.process.harness import children_of, process_exists, template_pid, wait_until

SPARES = 2


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    pool = SandboxPool(slots=300, spares=SPARES)
    await pool.start()
    parent = template_pid(pool)
    yield pool
    children = children_of(parent)  # the spares, now: orphans would no longer name the parent
    await pool.close()
    assert not process_exists(parent), "the template outlived its pool"
    await wait_until(lambda: not any(process_exists(pid) for pid in children))
