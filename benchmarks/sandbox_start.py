"""``make bench``: how fast a run starts in the sandbox, next to a fresh interpreter.

Prints p50 and p99 over RUNS sequential runs of ``print("hi")`` of
- start: ``SandboxPool.run`` called -> its Started event received (isolation already in
  place, the script about to be compiled and run);
- whole run: called -> RunEnd received;
and, for comparison, a fresh ``python`` subprocess that imports the runtime (what a process
per run would cost without the template). Target on a 2-core machine: start p50 <= 3 ms,
p99 <= 10 ms. Then both kinds of template (sandbox/pools.py, issue 9): a script that
imports pandas and matplotlib, on the warm template and (fewer runs) on the lean one, and
hello world on the lean template of the same TemplatePools.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import fastapi_poe as fp

from sandbox import (
    AttachmentInfo,
    BotCallRequest,
    Limits,
    RunEnd,
    RunStart,
    SandboxPool,
    Started,
    TemplatePools,
)

RUNS = 300
FRESH_RUNS = 20
PAUSE_S = 0.02  # between runs, as between queries: the pool refills its spares meanwhile
HEAVY_RUNS = 40
HEAVY_ON_LEAN_RUNS = 5
HEAVY_SOURCE = (
    "import io\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
    "frame = pd.DataFrame({'a': [1, 2, 3]})\nfig, ax = plt.subplots()\nframe.plot(ax=ax)\n"
    "buffer = io.BytesIO()\nfig.savefig(buffer, format='png')\nprint(len(buffer.getvalue()))\n"
)
HELLO_SOURCE = 'print("hi")'
FRESH_PYTHON = "import sandbox.poe.namespace, sandbox.policy, fastapi_poe, RestrictedPython"


class _NoServices:
    async def call_bot(self, request: BotCallRequest) -> AsyncIterator[fp.PartialResponse]:
        raise NotImplementedError
        yield  # pragma: no cover

    def fetch(self, url: str) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def upload(
        self, name: str, contents: object, content_type: str | None, is_inline: bool
    ) -> AttachmentInfo:
        raise NotImplementedError


async def measure_pool(runs: int, pause_s: float) -> tuple[list[float], list[float]]:
    pool = SandboxPool(slots=8, spares=2)
    await pool.start()
    start_ms: list[float] = []
    whole_ms: list[float] = []
    try:
        for _ in range(10):  # warm the caches of this process too
            await _one(pool)
        for _ in range(runs):
            await asyncio.sleep(pause_s)
            started, ended = await _one(pool)
            start_ms.append(started)
            whole_ms.append(ended)
    finally:
        await pool.close()
    return start_ms, whole_ms


async def measure_templates(
    runs: int, pause_s: float
) -> dict[str, tuple[list[float], list[float]]]:
    """Start and whole-run times per (template, script) on one TemplatePools."""
    pools = TemplatePools(slots=8, spares=2, warm_spares=2)
    await pools.start()
    await pools.warm_started()
    results: dict[str, tuple[list[float], list[float]]] = {}
    try:
        for label, pool, source, count in (
            ("warm: pandas + matplotlib chart", pools, HEAVY_SOURCE, HEAVY_RUNS),
            ("lean: pandas + matplotlib chart", pools.lean, HEAVY_SOURCE, HEAVY_ON_LEAN_RUNS),
            ('lean (TemplatePools): print("hi")', pools, HELLO_SOURCE, runs),
        ):
            await _one(pool, source)  # warm this process's caches
            starts, wholes = [], []
            for _ in range(count):
                await asyncio.sleep(pause_s * 10 if source is HEAVY_SOURCE else pause_s)
                started, ended = await _one(pool, source)
                starts.append(started)
                wholes.append(ended)
            results[label] = (starts, wholes)
    finally:
        await pools.close()
    return results


async def _one(
    pool: SandboxPool | TemplatePools, source: str = HELLO_SOURCE
) -> tuple[float, float]:
    request = RunStart(source=source, bot_name="bench", limits=Limits(timeout_s=60))
    began = time.perf_counter()
    started = ended = 0.0
    async for event in pool.run(request, _NoServices()):
        if isinstance(event, Started):
            started = time.perf_counter()
        elif isinstance(event, RunEnd):
            ended = time.perf_counter()
            if event.status != "ok":
                raise RuntimeError(f"the benchmark run failed: {event}")
    return (started - began) * 1000, (ended - began) * 1000


def measure_fresh_python(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", FRESH_PYTHON], check=True)
        times.append((time.perf_counter() - began) * 1000)
    return times


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _line(name: str, values: list[float]) -> str:
    return (
        f"{name:<44} n={len(values):<4} p50 {_percentile(values, 0.5):8.2f} ms"
        f"   p99 {_percentile(values, 0.99):8.2f} ms   mean {statistics.fmean(values):8.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--fresh-runs", type=int, default=FRESH_RUNS)
    parser.add_argument("--pause-ms", type=float, default=PAUSE_S * 1000)
    args = parser.parse_args()
    print(f"{args.runs} sequential runs, {args.pause_ms:g} ms apart")
    start_ms, whole_ms = asyncio.run(measure_pool(args.runs, args.pause_ms / 1000))
    fresh_ms = measure_fresh_python(args.fresh_runs)
    print(_line("sandbox: run requested -> Started", start_ms))
    print(_line('sandbox: whole run of print("hi")', whole_ms))
    print(_line("fresh python importing the runtime", fresh_ms))
    met = _percentile(start_ms, 0.5) <= 3.0 and _percentile(start_ms, 0.99) <= 10.0
    print(f"target (start p50 <= 3 ms, p99 <= 10 ms): {'met' if met else 'NOT met'}")
    for label, (starts, wholes) in asyncio.run(
        measure_templates(args.runs, args.pause_ms / 1000)
    ).items():
        print(_line(f"{label}: -> Started", starts))
        print(_line(f"{label}: whole run", wholes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
