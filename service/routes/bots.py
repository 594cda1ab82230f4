"""/bots/{name}: every script as a Poe server bot (protocol 1.2, SPEC §7), answering as
``fastapi_poe.make_app`` does, so that Poe and fastapi_poe's client work unchanged.

Where make_app answers 500 (a body that is not JSON, a request without a ``type``, fields
that do not validate), this answers 4xx with a JSON ``detail``; an unknown ``type`` is 501
as there. Authentication comes first: the script's access key, or an API token of its
creator (401 otherwise); an unknown script is 404 whatever the credential.
"""

from __future__ import annotations

import html
import json
import math
from typing import Annotated, Any, TypeVar

import fastapi_poe as fp
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from service.errors import NotFound
from service.routes.deps import OrchestratorDep, SettingsDep
from service.routes.schemas import ErrorOut
from service.routes.sse import sse_response
from service.routes.unstorable import find_unstorable
from service.runs.hosted import BotCaller
from service.runs.orchestrator import Orchestrator

M = TypeVar("M", bound=BaseModel)
_REPORTS: dict[str, tuple[type[BaseModel], str]] = {
    "report_feedback": (fp.ReportFeedbackRequest, "feedback"),
    "report_reaction": (fp.ReportReactionRequest, "reaction"),
    "report_error": (fp.ReportErrorRequest, "error"),
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorOut,
        "description": "Not a JSON object with a type, or holding what cannot be stored "
        "(NaN, lone surrogates, nesting over 64 levels, ids over 255 characters or with NUL).",
    },
    401: {"model": ErrorOut, "description": "Neither the access key nor the creator's token."},
    404: {"model": ErrorOut, "description": "No script has this name."},
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
    body = await _json_object(request)
    kind = body.get("type")
    if not isinstance(kind, str):
        raise HTTPException(400, "The request has no 'type'.")
    if kind == "query":
        query = _validated(fp.QueryRequest, body)
        _check_ids(
            message_id=query.message_id,
            user_id=query.user_id,
            conversation_id=query.conversation_id,
        )
        return sse_response(orchestrator.query_run(caller, query))
    if kind == "settings":
        _validated(fp.SettingsRequest, body)
        if caller.from_poe and caller.script.refetch_settings:
            await orchestrator.settings_fetched(caller.script)  # Poe has them now
        return JSONResponse(caller.script.settings.model_dump(mode="json"))
    if kind in _REPORTS:
        return await _report(orchestrator, caller, kind, body)
    raise HTTPException(501, "Unsupported request type")


@router.get("/bots/{name}", response_class=HTMLResponse, responses={404: {"model": ErrorOut}})
async def bot_page(
    name: NamePath, orchestrator: OrchestratorDep, settings: SettingsDep
) -> HTMLResponse:
    """A short page: the bot's name and how to connect it to Poe."""
    bot = await orchestrator.find_bot(name)
    if bot is None:
        raise NotFound(f"There is no bot named {name[:60]!r}.")
    bot_name = html.escape(bot.name)
    url = html.escape(settings.bot_url(bot.name))
    create = "https://poe.com/create_bot?server=1"
    return HTMLResponse(
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{bot_name} · scriptbots</title></head><body>"
        f"<h1>{bot_name}</h1><p>This is a Poe server bot hosted by scriptbots.</p>"
        "<h2>Connect it to Poe</h2><ol>"
        f'<li>Open <a href="{create}">{create}</a> and choose a server bot.</li>'
        f"<li>Server URL: <code>{url}</code></li>"
        "<li>Copy the access key Poe shows into the script's settings "
        "(<code>poe_access_key</code>), then save the bot on Poe.</li>"
        "</ol></body></html>"
    )


ID_MAX = 255  # message, user and conversation ids: String(255) columns
MAX_BODY_DEPTH = 64  # far below pydantic's serialization limit; Poe nests a few levels


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object that can be stored and sent back as it came: no NaN or
    Infinity, no lone surrogates, not nested absurdly deep (400 otherwise, never 500)."""
    try:
        body = json.loads(await request.body(), parse_constant=_no_constant, parse_float=_finite)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise HTTPException(400, "The body is not JSON.") from None
    except ValueError as exc:  # NaN, Infinity, 1e400, an int of over 4300 digits
        raise HTTPException(400, f"The body is not JSON: {exc}.") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "The body is not a JSON object.")
    problem = find_unstorable(body, MAX_BODY_DEPTH)
    if problem == "depth":
        raise HTTPException(400, f"The body is nested more than {MAX_BODY_DEPTH} levels deep.")
    if problem == "surrogate":
        raise HTTPException(400, "The body's text must be valid Unicode (no lone surrogates).")
    return body


def _check_ids(**ids: object) -> None:
    """Poe's ids are stored in columns of ID_MAX characters (PostgreSQL refuses NUL in text):
    one that cannot be stored is refused here rather than failing the write with a 500."""
    for field, value in ids.items():
        if isinstance(value, str) and (len(value) > ID_MAX or "\x00" in value):
            raise HTTPException(400, f"'{field}' must be at most {ID_MAX} characters, without NUL.")


def _validated(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


async def _report(
    orchestrator: Orchestrator, caller: BotCaller, kind: str, body: dict[str, Any]
) -> JSONResponse:
    model, label = _REPORTS[kind]
    report = _validated(model, body)
    data = report.model_dump(mode="json", exclude={"version", "type"})
    message_id = data.get("message_id")
    if kind == "report_error":  # fastapi_poe's client puts it in the metadata
        message_id = report.metadata.get("message_id")  # type: ignore[attr-defined]
    _check_ids(message_id=message_id)
    await orchestrator.record_report(
        caller.script, label, message_id if isinstance(message_id, str) else None, data
    )
    return JSONResponse({})
