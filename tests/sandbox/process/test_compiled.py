"""Compiled code kept per source (sandbox/compiled.py, issue 15): a source's later runs get
the host's code, a new version (a new source) is compiled anew, a refused source keeps
being refused by its child, and the child runs the code it is given."""

from __future__ import annotations

import marshal

import pytest

from sandbox import SandboxPool
from sandbox.compiled import CompiledSources
from sandbox.policy import compile_script
from tests.sandbox.process.harness import run

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_later_runs_of_a_source_use_its_code_and_a_new_version_its_own(
    pool: SandboxPool,
) -> None:
    first, second = 'print("version one")\n', 'print("version two")\n'
    for source, shown in ((first, "version one"), (second, "version two"), (first, "version one")):
        await pool.compiled.compiled(source)  # as after the source's first run
        assert pool.compiled.code_for(source) is not None
        outcome = await run(pool, source)
        assert outcome.end is not None and outcome.end.status == "ok", outcome.describe()
        assert outcome.text.strip() == shown


async def test_the_child_runs_the_code_it_is_given(pool: SandboxPool) -> None:
    # What makes a cached entry matter: the child does not compile the source again.
    code = marshal.dumps(compile_script('print("from the code")'))
    outcome = await run(pool, 'print("from the source")', code=code)
    assert outcome.text.strip() == "from the code", outcome.describe()


async def test_a_refused_source_is_still_reported_by_its_run(pool: SandboxPool) -> None:
    source = 'print("never"\n'
    assert await pool.compiled.compiled(source) is None  # remembered as refused
    outcome = await run(pool, source)
    assert outcome.end is not None and outcome.end.status == "error"
    assert "The script was rejected" in (outcome.end.error or ""), outcome.describe()


async def test_the_oldest_sources_make_room_for_new_ones() -> None:
    cache = CompiledSources(max_bytes=3000)
    sources = [f"x = {n}\n" * 20 for n in range(40)]
    for source in sources:
        assert await cache.compiled(source) is not None
    assert 0 < len(cache) < 40
    assert cache.code_for(sources[-1]) is not None  # the newest stayed
    assert cache.code_for(sources[0]) is None  # the oldest went (it compiles again now)
