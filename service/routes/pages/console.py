"""The test console of a script's page: one run through the same orchestrator as the REST
console (``POST /api/v1/scripts/{name}/run``), authenticated by the session and its CSRF token.

With JavaScript the page asks for ``text/event-stream`` and gets exactly the REST route's
Poe events, live, with the run's id in ``X-Run-Id``. Without it the form posts normally:
the run is streamed to its end here, then the browser is sent to the run's page.
"""

from __future__ import annotations

from contextlib import aclosing

from fastapi import APIRouter, Depends, Request
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.routes.deps import OrchestratorDep
from service.routes.pages.deps import CheckedForm, SignedInId, mark_page
from service.routes.pages.rendering import finish, redirect
from service.routes.schemas import MAX_CONSOLE_QUERY_CHARS, ConsoleRun
from service.routes.sse import sse_response

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


@router.post("/scripts/{name}/console")
async def console(
    request: Request,
    name: str,
    creator_id: SignedInId,
    form: CheckedForm,
    orchestrator: OrchestratorDep,
) -> Response:
    query = form.get("query")
    try:
        body = ConsoleRun(query=query if isinstance(query, str) else "")
    except ValidationError:
        raise HTTPException(
            422, f"The message must be text of at most {MAX_CONSOLE_QUERY_CHARS} characters."
        ) from None
    stream = await orchestrator.console_run(creator_id, name, body.conversation())
    if "text/event-stream" in request.headers.get("accept", ""):
        response = sse_response(stream)
        response.headers["X-Run-Id"] = str(stream.run_id)
        return finish(request, response)
    # No JavaScript: run to the end (the run is recorded when the stream ends), then show it.
    async with aclosing(aiter(stream)) as events:
        async for _event in events:
            pass
    return redirect(request, f"/scripts/{name}/runs/{stream.run_id}")
