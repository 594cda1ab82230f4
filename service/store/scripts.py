"""Scripts and their versions. Every query is scoped by the creator who owns the script,
except :func:`find_script`, which serves the public bot URL."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service import audit
from service.errors import NameTaken, NotFound
from service.names import check_name, is_valid_name, name_key
from service.sources import CheckedSource
from service.store.listing import Listing, list_page
from service.store.tables import Creator, Script, ScriptSecret, ScriptVersion, utcnow


def create_script(
    session: Session,
    creator_id: int,
    name: str,
    source: CheckedSource,
    settings: dict[str, Any],
    access_key_encrypted: str | None,
) -> tuple[Script, ScriptVersion]:
    """A new script with its version 1; NameTaken when the name is in use in any case."""
    script = Script(
        creator_id=creator_id,
        name=check_name(name),
        name_key=name_key(name),
        settings=settings,
        access_key_encrypted=access_key_encrypted,
        current_version=1,
    )
    session.add(script)
    try:
        session.flush()  # the unique constraint decides between racing creators
    except IntegrityError as exc:
        raise NameTaken(name) from exc
    version = _new_version(script, 1, source)
    session.add(version)
    session.flush()
    audit.record(session, creator_id, "script.created", script.name, version=1)
    return script, version


def find_script(session: Session, name: str) -> Script | None:
    """The script named ``name`` (any case), whoever owns it: for the public bot URL."""
    if not is_valid_name(name):
        return None
    return session.scalar(select(Script).where(Script.name_key == name_key(name)))


def get_script(session: Session, creator_id: int, name: str, *, lock: bool = False) -> Script:
    """``creator_id``'s script ``name``; NotFound when absent or someone else's."""
    script = find_script(session, name)
    if script is None or script.creator_id != creator_id:
        raise NotFound(f"You have no script named {name[:60]!r}.")
    if lock:  # one writer at a time per script, so version numbers never collide
        session.refresh(script, with_for_update=True)
    return script


def list_scripts(session: Session, creator_id: int, limit: int, offset: int) -> Listing:
    where = Script.creator_id == creator_id
    return list_page(session, Script, where, (Script.name_key,), limit, offset)


def get_version(session: Session, script: Script, number: int) -> ScriptVersion:
    version = session.scalar(
        select(ScriptVersion).where(
            ScriptVersion.script_id == script.id, ScriptVersion.number == number
        )
    )
    if version is None:
        raise NotFound(f"Script {script.name!r} has no version {number}.")
    return version


def current_version(session: Session, script: Script) -> ScriptVersion:
    return get_version(session, script, script.current_version)


def list_versions(session: Session, script: Script, limit: int, offset: int) -> Listing:
    where = ScriptVersion.script_id == script.id
    return list_page(session, ScriptVersion, where, (ScriptVersion.number.desc(),), limit, offset)


def add_version(session: Session, script: Script, source: CheckedSource) -> ScriptVersion:
    """Make ``source`` the script's current source, as a new version (call with a lock)."""
    version = _new_version(script, script.current_version + 1, source)
    session.add(version)
    script.current_version = version.number
    script.updated_at = utcnow()
    session.flush()
    return version


def update_script(
    session: Session,
    script: Script,
    *,
    settings: dict[str, Any] | None = None,
    access_key_encrypted: str | None = None,
    clear_access_key: bool = False,
) -> None:
    if settings is not None:
        script.settings = settings
    if clear_access_key:
        script.access_key_encrypted = None
    elif access_key_encrypted is not None:
        script.access_key_encrypted = access_key_encrypted
    script.updated_at = utcnow()
    session.flush()


def note_settings(script: Script, before: Any, after: Any) -> None:
    """The effective settings went from ``before`` to ``after``: if they differ, the next
    query tells Poe to fetch them again (``refetch_settings``)."""
    if before != after:
        script.refetch_settings = True


def settings_refetched(session: Session | Connection, script_id: int) -> None:
    """Poe was told to fetch the settings (or fetched them): nothing to tell any more."""
    session.execute(
        update(Script)
        .where(Script.id == script_id, Script.refetch_settings.is_(True))
        .values(refetch_settings=False)
    )


def delete_script(session: Session, script: Script) -> None:
    """Delete the script; versions, runs, events and reports go with it (ON DELETE CASCADE)."""
    session.execute(delete(Script).where(Script.id == script.id))
    session.expunge(script)
    audit.record(session, script.creator_id, "script.deleted", script.name)


def _new_version(script: Script, number: int, source: CheckedSource) -> ScriptVersion:
    return ScriptVersion(
        script_id=script.id,
        number=number,
        source=source.source,
        sha256=hashlib.sha256(source.source.encode()).hexdigest(),
        size=source.size,
        bot_dependencies=source.bot_dependencies,
        dynamic_bot_calls=source.dynamic_bot_calls,
        settings=source.settings,
        header=dict(source.header.values),
        privacy_shield=source.header.privacy_shield,
    )


# -- the query path (SQLAlchemy Core: one statement, no ORM objects) -----------------------

_scripts, _versions = Script.__table__, ScriptVersion.__table__
AnyRow = Row[*tuple[Any, ...]]  # any columns: SQLAlchemy 2.1's Row is variadic

_BOT = (
    select(
        _scripts.c.id,
        _scripts.c.name,
        _scripts.c.creator_id,
        _scripts.c.settings,
        _scripts.c.access_key_encrypted,
        _scripts.c.refetch_settings,
        _versions.c.number.label("version"),
        _versions.c.source,
        _versions.c.bot_dependencies,
        _versions.c.settings.label("extracted_settings"),
        _versions.c.dynamic_bot_calls,
        _versions.c.privacy_shield,
        _versions.c.header,
        Creator.__table__.c.name.label("creator_name"),
        exists()
        .where(ScriptSecret.__table__.c.script_id == _scripts.c.id)
        .label("has_secrets"),  # spares the query a second SELECT when there are none
    )
    .select_from(
        _scripts.join(
            _versions,
            (_versions.c.script_id == _scripts.c.id)
            & (_versions.c.number == _scripts.c.current_version),
        ).join(Creator.__table__, Creator.__table__.c.id == _scripts.c.creator_id)
    )
    .where(_scripts.c.name_key == bindparam("name_key"))
)


def current_bot_row(connection: Connection, name: str) -> AnyRow | None:
    """The script named ``name`` (any case, any owner) at its current version, with its
    creator's name, or None: what a run of it needs, in one SELECT."""
    if not is_valid_name(name):
        return None
    return connection.execute(_BOT, {"name_key": name_key(name)}).first()
