"""/api/v1/scripts/{name}: the test console (a run streamed as Poe events), run history
with transcripts, and the reports Poe sent (SPEC §5). A creator's own scripts only.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path

from service.routes.deps import (
    CurrentCreator,
    CurrentCreatorId,
    OrchestratorDep,
    PaginationDep,
    RunsRecorded,
    SessionDep,
)
from service.routes.schemas import (
    ConsoleRun,
    ErrorOut,
    Page,
    ReportOut,
    RunOut,
    RunSummary,
    TranscriptEvent,
)
from service.routes.sse import EventStreamResponse, sse_response
from service.store import runs as store
from service.store.scripts import get_script
from service.store.tables import Report, Run

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."},
    404: {"model": ErrorOut, "description": "No such script or run (or not yours)."},
}

router = APIRouter(prefix="/api/v1/scripts", tags=["runs"], responses=_ERRORS)

NamePath = Annotated[str, Path(description="The script's name (any case).")]


def run_summary(run: Run) -> RunSummary:
    return RunSummary(
        id=run.id,
        version=run.version,
        trigger=run.trigger,
        status=run.status,
        query=run.query_text,
        started_at=run.started_at,
        duration_ms=run.duration_ms,
        error=run.error,
        bot_calls=run.bot_calls,
        chars_out=run.chars_out,
        message_id=run.poe_message_id,
        parent_run_id=run.parent_run_id,
    )


def report_out(report: Report) -> ReportOut:
    return ReportOut(
        id=report.id,
        kind=report.kind,
        message_id=report.message_id,
        run_id=report.run_id,
        data=report.data,
        received_at=report.received_at,
    )


@router.post(
    "/{name}/run",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Poe events."}},
)
async def console_run(
    name: NamePath, body: ConsoleRun, creator_id: CurrentCreatorId, orchestrator: OrchestratorDep
) -> EventStreamResponse:
    """Run the script's current version as a Poe query would: the answer streams exactly
    the events the bot URL sends (meta, text, replace_response, file, error, done)."""
    stream = await orchestrator.console_run(creator_id, name, body.conversation())
    return sse_response(stream, orchestrator.shutdown.streams_cut)


@router.get("/{name}/runs", dependencies=[RunsRecorded])
def list_runs(
    name: NamePath, creator: CurrentCreator, session: SessionDep, page: PaginationDep
) -> Page[RunSummary]:
    """The script's runs, newest first (nested runs it made as a called bot included)."""
    found = store.list_runs(session, get_script(session, creator.id, name), page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, run_summary)


@router.get("/{name}/runs/{run_id}", dependencies=[RunsRecorded])
def get_run(
    name: NamePath, run_id: uuid.UUID, creator: CurrentCreator, session: SessionDep
) -> RunOut:
    """One run with its full transcript and the reports received for its message id."""
    run = store.get_run(session, get_script(session, creator.id, name), run_id)
    return RunOut(
        **run_summary(run).model_dump(),
        transcript=[
            TranscriptEvent(event=e.type, data=e.data) for e in store.run_events(session, run)
        ],
        reports=[report_out(r) for r in store.reports_of_run(session, run)],
    )


@router.get("/{name}/reports")
def list_reports(
    name: NamePath, creator: CurrentCreator, session: SessionDep, page: PaginationDep
) -> Page[ReportOut]:
    """Feedback, reactions and error reports Poe sent for the script, newest first,
    including ``report_error`` requests that match no run."""
    script = get_script(session, creator.id, name)
    found = store.list_reports(session, script, page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, report_out)
