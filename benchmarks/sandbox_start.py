"""``make bench``: how fast a run starts in the sandbox, next to a fresh interpreter.

Prints p50 and p99 over RUNS sequential runs of ``print("hi")`` of
- start: ``SandboxPool.run`` called -> its Started event received (isolation already in
  place, the script about to be compiled and run);
- whole run: called -> RunEnd received;
- CPU per run: the template process plus the children it reaped (fork, isolation, the
  spare's rehearsal, the run, exit), from /proc over the measured runs (the spares alive at
  the end were forked but not reaped; there were as many at the start);
- 8 clients at once, each running one script after another (PAUSE_S apart) on a pool
  sized as the service sizes it for 128 slots: whole-run p50/p99, CPU per run, and how
  many runs found no spare and waited for a fork on their path;
and, for comparison, a fresh ``python`` subprocess that imports the runtime (what a process
per run would cost without the template). Target on a 2-core machine: start p50 <= 3 ms,
p99 <= 10 ms. Then both kinds of template (sandbox/pools.py, issue 9): a script that
imports pandas and matplotlib, on the warm template and (fewer runs) on the lean one, and
hello world on the lean template of the same TemplatePools.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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
CLIENTS = 8
CONCURRENT_RUNS = 50  # per client
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


@dataclass
class PoolFigures:
    start_ms: list[float]
    whole_ms: list[float]
    cpu_ms_per_run: float  # the template and the children it reaped
    forks_on_path: int  # runs that found no spare
    runs: int


def _template_cpu_s(pool: SandboxPool) -> float:
    """utime + stime of the template and of the children it waited for, from /proc."""
    pid = pool.template_pid()
    if pid is None:
        raise RuntimeError("the sandbox template is not running")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


async def measure_pool(runs: int, pause_s: float) -> PoolFigures:
    pool = SandboxPool(slots=8, spares=2)
    await pool.start()
    start_ms: list[float] = []
    whole_ms: list[float] = []
    try:
        for _ in range(10):  # warm the caches of this process too
            await _one(pool)
        await asyncio.sleep(0.2)  # the spares forked meanwhile are ready
        cpu_before, leases, forks = _template_cpu_s(pool), pool.leases, pool.forks_on_path
        for _ in range(runs):
            await asyncio.sleep(pause_s)
            started, ended = await _one(pool)
            start_ms.append(started)
            whole_ms.append(ended)
        await asyncio.sleep(0.2)  # the last child reaped, its spare refilled
        cpu_ms = (_template_cpu_s(pool) - cpu_before) * 1000 / runs
        figures = PoolFigures(
            start_ms, whole_ms, cpu_ms, pool.forks_on_path - forks, pool.leases - leases
        )
    finally:
        await pool.close()
    return figures


async def measure_concurrent(clients: int, runs: int, pause_s: float) -> PoolFigures:
    """``clients`` loops of ``runs`` runs each, ``pause_s`` apart, on a pool sized like the
    service's for 128 slots (service.app: 272 slots, up to 16 spares). With no pause on a
    small machine the CPU is the limit: spares are then forked no faster than runs use them."""
    pool = SandboxPool(slots=272, spares=2, max_spares=16)
    await pool.start()
    starts: list[float] = []
    wholes: list[float] = []

    async def client(count: int, record: bool) -> None:
        for _ in range(count):
            await asyncio.sleep(pause_s)
            started, ended = await _one(pool)
            if record:
                starts.append(started)
                wholes.append(ended)

    try:
        await asyncio.gather(*(client(5, False) for _ in range(clients)))  # spares adapt
        await asyncio.sleep(0.2)
        cpu_before, leases, forks = _template_cpu_s(pool), pool.leases, pool.forks_on_path
        await asyncio.gather(*(client(runs, True) for _ in range(clients)))
        await asyncio.sleep(0.3)
        total = pool.leases - leases
        cpu_ms = (_template_cpu_s(pool) - cpu_before) * 1000 / total
        figures = PoolFigures(starts, wholes, cpu_ms, pool.forks_on_path - forks, total)
    finally:
        await pool.close()
    return figures


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


def _cpu_line(name: str, figures: PoolFigures) -> str:
    return (
        f"{name}: CPU/run (template + reaped children) {figures.cpu_ms_per_run:.2f} ms; "
        f"runs that waited for a fork: {figures.forks_on_path} of {figures.runs}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--fresh-runs", type=int, default=FRESH_RUNS)
    parser.add_argument("--pause-ms", type=float, default=PAUSE_S * 1000)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--concurrent-runs", type=int, default=CONCURRENT_RUNS)
    args = parser.parse_args()
    print(f"{args.runs} sequential runs, {args.pause_ms:g} ms apart")
    pool = asyncio.run(measure_pool(args.runs, args.pause_ms / 1000))
    start_ms, whole_ms = pool.start_ms, pool.whole_ms
    fresh_ms = measure_fresh_python(args.fresh_runs)
    print(_line("sandbox: run requested -> Started", start_ms))
    print(_line('sandbox: whole run of print("hi")', whole_ms))
    print(_cpu_line("sandbox", pool))
    print(_line("fresh python importing the runtime", fresh_ms))
    together = asyncio.run(
        measure_concurrent(args.clients, args.concurrent_runs, args.pause_ms / 1000)
    )
    label = f"{args.clients} clients at once"
    print(_line(f'{label}: whole run of print("hi")', together.whole_ms))
    print(_cpu_line(label, together))
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
