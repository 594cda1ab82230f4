"""Run history and one run's transcript: the events it sent, folded into what was shown."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import JSONResponse, Response

from service.errors import NotFound
from service.routes.deps import RunsRecorded, SessionDep
from service.routes.pages.deps import SignedIn, mark_page
from service.routes.pages.rendering import finish, page
from service.routes.pages.transcript import fold_events
from service.store import runs as run_store
from service.store import scripts as store
from service.store.run_history import called_runs

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
    run = run_store.get_run(session, script, _run_key(run_id))
    events = run_store.run_events(session, run)
    shown = fold_events([(event.type, event.data) for event in events])
    return page(request, "run.html", script=script, run=run, events=events, shown=shown)


@router.get("/scripts/{name}/runs/{run_id}/calls")
def run_calls(
    request: Request, name: str, run_id: str, creator: SignedIn, session: SessionDep
) -> Response:
    """The bot calls a run made to the creator's own scripts so far (their rows are written
    as each called run starts) and, once it ended, its HTTP requests, as JSON: the console
    polls it while the run goes."""
    script = store.get_script(session, creator.id, name)
    run = run_store.get_run(session, script, _run_key(run_id))
    calls: list[dict[str, Any]] = [
        {"kind": "bot", "target": called_name, "status": called.status, "run_id": str(called.id)}
        for called, called_name in called_runs(session, run)
    ]
    if run.status != "running":  # a run's HTTP requests are recorded with its transcript
        shown = fold_events(
            [(event.type, event.data) for event in run_store.run_events(session, run)]
        )
        calls += [
            {
                "kind": "http",
                "target": f"{r.method} {r.host}{r.path}",
                "status": r.error or (r.status if r.status is not None else "no answer"),
            }
            for r in shown.requests
        ]
    body = {"status": run.status, "bot_calls": run.bot_calls, "calls": calls}
    return finish(request, JSONResponse(body))


def _run_key(run_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise NotFound("There is no such run.") from None
