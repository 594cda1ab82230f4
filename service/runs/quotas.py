"""CREATOR_MAX_CONCURRENT_RUNS, enforced across replicas by the database alone.

A run is admitted by inserting its ``running`` row in the same transaction that counts the
creator's running rows, so two replicas cannot both take the last place: on PostgreSQL the
creator's row is locked ``FOR UPDATE`` first (runs of one creator admit one at a time,
other creators are not held up); SQLite's ``BEGIN IMMEDIATE`` (``store/db.py``) already
serialises every writing transaction. A row whose lease ran out (``leases.py``: its process
died without recording its end) is not counted, nor a row without a lease older than the run
time limit plus a margin, so the dead cannot hold their creator's places. No count lives in
a process's memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Connection, Table, bindparam, func, insert, select
from sqlalchemy.orm import Session

from service.runs.leases import lease_alive
from service.store.tables import Creator, Run, Script, utcnow

# A run's row may stay `running` a little past its time limit while its end is recorded.
STALE_MARGIN = timedelta(seconds=60)


def stale_after(run_timeout_s: float) -> timedelta:
    """How old a `running` row must be to count as left behind by a dead process."""
    return timedelta(seconds=run_timeout_s) + STALE_MARGIN


# Built once (with bound parameters): on every query's path, constructing them costs more
# than running them.
_LOCK_CREATOR = select(Creator.id).where(Creator.id == bindparam("creator_id")).with_for_update()
_RUNNING = (
    select(func.count())
    .select_from(Run)
    .join(Script, Script.id == Run.script_id)
    .where(
        Run.status == "running",
        lease_alive(bindparam("now"), bindparam("since")),
        Script.creator_id == bindparam("creator_id"),
    )
)
_INSERT = insert(cast(Table, Run.__table__))


def running_runs(
    session: Session | Connection, creator_id: int, now: datetime, since: datetime
) -> int:
    """Running runs of ``creator_id``'s scripts whose process is alive at ``now``: leased
    past it, or without a lease and started after ``since``."""
    return session.scalar(_RUNNING, {"creator_id": creator_id, "now": now, "since": since}) or 0


def admit_run(
    session: Session | Connection,
    run: Run,
    *,
    creator_id: int,
    max_concurrent: int,
    run_timeout_s: float,
    lease_until: datetime | None = None,
) -> bool:
    """Insert ``run`` as ``running``, leased until ``lease_until``, when its creator has a
    free place, else as ``rejected``; True when admitted. Call inside one transaction
    (``Database.transaction`` or, on the query path, ``Database.connection``): SQLAlchemy
    Core statements, no unit of work (``run`` is only read)."""
    # Serialise admissions of this creator on PostgreSQL; SQLite renders no FOR UPDATE
    # and holds its database-wide write lock from BEGIN IMMEDIATE instead.
    session.execute(_LOCK_CREATOR, {"creator_id": creator_id})
    now = utcnow()
    since = now - stale_after(run_timeout_s)
    admitted = running_runs(session, creator_id, now, since) < max_concurrent
    values = {column.key: getattr(run, column.key) for column in Run.__table__.columns}
    values["status"] = "running" if admitted else "rejected"
    values["lease_until"] = lease_until if admitted else None
    session.execute(_INSERT, values)
    return admitted
