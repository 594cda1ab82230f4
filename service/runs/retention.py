"""Retention: the service deletes runs, transcripts, reports and kept files past
``SCRIPTBOTS_RETENTION_DAYS`` itself, so that storage stops growing (issue 11).

Every server runs the loop: once at start, then every ``RETENTION_INTERVAL_S``. Each round
deletes in batches of ``BATCH`` rows, one short transaction each (``store/retention.py``
makes concurrent replicas safe), yielding between batches so that runs' own writes are
never held up for long.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

import anyio
import anyio.to_thread
from sqlalchemy.orm import Session

from service.runs.upkeep import Upkeep
from service.store.db import Database
from service.store.retention import delete_old_files, delete_old_reports, delete_old_runs
from service.store.tables import utcnow

logger = logging.getLogger(__name__)

BATCH = 500  # rows per transaction: well within any bind limit, short write locks
_PAUSE_S = 0.05  # between batches: the database serves other work meanwhile

_STEPS: tuple[tuple[str, Callable[..., int]], ...] = (
    ("runs", delete_old_runs),
    ("files", delete_old_files),
    ("reports", delete_old_reports),
)


class Retention(Upkeep):
    """Deletes what is older than ``retention_days``, a round every ``interval_s``; a round
    stops between batches once ``close()`` is called."""

    def __init__(
        self,
        db: Database,
        *,
        retention_days: int,
        interval_s: float,
        batch: int = BATCH,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        super().__init__(interval_s)
        self.db = db
        self.period = timedelta(days=retention_days)
        self.batch = batch
        self._limiter = limiter

    async def round(self) -> None:
        try:
            deleted = await self.sweep()
        except Exception as exc:  # the database may be away; the next round retries
            logger.warning("retention round failed", extra={"error": repr(exc)})
        else:
            if any(deleted.values()):
                logger.info("retention deleted old records", extra=deleted)

    async def sweep(self) -> dict[str, int]:
        """One round: everything older than the period, batch by batch; counts by kind."""
        before = utcnow() - self.period
        deleted: dict[str, int] = {}
        for kind, step in _STEPS:
            deleted[kind] = 0
            while True:
                count = await anyio.to_thread.run_sync(
                    self._batch, step, before, limiter=self._limiter
                )
                deleted[kind] += count
                if count < self.batch or self.stopping:
                    break
                await asyncio.sleep(_PAUSE_S)
        return deleted

    def _batch(self, step: Callable[[Session, object, int], int], before: object) -> int:
        with self.db.transaction() as session:
            return step(session, before, self.batch)
