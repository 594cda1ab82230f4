"""FairSlots: a freed slot goes to the next creator in turn, not to whoever queued first;
waiters that give up (cancelled, or stopped by a shutdown) leave no slot behind."""

from __future__ import annotations

import asyncio

from sandbox.fairness import FairSlots


async def _holder(slots: FairSlots, key: str, order: list[str], hold: asyncio.Event) -> None:
    await slots.acquire(key)
    order.append(key)
    await hold.wait()
    slots.release()


async def test_queues_are_served_in_turn_across_keys() -> None:
    slots = FairSlots(1)
    assert await slots.acquire("first")  # the one slot, taken
    order: list[str] = []
    hold = asyncio.Event()
    hold.set()  # each waiter releases as soon as it gets the slot
    busy = [asyncio.create_task(_holder(slots, "busy", order, hold)) for _ in range(5)]
    await asyncio.sleep(0)
    quiet = asyncio.create_task(_holder(slots, "quiet", order, hold))
    await asyncio.sleep(0)
    assert slots.waiting == 6
    slots.release()
    await asyncio.gather(*busy, quiet)
    assert order == ["busy", "quiet", "busy", "busy", "busy", "busy"]
    assert slots.busy == 0 and slots.waiting == 0


async def test_cancelled_and_stopped_waiters_leave_no_slot_taken() -> None:
    slots = FairSlots(1)
    assert await slots.acquire("a")
    cancelled = asyncio.create_task(slots.acquire("b"))
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    stopped = asyncio.create_task(slots.acquire("c", stop))
    await asyncio.sleep(0)
    cancelled.cancel()
    stop.set_result(None)
    assert await stopped is False
    await asyncio.gather(cancelled, return_exceptions=True)
    assert slots.waiting == 0
    slots.release()
    assert slots.busy == 0
    assert await slots.acquire("d")  # free again, at once
    assert await slots.acquire("e", stop) is False  # already stopped, and no slot free
