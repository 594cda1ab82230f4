"""The last run of each of a creator's scripts, for the list of scripts on the web pages,
and the runs a run started by bot calls, for the console.

Read-only; runs are written by the run orchestrator, and the rest of their reading is in
``store/runs.py``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.tables import Run, Script

MAX_CALLED_RUNS = 100  # a query makes at most RUN_MAX_BOT_CALLS; nested ones share it


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


def called_runs(session: Session, run: Run) -> list[tuple[Run, str]]:
    """The runs ``run``'s script started by calling the creator's own bots, oldest first,
    each with the called script's name (the console lists them while the run goes)."""
    rows = session.execute(
        select(Run, Script.name)
        .join(Script, Script.id == Run.script_id)
        .where(Run.parent_run_id == run.id)
        .order_by(Run.started_at)
        .limit(MAX_CALLED_RUNS)
    ).all()
    return [(called, name) for called, name in rows]
