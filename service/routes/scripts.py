"""/api/v1/scripts: create, list, read, change, delete scripts; their versions; restore.

Every route acts for the token's creator only: another creator's script is 404 (SPEC §4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Path, Response, status
from sqlalchemy.orm import Session

from service import audit
from service.bot_settings import stored_settings, version_settings
from service.errors import InvalidName
from service.names import check_name
from service.routes.deps import (
    CipherDep,
    CurrentCreator,
    CurrentCreatorId,
    DatabaseDep,
    OrchestratorDep,
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
    VersionHeader,
    VersionOut,
    VersionSummary,
)
from service.script_header import read_header
from service.security import AccessKeyCipher
from service.settings import Settings
from service.sources import CheckedSource
from service.store import scripts as store
from service.store.db import Database
from service.store.tables import Script, ScriptVersion

T = TypeVar("T")

MAX_BODY_BYTES = 8 * 1024 * 1024  # a 1 MiB source, even all \u-escaped, plus settings

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No, an unknown or a revoked API token."},
    404: {"model": ErrorOut, "description": "No such script (or not yours)."},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    413: {"model": ErrorOut, "description": "The source is over 1 MiB."},
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


def _header(version: ScriptVersion) -> VersionHeader:
    return VersionHeader(
        header={str(k): str(v) for k, v in version.header.items()},
        privacy_shield=version.privacy_shield,
        settings_from_source=version.settings,
    )


def _detail(script: Script, version: ScriptVersion, settings: Settings) -> ScriptOut:
    bot_settings = version_settings(script, version)
    return ScriptOut(
        **_summary(script, settings).model_dump(),
        **_header(version).model_dump(),
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


async def in_transaction(database: Database, function: Callable[[Session], T]) -> T:
    """``function(session)`` in one transaction of a worker thread. Saving reads settings in
    the sandbox first, outside any transaction: SQLite's write lock is never held meanwhile."""

    def call() -> T:
        with database.transaction() as session:
            return function(session)

    return await anyio.to_thread.run_sync(call)


def given_name(body: ScriptCreate) -> str:
    """The REST ``name``, else the source's ``# poe: name=`` header."""
    name = body.name or read_header(body.source).name
    if name is None:
        raise InvalidName("Give the script a name, or start its source with # poe: name=NAME.")
    return name


def new_script(
    session: Session,
    creator_id: int,
    body: ScriptCreate,
    checked: CheckedSource,
    settings: Settings,
    cipher: AccessKeyCipher,
) -> ScriptOut:
    """Store a new script from a checked source (the second half of ``create_script``)."""
    script, version = store.create_script(
        session,
        creator_id,
        given_name(body),
        checked,
        stored_settings(body.settings),
        cipher.encrypt(body.poe_access_key) if body.poe_access_key else None,
    )
    return _detail(script, version, settings)


def changed_script(
    session: Session,
    creator_id: int,
    name: str,
    body: ScriptUpdate,
    checked: CheckedSource | None,
    settings: Settings,
    cipher: AccessKeyCipher,
) -> ScriptOut:
    """Apply a PATCH, ``checked`` being its source when that is new (``update_script``)."""
    script = store.get_script(session, creator_id, name, lock=True)
    version = store.current_version(session, script)
    before = version_settings(script, version)
    changed = body.model_fields_set
    new = checked is not None and checked.source != version.source
    if checked is not None and new:
        version = store.add_version(session, script, checked)
    store.update_script(
        session,
        script,
        settings=stored_settings(body.settings) if "settings" in changed else None,
        access_key_encrypted=cipher.encrypt(body.poe_access_key) if body.poe_access_key else None,
        clear_access_key="poe_access_key" in changed and body.poe_access_key is None,
    )
    store.note_settings(script, before, version_settings(script, version))
    # The source counts as changed only when it made a version (an equal one makes none).
    fields = sorted(changed & {"settings", "poe_access_key"} | ({"source"} if new else set()))
    audit.record(
        session, creator_id, "script.changed", script.name, fields=fields, version=version.number
    )
    return _detail(script, version, settings)


def restored_script(
    session: Session,
    creator_id: int,
    name: str,
    checked: CheckedSource,
    settings: Settings,
    number: int | None = None,
) -> ScriptOut:
    """Store ``checked`` (version ``number``'s source, checked again) as the new version."""
    script = store.get_script(session, creator_id, name, lock=True)
    before = version_settings(script, store.current_version(session, script))
    version = store.add_version(session, script, checked)
    store.note_settings(script, before, version_settings(script, version))
    audit.record(
        session, creator_id, "script.restored", script.name, version=version.number, of=number
    )
    return _detail(script, version, settings)


def current_source(session: Session, creator_id: int, name: str) -> str:
    return store.current_version(session, store.get_script(session, creator_id, name)).source


def version_source(session: Session, creator_id: int, name: str, number: int) -> str:
    return store.get_version(session, store.get_script(session, creator_id, name), number).source


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses={**_WRITE_ERRORS, 409: {"model": ErrorOut}}
)
async def create_script(
    body: ScriptCreate,
    creator_id: CurrentCreatorId,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: CipherDep,
    orchestrator: OrchestratorDep,
) -> ScriptOut:
    """Create a script; its source becomes version 1. 409 when the name is taken. The name
    may come from a ``# poe: name=`` header; the settings the source's
    ``poe.update_settings`` sets (read in the sandbox, as Poe does) win over ``settings``."""
    name = check_name(given_name(body))
    checked = await orchestrator.checked_source(body.source, name, creator_id)
    return await in_transaction(
        database, lambda session: new_script(session, creator_id, body, checked, settings, cipher)
    )


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
async def update_script(
    name: NamePath,
    body: ScriptUpdate,
    creator_id: CurrentCreatorId,
    database: DatabaseDep,
    settings: SettingsDep,
    cipher: CipherDep,
    orchestrator: OrchestratorDep,
) -> ScriptOut:
    """Change any of source, access key, settings; a changed source is a new version (its
    settings read in the sandbox, as on create)."""
    checked = None
    if body.source is not None:
        current = await in_transaction(
            database, lambda session: current_source(session, creator_id, name)
        )
        if body.source != current:
            checked = await orchestrator.checked_source(body.source, name, creator_id)
    return await in_transaction(
        database,
        lambda session: changed_script(session, creator_id, name, body, checked, settings, cipher),
    )


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
    return VersionOut(
        **_version_summary(version).model_dump(),
        **_header(version).model_dump(),
        source=version.source,
    )


@router.post("/{name}/versions/{number}/restore", responses=_WRITE_ERRORS)
async def restore_version(
    name: NamePath,
    number: VersionPath,
    creator_id: CurrentCreatorId,
    database: DatabaseDep,
    settings: SettingsDep,
    orchestrator: OrchestratorDep,
) -> ScriptOut:
    """Make version ``number``'s source current again, as a new version."""
    source = await in_transaction(
        database, lambda session: version_source(session, creator_id, name, number)
    )
    # Checked again, settings read again: the policy may have tightened since it was saved.
    checked = await orchestrator.checked_source(source, name, creator_id)
    return await in_transaction(
        database,
        lambda session: restored_script(session, creator_id, name, checked, settings, number),
    )
