"""The last run of each of a creator's scripts, for the list of scripts on the web pages.

Read-only; runs are written by the run orchestrator, and the rest of their reading is in
``store/runs.py``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.tables import Run


def last_runs(session: Session, script_ids: list[int]) -> dict[int, Run]:
    """The most recent run of each script that has one, in one query."""
    if not script_ids:
        return {}
    newest = (
        select(Run.script_id, func.max(Run.started_at).label("started_at"))
        .where(Run.script_id.in_(script_ids))
        .group_by(Run.script_id)
        .subquery()
    )
    rows = session.scalars(
        select(Run).join(
            newest,
            (Run.script_id == newest.c.script_id) & (Run.started_at == newest.c.started_at),
        )
    ).all()
    return {run.script_id: run for run in rows}
