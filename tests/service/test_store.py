"""The store on both databases: lookups, cascades, aware UTC times, the run tables."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text

from service.errors import NameTaken, NotFound
from service.sources import check_script_source
from service.store import scripts as store
from service.store.creators import create_creator, creator_for_token, get_creator
from service.store.db import Database
from service.store.tables import Report, Run, RunEvent, ScriptVersion
from tests.conftest import CreatorInfo, unique_name


def _script(db: Database, owner: CreatorInfo, name: str | None = None) -> str:
    name = name or unique_name()
    with db.transaction() as session:
        store.create_script(session, owner.id, name, check_script_source("x = 1"), {}, None)
    return name


def test_find_script_ignores_case_and_owner(db: Database, creator: CreatorInfo) -> None:
    name = _script(db, creator)
    with db.transaction() as session:
        found = store.find_script(session, name.upper())
        assert found is not None and found.name == name
        assert store.find_script(session, "no such\x00name") is None
        assert store.find_script(session, unique_name()) is None


def test_get_script_is_scoped_by_creator(
    db: Database, creator: CreatorInfo, make_creator: Callable[..., CreatorInfo]
) -> None:
    name = _script(db, creator)
    other = make_creator()
    with db.transaction() as session, pytest.raises(NotFound):
        store.get_script(session, other.id, name)


def test_creator_names_are_unique_ignoring_case(db: Database) -> None:
    name = unique_name("c")
    with db.transaction() as session:
        create_creator(session, name)
    with pytest.raises(NameTaken), db.transaction() as session:
        create_creator(session, name.upper())
    with db.transaction() as session:
        assert get_creator(session, name.upper()).name == name
        assert creator_for_token(session, "sb_unknown") is None


def test_times_are_aware_utc(db: Database, creator: CreatorInfo) -> None:
    name = _script(db, creator)
    with db.transaction() as session:
        script = store.get_script(session, creator.id, name)
        session.expire(script)  # read back from the database, not the Python object
        assert script.created_at.tzinfo is not None
        assert script.created_at.utcoffset() == UTC.utcoffset(None)
        assert abs((datetime.now(UTC) - script.created_at).total_seconds()) < 60


def test_deleting_a_script_deletes_its_versions_runs_events_and_reports(
    db: Database, creator: CreatorInfo
) -> None:
    name = _script(db, creator)
    run_id = uuid.uuid4()
    with db.transaction() as session:
        script = store.get_script(session, creator.id, name)
        script_id = script.id
        session.add(Run(id=run_id, script_id=script.id, version=1, trigger="poe", status="ok"))
        session.flush()
        session.add(RunEvent(run_id=run_id, seq=0, type="text", data={"text": "hi"}))
        session.add(Report(script_id=script.id, run_id=run_id, kind="feedback", data={"a": 1}))
    with db.transaction() as session:
        assert session.get(Run, run_id) is not None
        store.delete_script(session, store.get_script(session, creator.id, name))
    with db.transaction() as session:
        for table, where in (
            (ScriptVersion, ScriptVersion.script_id == script_id),
            (Run, Run.script_id == script_id),
            (RunEvent, RunEvent.run_id == run_id),
            (Report, Report.script_id == script_id),
        ):
            count = session.scalar(select(func.count()).select_from(table).where(where))
            assert count == 0, table.__tablename__


def test_only_the_query_paths_writes_skip_the_wait_for_the_disk(db: Database) -> None:
    """On PostgreSQL the run rows commit without waiting for the WAL flush; accounts and
    scripts (``transaction``) still wait. SQLite's WAL at NORMAL is the same for both."""
    if db.engine.dialect.name != "postgresql":
        with db.connection() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        return
    setting = text("SELECT current_setting('synchronous_commit')")
    with db.connection() as connection:
        assert connection.execute(setting).scalar() == "off"
    with db.transaction() as session:
        assert session.execute(setting).scalar() == "on"
    with db.reading() as connection:
        assert connection.execute(setting).scalar() == "on"
    with db.connection() as connection:  # the pool's next user of the same connection
        assert connection.execute(setting).scalar() == "off"
    with db.engine.connect() as connection:
        assert connection.execute(setting).scalar() == "on"
