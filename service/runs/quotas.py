"""CREATOR_MAX_CONCURRENT_RUNS, enforced across replicas by the database alone.

A run is admitted by inserting its ``running`` row in the same transaction that counts the
creator's running rows, so two replicas cannot both take the last place: on PostgreSQL the
creator's row is locked ``FOR UPDATE`` first (runs of one creator admit one at a time,
other creators are not held up); SQLite's ``BEGIN IMMEDIATE`` (``store/db.py``) already
serialises every writing transaction. Rows older than the run time limit plus a margin are
not counted, so the runs of a replica that died without recording their end cannot hold
their creator's places for ever. No count lives in a process's memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.tables import Creator, Run, Script

# A run's row may stay `running` a little past its time limit while its end is recorded.
STALE_MARGIN = timedelta(seconds=60)


def stale_after(run_timeout_s: float) -> timedelta:
    """How old a `running` row must be to count as left behind by a dead process."""
    return timedelta(seconds=run_timeout_s) + STALE_MARGIN


def running_runs(session: Session, creator_id: int, since: datetime) -> int:
    """Running runs of ``creator_id``'s scripts started after ``since``."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Run)
            .join(Script, Script.id == Run.script_id)
            .where(
                Run.status == "running",
                Run.started_at > since,
                Script.creator_id == creator_id,
            )
        )
        or 0
    )


def admit_run(
    session: Session,
    run: Run,
    *,
    creator_id: int,
    max_concurrent: int,
    run_timeout_s: float,
) -> bool:
    """Insert ``run`` as ``running`` when its creator has a free place, else as
    ``rejected``; True when admitted. Call inside one transaction (``Database.transaction``)."""
    # Serialise admissions of this creator on PostgreSQL; SQLite renders no FOR UPDATE
    # and holds its database-wide write lock from BEGIN IMMEDIATE instead.
    session.execute(select(Creator.id).where(Creator.id == creator_id).with_for_update())
    since = run.started_at - stale_after(run_timeout_s)
    admitted = running_runs(session, creator_id, since) < max_concurrent
    run.status = "running" if admitted else "rejected"
    session.add(run)
    session.flush()
    return admitted
