"""TemplatePools: a lean and a warm sandbox pool, and the choice between them per run.

A hello world must not pay for pandas (issue 9): the lean pool's template imports the
runtime and the common standard library only; the warm one's also the heavy packages
(``policy.modules.WARM_MODULES``). A run goes to the warm pool when its source imports one
of them (``wants_warm``: a cached scan of the import lines), else to the lean one. Until
the warm template is ready, or when it is not to be had, such a run takes the lean pool
and imports the packages itself from the read-only library (slower, never failing).

The same interface as SandboxPool, so the service holds one object either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncGenerator

from sandbox.compiled import CompiledSources
from sandbox.host import SandboxPool
from sandbox.isolation.status import SandboxStatus
from sandbox.policy.modules import wants_warm
from sandbox.protocol import ChatEvent, RunEnd, RunStart, SettingsUpdated, Started
from sandbox.services import RunServices

logger = logging.getLogger(__name__)

TEMPLATES = ("lean", "warm")
WARM_MAX_SPARES = 4


class TemplatePools:
    """Runs scripts on the lean or the warm template's pool, whichever the source needs."""

    def __init__(
        self,
        *,
        slots: int = 128,
        spares: int = 2,
        warm_spares: int = 1,
        max_spares: int | None = None,
    ) -> None:
        self.compiled = CompiledSources()  # one cache for both: a script may change pools
        self.lean = SandboxPool(
            slots=slots, spares=spares, max_spares=max_spares, compiled=self.compiled
        )
        self.warm = SandboxPool(
            slots=slots,
            spares=warm_spares,
            max_spares=max_spares,
            warm=True,
            compiled=self.compiled,
        )
        self._warm_start: asyncio.Task[None] | None = None
        self.runs_by_template: Counter[str] = Counter()

    async def start(self) -> None:
        """Start the lean pool and wait for it; the warm one starts beside it, unwaited."""
        self._warm_start = asyncio.get_running_loop().create_task(self.warm.start())
        self._warm_start.add_done_callback(_report_warm_start)
        await self.lean.start()

    async def warm_started(self) -> None:
        """Wait until the warm pool is up (or failed to start): for benchmarks and tests."""
        if self._warm_start is not None:
            await asyncio.wait({self._warm_start})

    async def close(self) -> None:
        if self._warm_start is not None:
            if not self._warm_start.done():
                self._warm_start.cancel()
            with contextlib.suppress(BaseException):
                await self._warm_start
            await self.warm.close()
        await self.lean.close()

    def status(self) -> SandboxStatus:
        """The lean pool's: it runs every script (the warm one only speeds some up)."""
        return self.lean.status()

    def processes(self) -> tuple[int, int]:
        (lean_busy, lean_spares), (warm_busy, warm_spares) = (
            self.lean.processes(),
            self.warm.processes(),
        )
        return lean_busy + warm_busy, lean_spares + warm_spares

    def template_for(self, source: str) -> str:
        """ "warm" when the source imports a heavy package and the warm pool is up."""
        if not wants_warm(source):
            return "lean"
        ready = self._warm_start is not None and self._warm_start.done()
        return "warm" if ready and self.warm.status().warm else "lean"

    async def run(
        self, start: RunStart, services: RunServices, stop: asyncio.Future[RunEnd] | None = None
    ) -> AsyncGenerator[Started | ChatEvent | SettingsUpdated | RunEnd, None]:
        """``SandboxPool.run`` on the pool the source needs."""
        template = self.template_for(start.source)
        self.runs_by_template[template] += 1
        pool = self.warm if template == "warm" else self.lean
        events = pool.run(start, services, stop)
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()


def _report_warm_start(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning(
            "the warm sandbox template did not start; heavy scripts use the lean one",
            exc_info=task.exception(),
        )
