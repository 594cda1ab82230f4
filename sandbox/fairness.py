"""FairSlots: sandbox slots handed out in turn across tenants, not first come first served.

With one queue, a tenant who sends two hundred queries at once makes everybody else's wait
behind all of them (issue 12: 12 s for another tenant's one-line query). Here each key (a
creator) has its own queue of waiters, and a freed slot goes to the next key in turn, that
key then moving to the back: a quiet tenant's query waits for at most one slot release per
other waiting tenant, however many queries each of them has queued.

Event-loop objects only: no lock, no thread; nothing here knows what a key stands for.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from typing import Any


class FairSlots:
    """At most ``capacity`` holders at once; ``acquire(key)``, then ``release()`` once."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self.busy = 0
        # Keys with waiters, in the order of their turns; each with its waiters in order.
        self._turns: OrderedDict[str, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        return sum(len(queue) for queue in self._turns.values())

    async def acquire(self, key: str, stop: asyncio.Future[Any] | None = None) -> bool:
        """Wait for a slot in ``key``'s turn; False (and no slot) if ``stop`` resolves first."""
        if self.busy < self.capacity and not self._turns:
            self.busy += 1
            return True
        if stop is not None and stop.done():
            return False
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._turns.setdefault(key, deque()).append(waiter)
        try:
            if stop is None:
                await waiter
            else:
                await asyncio.wait({waiter, stop}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            self._leave(key, waiter)
            raise
        if waiter.done():
            return True
        self._leave(key, waiter)
        return False

    def release(self) -> None:
        self.busy -= 1
        self._hand_on()

    def _leave(self, key: str, waiter: asyncio.Future[None]) -> None:
        """A waiter that gives up: out of its queue, or its slot handed on if it had one."""
        if waiter.done() and not waiter.cancelled():
            self.release()
            return
        waiter.cancel()
        queue = self._turns.get(key)
        if queue is not None and waiter in queue:
            queue.remove(waiter)
            if not queue:
                del self._turns[key]

    def _hand_on(self) -> None:
        while self.busy < self.capacity and self._turns:
            key, queue = next(iter(self._turns.items()))
            waiter = queue.popleft()
            if queue:
                self._turns.move_to_end(key)  # its next waiter comes after everyone else's
            else:
                del self._turns[key]
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)
