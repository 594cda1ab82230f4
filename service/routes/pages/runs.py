"""Run history and one run's transcript: the events it sent, folded into what was shown."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from service.errors import NotFound
from service.routes.deps import RunsRecorded, SessionDep
from service.routes.pages.deps import SignedIn, mark_page
from service.routes.pages.rendering import page
from service.routes.pages.transcript import fold_events
from service.store import runs as run_store
from service.store import scripts as store

RUNS_PAGE = 50

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


@router.get("/scripts/{name}/runs", dependencies=[RunsRecorded])
def run_list(
    request: Request,
    name: str,
    creator: SignedIn,
    session: SessionDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    script = store.get_script(session, creator.id, name)
    runs = run_store.list_runs(session, script, RUNS_PAGE, offset)
    return page(request, "runs.html", script=script, runs=runs, offset=offset, page_size=RUNS_PAGE)


@router.get("/scripts/{name}/runs/{run_id}", dependencies=[RunsRecorded])
def run_page(
    request: Request, name: str, run_id: str, creator: SignedIn, session: SessionDep
) -> Response:
    script = store.get_script(session, creator.id, name)
    try:
        key = uuid.UUID(run_id)
    except ValueError:
        raise NotFound("There is no such run.") from None
    run = run_store.get_run(session, script, key)
    events = run_store.run_events(session, run)
    shown = fold_events([(event.type, event.data) for event in events])
    return page(request, "run.html", script=script, run=run, events=events, shown=shown)
