"""Runs' work waits for the requests being authorized, never longer than its bound."""

from __future__ import annotations

import asyncio

from service.runs.arrivals import Arrivals


async def test_a_lone_run_does_not_wait() -> None:
    arrivals = Arrivals(max_wait_s=60)
    async with asyncio.timeout(5):
        await arrivals.settled()


async def test_runs_wait_until_no_request_is_being_authorized() -> None:
    arrivals = Arrivals(max_wait_s=60)
    settled: list[str] = []

    async def run() -> None:
        await arrivals.settled()
        settled.append("run")

    with arrivals.arriving():
        with arrivals.arriving():
            waiting = asyncio.create_task(run())
            await asyncio.sleep(0.05)
            assert settled == []
        await asyncio.sleep(0.05)
        assert settled == [], "one authorization is still going"
    async with asyncio.timeout(5):
        await waiting
    assert settled == ["run"] and arrivals.pending == 0


async def test_a_flood_of_arrivals_delays_runs_only_up_to_the_bound() -> None:
    arrivals = Arrivals(max_wait_s=0.2)
    with arrivals.arriving():  # never ends while the run waits
        async with asyncio.timeout(10):
            await arrivals.settled()
    assert arrivals.pending == 0


async def test_a_failed_authorization_still_counts_out() -> None:
    arrivals = Arrivals(max_wait_s=60)
    try:
        with arrivals.arriving():
            raise LookupError("no such bot")
    except LookupError:
        pass
    assert arrivals.pending == 0
    async with asyncio.timeout(5):
        await arrivals.settled()
