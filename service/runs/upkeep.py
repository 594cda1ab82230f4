"""Background upkeep a server does for as long as it serves: run leases, retention."""

from __future__ import annotations

import asyncio
import contextlib


class Upkeep:
    """A ``round()`` at start, then every ``interval_s`` until ``close()``: ``start()`` in
    the app's lifespan, ``close()`` at its end.

    ``close()`` lets the round in progress finish instead of cancelling it: a cancelled
    round's worker thread would go on holding a connection of the pool that the app then
    disposes of."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await asyncio.wait({self._task})
            self._task = None

    async def round(self) -> None:
        """One round of the upkeep; it logs its own failures (the next round retries)."""
        raise NotImplementedError

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            await self.round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)
