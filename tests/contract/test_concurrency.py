"""Runs at once: the per-creator quota (held in the database, so across replicas), a client
that goes away ending its run and its process, and hundreds of streaming runs together."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path

import httpx
import httpx_sse

from tests.conftest import CreatorInfo
from tests.contract.conftest import (
    Event,
    Service,
    bot_events,
    error_of,
    query_request,
    stream_events,
)

BUSY = "import time\nprint('busy')\ntime.sleep(5)\n"
SPIN = "print('spinning')\nwhile True:\n    pass\n"
QUOTA = 8  # CREATOR_MAX_CONCURRENT_RUNS's default, which the servers keep
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def wait_for(condition: object, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


async def open_run(service: Service, name: str, key: str) -> AsyncIterator[Event]:
    """A streaming query, read up to its first text: its run is admitted and running."""
    events = stream_events(service.bots_base + name, query_request("x").model_dump(), key)
    assert (await anext(events))[0] == "meta"
    assert (await anext(events))[0] == "text"
    return events


async def test_runs_over_the_creators_quota_are_rejected(any_service: Service) -> None:
    creator = any_service.creator()
    name = any_service.script(creator, BUSY)
    other = any_service.script(creator, 'print("me too")')
    streams = [await open_run(any_service, name, creator.token) for _ in range(QUOTA)]
    try:
        events = await bot_events(any_service, other, creator.token, "x")
        assert [event for event, _ in events] == ["meta", "error", "done"]
        assert f"already has {QUOTA} runs in progress" in error_of(events)["text"]
        someone_else = any_service.creator()
        theirs = any_service.script(someone_else, 'print("not limited")')
        assert [e for e, _ in await bot_events(any_service, theirs, someone_else.token, "x")][
            1
        ] == "text"
    finally:
        for stream in streams:
            await stream.aclose()
    (rejected,) = any_service.runs(creator, other)
    assert rejected["status"] == "rejected" and "runs in progress" in rejected["error"]
    wait_for(lambda: {r["status"] for r in any_service.runs(creator, name)} == {"killed"})
    events = await bot_events(any_service, other, creator.token, "x")  # places are free again
    assert [event for event, _ in events] == ["meta", "text", "done"]


def descendants(pid: int) -> dict[int, float]:
    """Live processes under ``pid``, with the CPU seconds each has used."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])))
    found: dict[int, float] = {}
    parents = {pid}
    while parents:
        children = {p for p, (ppid, _) in stats.items() if ppid in parents and p not in found}
        found.update({p: stats[p][1] / CLOCK_TICKS for p in children})
        parents = children
    return found


async def test_a_client_that_leaves_ends_its_run_and_its_process(
    service: Service, creator: CreatorInfo
) -> None:
    name = service.script(creator, SPIN)
    server_pid = service.server.process.pid
    before = descendants(server_pid)  # the template and spare children, mostly idle
    events = await open_run(service, name, creator.token)
    busy: list[int] = []

    def spinning() -> bool:
        now = descendants(server_pid)
        busy[:] = [p for p, cpu_s in now.items() if cpu_s - before.get(p, 0.0) >= 0.3]
        return len(busy) == 1

    try:
        wait_for(spinning, timeout_s=5)
    finally:
        await events.aclose()
    (child,) = busy
    # Gone long before its CPU limit (2 s) would have stopped it.
    wait_for(lambda: child not in descendants(server_pid), timeout_s=1.0)
    wait_for(lambda: service.runs(creator, name)[0]["status"] == "killed")
    (run,) = service.runs(creator, name)
    assert run["error"] == "The client disconnected before the response ended."
    transcript = service.run(creator, name, run["id"])["transcript"]
    assert [e["event"] for e in transcript] == ["meta", "text"]


async def test_hundreds_of_streaming_runs_at_once(service: Service) -> None:
    creators = [service.creator() for _ in range(25)]  # 8 each: every run within its quota
    scripts = [
        (c, service.script(c, "import time\nprint('one')\ntime.sleep(0.2)\nprint('two')"))
        for c in creators
    ]
    first_event_s: list[float] = []

    async def one_query(client: httpx.AsyncClient, creator: CreatorInfo, name: str) -> str:
        started = time.monotonic()
        text = ""
        async with (
            httpx_sse.aconnect_sse(
                client,
                "POST",
                service.bots_base + name,
                json=query_request("x").model_dump(),
                headers=creator.headers,
            ) as source,
            aclosing(source.aiter_sse()) as events,
        ):
            async for event in events:
                if event.event == "meta":
                    first_event_s.append(time.monotonic() - started)
                elif event.event == "text":
                    text += event.json()["text"]
                elif event.event in ("error", "done"):
                    assert event.event == "done", event.data
        return text

    limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=120, limits=limits) as client, asyncio.timeout(120):
        texts = await asyncio.gather(
            *(one_query(client, c, n) for c, n in scripts for _ in range(QUOTA))
        )
    elapsed_s = time.monotonic() - started
    assert texts == ["one\n\ntwo"] * 200
    assert max(first_event_s) < 5.0  # Poe's deadline for the first event, under load
    statuses = [r["status"] for c, n in scripts for r in service.runs(c, n)]
    assert statuses == ["ok"] * 200
    median_ms = sorted(first_event_s)[100] * 1000
    print(
        f"\n200 concurrent runs: {elapsed_s:.1f} s in all; first event after "
        f"{median_ms:.0f} ms (median), {max(first_event_s) * 1000:.0f} ms (max)"
    )
