"""The test console of a script's page and editor: one run through the same orchestrator as
the REST console (``POST /api/v1/scripts/{name}/run``), authenticated by the session and its
CSRF token. The form carries the conversation so far, attachments, the script's parameter
controls and, from the editor, the unsaved source (``console_form.py``).

With JavaScript the page asks for ``text/event-stream`` and gets exactly the REST route's
Poe events, live, with the run's id in ``X-Run-Id``. Without it the form posts normally:
the run is streamed to its end here, then the browser is sent to the run's page.
"""

from __future__ import annotations

import json
from contextlib import aclosing

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from service.bot_settings import version_settings
from service.routes import scripts as api
from service.routes.deps import DatabaseDep, OrchestratorDep, SessionDep, SettingsDep
from service.routes.pages.console_form import read_console_form
from service.routes.pages.deps import CheckedForm, SignedIn, SignedInId, mark_page
from service.routes.pages.parameters import Control, console_controls
from service.routes.pages.rendering import finish, page, redirect
from service.routes.sse import sse_response
from service.runs.filestore import DatabaseAttachmentStore
from service.store import runs as run_store
from service.store import scripts as store

RUNS_SHOWN = 20

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


def script_controls(session: Session, creator_id: int, name: str) -> list[Control]:
    """The parameter controls of ``name``'s current version (NotFound when not theirs)."""
    script = store.get_script(session, creator_id, name)
    settings = version_settings(script, store.current_version(session, script))
    return console_controls(settings.parameter_controls)


@router.post("/scripts/{name}/console")
async def console(
    request: Request,
    name: str,
    creator_id: SignedInId,
    form: CheckedForm,
    database: DatabaseDep,
    settings: SettingsDep,
    orchestrator: OrchestratorDep,
) -> Response:
    controls = await api.in_transaction(
        database, lambda session: script_controls(session, creator_id, name)
    )
    files = DatabaseAttachmentStore(
        database,
        None,
        creator_id=creator_id,
        max_creator_bytes=settings.creator_max_files_mb * 1024 * 1024,
    )
    given = await read_console_form(
        form, controls, files, settings.base_url.rstrip("/") + "/files/"
    )
    stream = await orchestrator.console_run(
        creator_id, name, given.messages, draft_source=given.draft_source
    )
    if "text/event-stream" in request.headers.get("accept", ""):
        response = sse_response(stream, orchestrator.shutdown.streams_cut)
        response.headers["X-Run-Id"] = str(stream.run_id)
        # What the message's uploads became, so that the page sends them with later turns.
        sent = [
            a.model_dump(include={"url", "name", "content_type"})
            for a in given.messages[-1].attachments
        ]
        response.headers["X-Console-Attachments"] = json.dumps(sent, ensure_ascii=True)
        return finish(request, response)
    # No JavaScript: run to the end (the run is recorded when the stream ends), then show it.
    async with aclosing(aiter(stream)) as events:
        async for _event in events:
            pass
    return redirect(request, f"/scripts/{name}/runs/{stream.run_id}")


@router.get("/scripts/{name}/recent-runs")
def recent_runs(request: Request, name: str, creator: SignedIn, session: SessionDep) -> Response:
    """The recent-runs table alone, which the console reloads after each run."""
    script = store.get_script(session, creator.id, name)
    runs = run_store.list_runs(session, script, RUNS_SHOWN, 0)
    return page(request, "_recent_runs.html", script=script, runs=runs)
