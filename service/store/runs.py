"""Runs, their transcripts and the reports Poe sends about them.

A run row is written twice or three times: inserted ``running`` when the run is admitted
(``quotas.py`` counts those rows), then completed with its outcome and transcript before its
response's ``done``, or, when the transcript is large, marked with its outcome before
``done`` and completed with its transcript after the response. Reads are
scoped by script, and scripts by creator (``store/scripts.py``), so a creator only ever
reaches their own runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Table,
    bindparam,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.store.listing import Listing, list_page
from service.store.tables import Report, Run, RunEvent, Script, utcnow


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as recorded."""

    status: str  # ok | error | timeout | killed | rejected
    duration_ms: int
    error: str | None
    bot_calls: int
    chars_out: int


def new_run(
    *,
    run_id: uuid.UUID,
    script_id: int,
    version: int,
    trigger: str,
    started_at: datetime,
    message_id: str | None,
    user_id: str | None,
    conversation_id: str | None,
    parent_run_id: uuid.UUID | None,
    query_text: str | None = None,
    status: str = "running",
) -> Run:
    return Run(
        id=run_id,
        script_id=script_id,
        version=version,
        trigger=trigger,
        status=status,
        started_at=started_at,
        bot_calls=0,
        chars_out=0,
        poe_message_id=message_id,
        poe_user_id=user_id,
        poe_conversation_id=conversation_id,
        parent_run_id=parent_run_id,
        query_text=query_text,
    )


_ENDING = ("status", "duration_ms", "error", "bot_calls", "chars_out")
_runs, _events = cast(Table, Run.__table__), cast(Table, RunEvent.__table__)
# Built once, with bound parameters (``end_*``: SET names its own column parameters).
_END_RUN = (
    update(_runs)
    .where(_runs.c.id == bindparam("end_id"))
    .values({name: bindparam(f"end_{name}") for name in _ENDING})
)
_INSERT_RUN = insert(_runs)
_SCRIPT_EXISTS = select(Script.id).where(Script.id == bindparam("script_id"))
_DELETE_EVENTS = delete(_events).where(_events.c.run_id == bindparam("run_id"))
_INSERT_EVENTS = insert(_events)


def _ending(outcome: RunOutcome) -> dict[str, Any]:
    return {name: getattr(outcome, name) for name in _ENDING}


def _end(connection: Connection | Session, run_id: uuid.UUID, outcome: RunOutcome) -> int:
    values = {f"end_{name}": value for name, value in _ending(outcome).items()}
    result = cast(CursorResult[Any], connection.execute(_END_RUN, {"end_id": run_id, **values}))
    return int(result.rowcount or 0)


def mark_finished(connection: Connection | Session, run_id: uuid.UUID, outcome: RunOutcome) -> None:
    """The run's end, written before its response's ``done``: from then on the quota does
    not count it (``quotas.py``), whereas its transcript may follow after the response."""
    _end(connection, run_id, outcome)


def finish_run(
    connection: Connection | Session,
    run: Run,
    outcome: RunOutcome,
    transcript: Sequence[dict[str, Any]],
) -> None:
    """Complete ``run`` (inserting it if it never got admitted) with its outcome and
    transcript (``{"event", "data"}`` entries, in order). Nothing when its script is gone.
    SQLAlchemy Core statements: ``run`` is only read."""
    if not _end(connection, run.id, outcome):
        if connection.scalar(_SCRIPT_EXISTS, {"script_id": run.script_id}) is None:
            return  # the script was deleted meanwhile, its runs with it
        values = {column.key: getattr(run, column.key) for column in _runs.columns}
        connection.execute(_INSERT_RUN, {**values, **_ending(outcome)})
    connection.execute(_DELETE_EVENTS, {"run_id": run.id})
    if transcript:
        connection.execute(
            _INSERT_EVENTS,  # one executemany, not one INSERT per event
            [
                {"run_id": run.id, "seq": seq, "type": entry["event"], "data": entry["data"]}
                for seq, entry in enumerate(transcript)
            ],
        )


def list_runs(session: Session, script: Script, limit: int, offset: int) -> Listing:
    order = (Run.started_at.desc(), Run.id)
    return list_page(session, Run, Run.script_id == script.id, order, limit, offset)


def get_run(session: Session, script: Script, run_id: uuid.UUID) -> Run:
    run = session.get(Run, run_id)
    if run is None or run.script_id != script.id:
        raise NotFound(f"Script {script.name!r} has no run {run_id}.")
    return run


def run_events(session: Session, run: Run) -> list[RunEvent]:
    return list(
        session.scalars(select(RunEvent).where(RunEvent.run_id == run.id).order_by(RunEvent.seq))
    )


# -- reports ----------------------------------------------------------------------------


def add_report(
    session: Session,
    script_id: int,
    kind: str,
    message_id: str | None,
    data: dict[str, Any],
) -> Report:
    """Record a report; it is linked to the script's run for ``message_id`` when there is
    one (the query's own run rather than a nested run of the same script)."""
    run_id = None
    if message_id:
        run_id = session.scalar(
            select(Run.id)
            .where(Run.script_id == script_id, Run.poe_message_id == message_id)
            .order_by(Run.parent_run_id.is_not(None), Run.started_at.desc())
            .limit(1)
        )
    report = Report(
        script_id=script_id,
        run_id=run_id,
        message_id=message_id or None,
        kind=kind,
        data=data,
        received_at=utcnow(),
    )
    session.add(report)
    session.flush()
    return report


def list_reports(session: Session, script: Script, limit: int, offset: int) -> Listing:
    order = (Report.received_at.desc(), Report.id.desc())
    return list_page(session, Report, Report.script_id == script.id, order, limit, offset)


def reports_of_run(session: Session, run: Run) -> list[Report]:
    """Reports linked to ``run``, or sent for its message id (also after the fact)."""
    matches = [Report.run_id == run.id]
    if run.poe_message_id:
        matches.append(Report.message_id == run.poe_message_id)
    return list(
        session.scalars(
            select(Report)
            .where(Report.script_id == run.script_id, or_(*matches))
            .order_by(Report.received_at, Report.id)
        )
    )
