"""New script and edit script: the form with the code editor, a ``.py`` upload, the access
key and the settings. Saving calls the REST handlers themselves, so a form accepts exactly
what the API accepts; a refusal re-renders the form with the creator's input and the
problems at their places (compile errors at their lines)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from sandbox import completions
from service.bot_settings import version_settings
from service.errors import (
    InvalidName,
    NameTaken,
    QuotaExceeded,
    SandboxBusy,
    SourceRejected,
    SourceTooLarge,
)
from service.routes import scripts as api
from service.routes.checks import MAX_CHECK_CHARS, check_problems
from service.routes.deps import CipherDep, DatabaseDep, OrchestratorDep, SessionDep, SettingsDep
from service.routes.pages.deps import CheckedForm, SignedIn, SignedInId, mark_page
from service.routes.pages.parameters import console_controls
from service.routes.pages.rendering import finish, page, redirect
from service.routes.pages.script_form import (
    FLAGS,
    ScriptForm,
    create_body,
    read_script_form,
    update_body,
)
from service.sources import infer_bot_dependencies
from service.store import scripts as store
from service.store.secrets import secret_names
from service.store.tables import Script, ScriptVersion

STARTER_SOURCE = """\
# Everything the script prints becomes the bot's answer, streamed as it is written.
print(f"You said: {poe.query.text}")
"""

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


@router.get("/new")
def new_form(request: Request, creator: SignedIn) -> Response:
    return _form_page(request, ScriptForm(source=STARTER_SOURCE), script=None)


@router.post("/scripts")
async def create(
    request: Request,
    creator_id: SignedInId,
    form_data: CheckedForm,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: CipherDep,
    orchestrator: OrchestratorDep,
) -> Response:
    form = await anyio.to_thread.run_sync(lambda: read_script_form(form_data, with_name=True))
    body = create_body(form, form_data)
    if body is not None:

        async def action() -> str:
            checked = await orchestrator.checked_source(
                body.source, api.given_name(body), creator_id
            )
            out = await api.in_transaction(
                database,
                lambda session: api.new_script(
                    session, creator_id, body, checked, settings, cipher
                ),
            )
            return out.name

        created = await _save(form, action)
        if created is not None:
            return redirect(request, f"/scripts/{created}", notice=f"Script {created} is live.")
    return _form_page(request, form, script=None, status_code=form.status_code)


@router.get("/scripts/{name}/edit")
def edit_form(request: Request, name: str, creator: SignedIn, session: SessionDep) -> Response:
    script = store.get_script(session, creator.id, name)
    version = store.current_version(session, script)
    form = ScriptForm.from_script(version.source, script.settings)
    return _form_page(
        request,
        form,
        script,
        secrets=secret_names(session, script),
        console=_console_context(script, version),
    )


@router.post("/scripts/{name}/edit")
async def update(
    request: Request,
    name: str,
    creator_id: SignedInId,
    form_data: CheckedForm,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: CipherDep,
    orchestrator: OrchestratorDep,
) -> Response:
    script, current = await api.in_transaction(
        database, lambda session: _script_and_source(session, creator_id, name)
    )
    form = await anyio.to_thread.run_sync(lambda: read_script_form(form_data, with_name=False))
    form.other_settings = ScriptForm.from_script("", script.settings).other_settings
    body = update_body(form, form_data)
    if body is not None:

        async def action() -> str:
            checked = None
            if body.source is not None and body.source != current:
                checked = await orchestrator.checked_source(body.source, script.name, creator_id)
            out = await api.in_transaction(
                database,
                lambda session: api.changed_script(
                    session, creator_id, script.name, body, checked, settings, cipher
                ),
            )
            if out.version != script.current_version:
                return f"Saved as version {out.version}."
            return "Saved; the source is unchanged, so there is no new version."

        saved = await _save(form, action)
        if saved is not None:
            return redirect(request, f"/scripts/{script.name}", notice=saved)
    names, console = await api.in_transaction(
        database, lambda session: _refused_context(session, creator_id, script.name)
    )
    return _form_page(
        request, form, script, status_code=form.status_code, secrets=names, console=console
    )


@router.post("/check")
async def check(
    request: Request, creator_id: SignedInId, form_data: CheckedForm, orchestrator: OrchestratorDep
) -> Response:
    """The editor's problems as the creator types: ``POST /api/v1/check`` for the session
    (CSRF token in the X-CSRF-Token header), answered as JSON."""
    source, name = form_data.get("source"), form_data.get("name")
    if not isinstance(source, str) or len(source) > MAX_CHECK_CHARS:
        raise HTTPException(422, "Send the source as a form field of at most 1 MiB.")
    checked = await check_problems(
        orchestrator,
        source.replace("\r\n", "\n"),
        name if isinstance(name, str) else None,
        creator_id,
    )
    return finish(request, JSONResponse(checked.model_dump(mode="json")))


def _refused_context(
    session: Session, creator_id: int, name: str
) -> tuple[list[tuple[str, datetime]], dict[str, Any]]:
    """What the re-shown edit page needs besides the form: the secrets' names and the
    console of the stored version (nothing was saved)."""
    script = store.get_script(session, creator_id, name)
    version = store.current_version(session, script)
    return secret_names(session, script), _console_context(script, version)


def _script_and_source(session: Session, creator_id: int, name: str) -> tuple[Script, str]:
    script = store.get_script(session, creator_id, name)
    return script, store.current_version(session, script).source


async def _save(form: ScriptForm, action: Callable[[], Awaitable[str]]) -> str | None:
    """Save; a refusal becomes the form's errors, and nothing was stored (each save is one
    transaction, after the settings were read in the sandbox)."""
    try:
        return await action()
    except SourceRejected as exc:  # compile errors, or the settings run failed (a line)
        form.problems = exc.problems
        form.error("source", str(exc))
    except SourceTooLarge as exc:
        form.error("source", str(exc))
    except NameTaken as exc:
        form.error("name", str(exc))
        form.status_code = 409
    except InvalidName as exc:
        form.error("name", str(exc))
    except SandboxBusy as exc:
        form.error("source", str(exc))
        form.status_code = 503
    except QuotaExceeded as exc:
        form.error("source", str(exc))
        form.status_code = 429
    return None


def _console_context(script: Script, version: ScriptVersion) -> dict[str, Any]:
    """What the editor's console shows: the current version's parameter controls, and
    whether it takes attachments."""
    settings = version_settings(script, version)
    return {
        "controls": console_controls(settings.parameter_controls),
        "allow_attachments": bool(settings.allow_attachments),
    }


def _form_page(
    request: Request,
    form: ScriptForm,
    script: Script | None,
    *,
    status_code: int = 200,
    secrets: list[tuple[str, datetime]] | None = None,
    console: dict[str, Any] | None = None,
) -> Response:
    inferred = infer_bot_dependencies(form.source)
    return page(
        request,
        "script_form.html",
        status_code=status_code,
        form=form,
        script=script,
        flags=FLAGS,
        inferred_dependencies=inferred,
        inferred_json=json.dumps(inferred, ensure_ascii=False),
        problem_lines=form.problem_lines(),
        secrets=secrets,
        editor_words=completions(),
        **(console or {"controls": [], "allow_attachments": False}),
    )
