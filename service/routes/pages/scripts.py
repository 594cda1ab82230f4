"""The creator's scripts: the list, a script's page, its versions (diff, restore), deletion.

Reads go through the same store functions as the REST API, always scoped by the signed-in
creator: another creator's script is the same 404 page as a missing one (SPEC §4).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from service.bot_settings import version_settings
from service.errors import NotFound, SandboxBusy, SourceRejected, SourceTooLarge
from service.routes import scripts as api
from service.routes.deps import DatabaseDep, OrchestratorDep, SessionDep, SettingsDep
from service.routes.pages.deps import CheckedForm, SignedIn, SignedInId, mark_page
from service.routes.pages.diffs import diff_rows
from service.routes.pages.parameters import console_controls
from service.routes.pages.rendering import page, redirect
from service.store import run_history
from service.store import runs as run_store
from service.store import scripts as store
from service.store.tables import Script, ScriptVersion

LIST_PAGE = 100
VERSIONS_SHOWN = 50
RUNS_SHOWN = 20

router = APIRouter(dependencies=[Depends(mark_page)], include_in_schema=False)

Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]


@router.get("/scripts")
def my_scripts(
    request: Request,
    creator: SignedIn,
    session: SessionDep,
    settings: SettingsDep,
    offset: Offset = 0,
) -> Response:
    found = store.list_scripts(session, creator.id, LIST_PAGE, offset)
    last = run_history.last_runs(session, [s.id for s in found.items])
    rows = [
        {"script": s, "bot_url": settings.bot_url(s.name), "last_run": last.get(s.id)}
        for s in found.items
    ]
    return page(
        request,
        "scripts.html",
        rows=rows,
        total=found.total,
        offset=offset,
        page_size=LIST_PAGE,
    )


@router.get("/scripts/{name}")
def script_page(
    request: Request, name: str, creator: SignedIn, session: SessionDep, settings: SettingsDep
) -> Response:
    script = store.get_script(session, creator.id, name)
    version = store.current_version(session, script)
    versions = store.list_versions(session, script, VERSIONS_SHOWN, 0)
    runs = run_store.list_runs(session, script, RUNS_SHOWN, 0)
    bot_settings = version_settings(script, version)
    return page(
        request,
        "script.html",
        script=script,
        version=version,
        versions=versions,
        runs=runs,
        bot_url=settings.bot_url(script.name),
        settings_shown=bot_settings.model_dump(mode="json", exclude_none=True),
        unreachable=unreachable_reason(settings.base_url),
        listen_url=f"http://{settings.host}:{settings.port}",
        controls=console_controls(bot_settings.parameter_controls),
        allow_attachments=bool(bot_settings.allow_attachments),
    )


@router.get("/scripts/{name}/versions/{number}")
def version_page(
    request: Request,
    name: str,
    number: int,
    creator: SignedIn,
    session: SessionDep,
    against: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    script = store.get_script(session, creator.id, name)
    version = _version(session, script, number)
    base_number = against if against is not None else number - 1
    base = _version(session, script, base_number) if base_number >= 1 else None
    rows = diff_rows(base.source if base is not None else "", version.source)
    return page(
        request,
        "version.html",
        script=script,
        version=version,
        base=base,
        rows=rows,
        numbers=range(script.current_version, 0, -1),
    )


@router.post("/scripts/{name}/versions/{number}/restore")
async def restore(
    request: Request,
    name: str,
    number: int,
    creator_id: SignedInId,
    form: CheckedForm,
    database: DatabaseDep,
    settings: SettingsDep,
    orchestrator: OrchestratorDep,
) -> Response:
    if not 1 <= number < 2**31:
        raise NotFound(f"There is no version {number}.")
    try:
        restored = await api.restore_version(
            name=name,
            number=number,
            creator_id=creator_id,
            database=database,
            settings=settings,
            orchestrator=orchestrator,
        )
    except (SourceRejected, SourceTooLarge, SandboxBusy) as exc:
        # The policy tightened since that version was saved, or its settings no longer
        # read: say so, change nothing.
        return redirect(
            request, f"/scripts/{name}/versions/{number}", notice=f"Not restored: {exc}"
        )
    return redirect(
        request,
        f"/scripts/{restored.name}",
        notice=f"Version {number} restored as version {restored.version}.",
    )


@router.get("/scripts/{name}/delete")
def delete_form(request: Request, name: str, creator: SignedIn, session: SessionDep) -> Response:
    script = store.get_script(session, creator.id, name)
    return page(request, "delete.html", script=script)


@router.post("/scripts/{name}/delete")
def delete(
    request: Request, name: str, creator: SignedIn, form: CheckedForm, session: SessionDep
) -> Response:
    script = store.get_script(session, creator.id, name)
    deleted = script.name
    store.delete_script(session, script)
    return redirect(request, "/scripts", notice=f"Script {deleted} is deleted.")


def unreachable_reason(base_url: str) -> str | None:
    """Why Poe cannot reach bots at ``base_url`` (PUBLIC_URL), or None when it may."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return f"{host} is a name only this network knows"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if "." in host else f"{host} is not a public name"
    if address.is_loopback:
        return f"{host} is this machine's own (loopback) address"
    if address.is_private or address.is_link_local or address.is_reserved:
        return f"{host} is a private address"
    return None


def _version(session: SessionDep, script: Script, number: int) -> ScriptVersion:
    if not 1 <= number < 2**31:
        raise NotFound(f"Script {script.name!r} has no version {number}.")
    return store.get_version(session, script, number)
