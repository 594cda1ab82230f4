"""/bots/{name}: every script as a Poe server bot (protocol 1.2, SPEC §7), answering as
``fastapi_poe.make_app`` does, so that Poe and fastapi_poe's client work unchanged.

Where make_app answers 500 (a body that is not JSON, a request without a ``type``, fields
that do not validate), this answers 4xx with a JSON ``detail``; an unknown ``type`` is 501
as there. Authentication comes first: the script's access key, or an API token of its
creator (401 otherwise); an unknown script is 404 whatever the credential. What a query
goes through from here, step by step, is in the docstring of ``service/runs/run.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

import fastapi_poe as fp
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from service.errors import NotFound
from service.routes.bot_body import BotBodies, check_ids
from service.routes.deps import OrchestratorDep, SettingsDep
from service.routes.pages.rendering import page
from service.routes.schemas import ErrorOut
from service.routes.sse import sse_response
from service.runs.botscript import BotCaller
from service.runs.orchestrator import Orchestrator

_REPORTS = {"report_feedback": "feedback", "report_reaction": "reaction", "report_error": "error"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "Not a JSON object with a type, or holding what cannot be stored "
        "(NaN, lone surrogates, nesting over 64 levels, ids over 255 characters or with NUL).",
    },
    401: {"model": ErrorOut, "description": "Neither the access key nor the creator's token."},
    404: {"model": ErrorOut, "description": "No script has this name."},
    413: {
        "model": ErrorOut,
        "description": "Over SCRIPTBOTS_BOT_MAX_BODY_MB, over 1000 messages, or over "
        "200000 JSON values.",
    },
    422: {"model": ErrorOut, "description": "The request's fields do not validate."},
    501: {"model": ErrorOut, "description": "Unsupported request type."},
}

router = APIRouter(tags=["bots"])
NamePath = Annotated[str, Path(description="The script's name (any case).")]
_bearer = HTTPBearer(
    auto_error=False, description="The bot's Poe access key, or an API token of its creator."
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


@router.post(
    "/bots/{name}",
    responses={
        **_ERRORS,
        200: {
            "content": {"text/event-stream": {}, "application/json": {}},
            "description": "query: Poe events; settings: SettingsResponse; report_*: {}.",
        },
    },
)
async def bot_request(
    name: NamePath, request: Request, bearer: BearerDep, orchestrator: OrchestratorDep
) -> Response:
    """A Poe protocol request: ``query``, ``settings``, ``report_feedback``,
    ``report_reaction`` or ``report_error``."""
    caller = await orchestrator.authorize_bot(name, bearer.credentials if bearer else None)
    body = await bot_bodies(request).read(request)  # parsed and validated in a thread
    if isinstance(body.model, fp.QueryRequest):
        return sse_response(
            orchestrator.query_run(caller, body.model), orchestrator.shutdown.streams_cut
        )
    if body.kind == "settings":
        if caller.from_poe and caller.script.refetch_settings:
            await orchestrator.settings_fetched(caller.script)  # Poe has them now
        return JSONResponse(caller.script.settings.model_dump(mode="json"))
    if body.kind in _REPORTS and body.model is not None:
        return await _report(orchestrator, caller, body.kind, body.model)
    raise HTTPException(501, "Unsupported request type")


@router.get("/bots/{name}", response_class=HTMLResponse, responses={404: {"model": ErrorOut}})
async def bot_page(
    request: Request, name: NamePath, orchestrator: OrchestratorDep, settings: SettingsDep
) -> Response:
    """A short page: the bot's name and how to connect it to Poe (the pages' layout and
    security headers)."""
    bot = await orchestrator.find_bot(name)
    if bot is None:
        raise NotFound(f"There is no bot named {name[:60]!r}.")
    return page(request, "bot.html", bot_name=bot.name, bot_url=settings.bot_url(bot.name))


def bot_bodies(request: Request) -> BotBodies:
    return request.app.state.bot_bodies  # type: ignore[no-any-return]


async def _report(
    orchestrator: Orchestrator, caller: BotCaller, kind: str, report: BaseModel
) -> JSONResponse:
    label = _REPORTS[kind]
    data = report.model_dump(mode="json", exclude={"version", "type"})
    message_id = data.get("message_id")
    if isinstance(report, fp.ReportErrorRequest):  # its client puts it in the metadata
        message_id = report.metadata.get("message_id")
    check_ids(message_id=message_id)
    await orchestrator.record_report(
        caller.script, label, message_id if isinstance(message_id, str) else None, data
    )
    return JSONResponse({})
