"""Deleting what is older than the retention period, one bounded batch per transaction.

Every replica runs these at once without harm: on PostgreSQL a batch takes its rows with
``FOR UPDATE SKIP LOCKED``, so two servers delete disjoint rows instead of waiting on each
other; SQLite runs one writing transaction at a time anyway. A batch deletes a run's events
and files explicitly, then the run (its reports and nested runs are unlinked by their
foreign keys' ``ON DELETE SET NULL``, and deleted by their own age).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.store.tables import File, Report, Run, RunEvent


def delete_old_runs(session: Session, before: datetime, batch: int) -> int:
    """Up to ``batch`` ended runs started before ``before``, with their transcripts and
    files; how many runs."""
    query = select(Run.id).where(Run.started_at < before, Run.status != "running")
    ids = _take(session, query.order_by(Run.started_at), batch)
    if ids:
        session.execute(delete(RunEvent).where(RunEvent.run_id.in_(ids)))
        session.execute(delete(File).where(File.run_id.in_(ids)))
        session.execute(delete(Run).where(Run.id.in_(ids)))
    return len(ids)


def delete_old_files(session: Session, before: datetime, batch: int) -> int:
    """Up to ``batch`` kept files made before ``before`` (also those of no run)."""
    ids = _take(session, select(File.id).where(File.created_at < before), batch)
    if ids:
        session.execute(delete(File).where(File.id.in_(ids)))
    return len(ids)


def delete_old_reports(session: Session, before: datetime, batch: int) -> int:
    """Up to ``batch`` reports received before ``before``."""
    ids = _take(session, select(Report.id).where(Report.received_at < before), batch)
    if ids:
        session.execute(delete(Report).where(Report.id.in_(ids)))
    return len(ids)


def _take(session: Session, query: Any, batch: int) -> list[Any]:
    query = query.limit(batch)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))
