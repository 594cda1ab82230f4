"""Run leases: a ``running`` row stays running only while a live process says so.

The process that admitted a run holds its lease (``runs.lease_until``): one UPDATE renews
the leases of all its runs every ``lease_s / 3`` seconds, however many there are. A row
whose lease ran out belongs to a process that died (killed, out of memory, its machine
gone): the quota stops counting it at once (``quotas.py``), and any replica's reconciler,
which looks every ``lease_s / 3`` seconds, marks it ``killed``. A run ends recorded within
``lease_s`` plus a third of it of its process's death, whichever replica is still alive.

Rows from before leases (``lease_until`` NULL) are ended by age, as before: past the run
time limit plus a margin.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import anyio
import anyio.to_thread
from sqlalchemy import ColumnElement, CursorResult, and_, or_, update

from service.runs.upkeep import Upkeep
from service.store.db import Database
from service.store.tables import Run, utcnow

logger = logging.getLogger(__name__)

STOPPED = "The server stopped while this run was going."
RENEW_CHUNK = 500  # ids per UPDATE ... WHERE id IN (...): well within any bind limit


def lease_alive(
    now: datetime | ColumnElement[Any], started_since: datetime | ColumnElement[Any]
) -> Any:
    """The SQL condition of a ``running`` row whose process is (or may be) alive."""
    return or_(
        Run.lease_until > now,
        and_(Run.lease_until.is_(None), Run.started_at > started_since),
    )


def lease_dead(now: datetime, started_since: datetime) -> Any:
    """The opposite of ``lease_alive``, written out: NOT of a NULL comparison is NULL."""
    return or_(
        Run.lease_until <= now,
        and_(Run.lease_until.is_(None), Run.started_at <= started_since),
    )


def expire_dead_runs(session: Any, now: datetime, started_since: datetime) -> int:
    """Mark ``running`` rows whose process is gone as killed; how many."""
    result = session.execute(
        update(Run)
        .where(Run.status == "running", lease_dead(now, started_since))
        .values(status="killed", error=STOPPED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


class RunLeases(Upkeep):
    """The leases of this process's runs, renewed in the background, and the reconciler
    of every process's dead runs."""

    def __init__(
        self,
        db: Database,
        *,
        lease_s: float,
        stale_after: timedelta,
        limiter: anyio.CapacityLimiter | None = None,
    ) -> None:
        super().__init__(lease_s / 3)
        self.db = db
        self.lease = timedelta(seconds=lease_s)
        self._stale_after = stale_after  # for rows without a lease
        self._limiter = limiter
        self._held: set[uuid.UUID] = set()

    def expiry(self) -> datetime:
        """The ``lease_until`` of a row written now."""
        return utcnow() + self.lease

    def hold(self, run_id: uuid.UUID) -> None:
        """``run_id`` is admitted here: keep its lease alive until ``release``."""
        self._held.add(run_id)

    def release(self, run_id: uuid.UUID) -> None:
        self._held.discard(run_id)

    async def round(self) -> None:
        held = list(self._held)  # copied here: the set changes on the event loop only
        steps: list[Callable[[], int]] = [functools.partial(self.renew, held), self.reconcile]
        for step in steps:
            try:
                await anyio.to_thread.run_sync(step, limiter=self._limiter)
            except Exception as exc:  # the database may be away; the next round retries
                logger.warning("run lease upkeep failed", extra={"error": repr(exc)})

    def renew(self, held: list[uuid.UUID]) -> int:
        """Push the leases of ``held`` forward; how many rows."""
        if not held:
            return 0
        until, renewed = self.expiry(), 0
        with self.db.transaction() as session:
            for first in range(0, len(held), RENEW_CHUNK):
                statement = (
                    update(Run)
                    .where(Run.id.in_(held[first : first + RENEW_CHUNK]), Run.status == "running")
                    .values(lease_until=until)
                    .execution_options(synchronize_session=False)
                )
                result = cast(CursorResult[Any], session.execute(statement))
                renewed += int(result.rowcount or 0)
        return renewed

    def reconcile(self) -> int:
        """End every process's dead runs (see the module's docstring); how many."""
        now = utcnow()
        with self.db.transaction() as session:
            expired = expire_dead_runs(session, now, now - self._stale_after)
        if expired:
            logger.warning("runs of a stopped server marked killed", extra={"count": expired})
        return expired
