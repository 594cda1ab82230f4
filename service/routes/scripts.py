"""/api/v1/scripts: create, list, read, change, delete scripts; their versions; restore.

Every route acts for the token's creator only: another creator's script is 404 (SPEC §4).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from service.bot_settings import effective_settings, stored_settings
from service.routes.deps import (
    CipherDep,
    CurrentCreator,
    PaginationDep,
    SessionDep,
    SettingsDep,
)
from service.routes.schemas import (
    CompileErrorOut,
    ErrorOut,
    Page,
    ScriptCreate,
    ScriptOut,
    ScriptSummary,
    ScriptUpdate,
    VersionOut,
    VersionSummary,
)
from service.settings import Settings
from service.sources import check_script_source
from service.store import scripts as store
from service.store.tables import Script, ScriptVersion

MAX_BODY_BYTES = 2 * 1024 * 1024  # a 256 KiB source, even fully \u-escaped, plus settings

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."},
    404: {"model": ErrorOut, "description": "No such script (or not yours)."},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    413: {"model": ErrorOut, "description": "The source is over 256 KiB."},
    422: {"model": CompileErrorOut, "description": "Invalid input, or compile errors."},
}

router = APIRouter(prefix="/api/v1/scripts", tags=["scripts"], responses=_ERRORS)

NamePath = Annotated[str, Path(description="The script's name (any case).")]
VersionPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="A version number.")]


def _summary(script: Script, settings: Settings) -> ScriptSummary:
    return ScriptSummary(
        name=script.name,
        version=script.current_version,
        bot_url=settings.bot_url(script.name),
        has_access_key=script.access_key_encrypted is not None,
        created_at=script.created_at,
        updated_at=script.updated_at,
    )


def _detail(script: Script, version: ScriptVersion, settings: Settings) -> ScriptOut:
    bot_settings = effective_settings(script.settings, version.bot_dependencies)
    return ScriptOut(
        **_summary(script, settings).model_dump(),
        source=version.source,
        settings=bot_settings.model_dump(mode="json", exclude_unset=True),
    )


def _version_summary(version: ScriptVersion) -> VersionSummary:
    return VersionSummary(
        number=version.number,
        sha256=version.sha256,
        size=version.size,
        created_at=version.created_at,
    )


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**_WRITE_ERRORS, 409: {"model": ErrorOut}}
)
def create_script(
    body: ScriptCreate,
    creator: CurrentCreator,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> ScriptOut:
    """Create a script; its source becomes version 1. 409 when the name is taken."""
    source = check_script_source(body.source)
    script, version = store.create_script(
        session,
        creator.id,
        body.name,
        source,
        stored_settings(body.settings),
        cipher.encrypt(body.poe_access_key) if body.poe_access_key else None,
    )
    return _detail(script, version, settings)


@router.get("")
def list_scripts(
    creator: CurrentCreator, session: SessionDep, settings: SettingsDep, page: PaginationDep
) -> Page[ScriptSummary]:
    """Your scripts, by name."""
    found = store.list_scripts(session, creator.id, page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, lambda s: _summary(s, settings))


@router.get("/{name}")
def get_script(
    name: NamePath, creator: CurrentCreator, session: SessionDep, settings: SettingsDep
) -> ScriptOut:
    script = store.get_script(session, creator.id, name)
    return _detail(script, store.current_version(session, script), settings)


@router.patch("/{name}", responses=_WRITE_ERRORS)
def update_script(
    name: NamePath,
    body: ScriptUpdate,
    creator: CurrentCreator,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
) -> ScriptOut:
    """Change any of source, access key, settings; a changed source is a new version."""
    script = store.get_script(session, creator.id, name, lock=True)
    version = store.current_version(session, script)
    changed = body.model_fields_set
    if "source" in changed and body.source is not None and body.source != version.source:
        version = store.add_version(session, script, check_script_source(body.source))
    store.update_script(
        session,
        script,
        settings=stored_settings(body.settings) if "settings" in changed else None,
        access_key_encrypted=cipher.encrypt(body.poe_access_key) if body.poe_access_key else None,
        clear_access_key="poe_access_key" in changed and body.poe_access_key is None,
    )
    return _detail(script, version, settings)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_script(name: NamePath, creator: CurrentCreator, session: SessionDep) -> Response:
    """Delete the script with its versions, runs and reports; its bot URL answers 404."""
    store.delete_script(session, store.get_script(session, creator.id, name))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{name}/versions")
def list_versions(
    name: NamePath, creator: CurrentCreator, session: SessionDep, page: PaginationDep
) -> Page[VersionSummary]:
    """The script's versions, newest first."""
    script = store.get_script(session, creator.id, name)
    found = store.list_versions(session, script, page.limit, page.offset)
    return Page.of(found, page.limit, page.offset, _version_summary)


@router.get("/{name}/versions/{number}")
def get_version(
    name: NamePath, number: VersionPath, creator: CurrentCreator, session: SessionDep
) -> VersionOut:
    version = store.get_version(session, store.get_script(session, creator.id, name), number)
    return VersionOut(**_version_summary(version).model_dump(), source=version.source)


@router.post("/{name}/versions/{number}/restore", responses=_WRITE_ERRORS)
def restore_version(
    name: NamePath,
    number: VersionPath,
    creator: CurrentCreator,
    session: SessionDep,
    settings: SettingsDep,
) -> ScriptOut:
    """Make version ``number``'s source current again, as a new version."""
    script = store.get_script(session, creator.id, name, lock=True)
    old = store.get_version(session, script, number)
    # Checked again: the sandbox policy may have tightened since that version was saved.
    version = store.add_version(session, script, check_script_source(old.source))
    return _detail(script, version, settings)
