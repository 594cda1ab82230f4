"""First events before run work (issue 12, Poe's 5 s rule).

A query's ``meta`` waits only for its authorization; the runs already under way want the
same two cores for their admission, sandbox and events. In a burst of hundreds of queries
the newest requests' authorizations then queued behind everyone's runs, and ``meta`` came
later than 5 s. So a run starts its work (admission onwards) once no request is being
authorized, or after ``max_wait_s`` at most: a flood of arrivals delays runs by that much,
never starves them, and a lone query never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

ARRIVALS_WAIT_S = 1.0


class Arrivals:
    """Requests being authorized in this process, and a wait for there to be none."""

    def __init__(self, max_wait_s: float = ARRIVALS_WAIT_S) -> None:
        self.max_wait_s = max_wait_s
        self.pending = 0
        self._none = asyncio.Event()
        self._none.set()

    @contextlib.contextmanager
    def arriving(self) -> Iterator[None]:
        """Around one request's authorization."""
        self.pending += 1
        self._none.clear()
        try:
            yield
        finally:
            self.pending -= 1
            if not self.pending:
                self._none.set()

    async def settled(self) -> None:
        """Returns when no request is being authorized, or after ``max_wait_s``."""
        if self.pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.max_wait_s):
                    await self._none.wait()
