"""New script and edit script: the form with the code editor, a ``.py`` upload, the access
key and the settings. Saving calls the REST handlers themselves, so a form accepts exactly
what the API accepts; a refusal re-renders the form with the creator's input and the
problems at their places (compile errors at their lines)."""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from service.errors import InvalidName, NameTaken, SourceRejected, SourceTooLarge
from service.routes import scripts as api
from service.routes.deps import CipherDep, SessionDep, SettingsDep
from service.routes.pages.deps import CheckedForm, SignedIn, mark_page
from service.routes.pages.rendering import page, redirect
from service.routes.pages.script_form import (
    FLAGS,
    ScriptForm,
    create_body,
    read_script_form,
    update_body,
)
from service.routes.schemas import ScriptCreate, ScriptUpdate
from service.security import AccessKeyCipher
from service.settings import Settings
from service.sources import infer_bot_dependencies
from service.store import scripts as store
from service.store.tables import Creator, Script

STARTER_SOURCE = """\
# Everything the script prints becomes the bot's answer, streamed as it is written.
print(f"You said: {poe.query.text}")
"""

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)


@router.get("/new")
def new_form(request: Request, creator: SignedIn) -> Response:
    return _form_page(request, ScriptForm(source=STARTER_SOURCE), script=None)


@router.post("/scripts")
def create(
    request: Request,
    creator: SignedIn,
    form_data: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> Response:
    form = read_script_form(form_data, with_name=True)
    body = create_body(form, form_data)
    if body is not None:
        created = _save(session, form, lambda: _create(body, creator, session, settings, cipher))
        if created is not None:
            return redirect(request, f"/scripts/{created}", notice=f"Script {created} is live.")
    return _form_page(request, form, script=None, status_code=form.status_code)


@router.get("/scripts/{name}/edit")
def edit_form(request: Request, name: str, creator: SignedIn, session: SessionDep) -> Response:
    script = store.get_script(session, creator.id, name)
    version = store.current_version(session, script)
    return _form_page(request, ScriptForm.from_script(version.source, script.settings), script)


@router.post("/scripts/{name}/edit")
def update(
    request: Request,
    name: str,
    creator: SignedIn,
    form_data: CheckedForm,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> Response:
    script = store.get_script(session, creator.id, name)
    form = read_script_form(form_data, with_name=False)
    form.other_settings = ScriptForm.from_script("", script.settings).other_settings
    body = update_body(form, form_data)
    if body is not None:
        saved = _save(
            session, form, lambda: _update(script, body, creator, session, settings, cipher)
        )
        if saved is not None:
            return redirect(request, f"/scripts/{script.name}", notice=saved)
    return _form_page(request, form, script, status_code=form.status_code)


def _create(
    body: ScriptCreate,
    creator: Creator,
    session: Session,
    settings: Settings,
    cipher: AccessKeyCipher,
) -> str:
    out = api.create_script(
        body=body, creator=creator, session=session, settings=settings, cipher=cipher
    )
    return out.name


def _update(
    script: Script,
    body: ScriptUpdate,
    creator: Creator,
    session: Session,
    settings: Settings,
    cipher: AccessKeyCipher,
) -> str:
    before, name = script.current_version, script.name
    out = api.update_script(
        name=name, body=body, creator=creator, session=session, settings=settings, cipher=cipher
    )
    if out.version != before:
        return f"Saved as version {out.version}."
    return "Saved; the source is unchanged, so there is no new version."


def _save(session: Session, form: ScriptForm, action: Callable[[], str]) -> str | None:
    """Run ``action`` in a savepoint: a refusal becomes the form's errors and changes nothing."""
    try:
        with session.begin_nested():
            return action()
    except SourceRejected as exc:
        form.problems = exc.problems
        form.error("source", str(exc))
    except SourceTooLarge as exc:
        form.error("source", str(exc))
    except NameTaken as exc:
        form.error("name", str(exc))
        form.status_code = 409
    except InvalidName as exc:
        form.error("name", str(exc))
    return None


def _form_page(
    request: Request, form: ScriptForm, script: Script | None, *, status_code: int = 200
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
    )
